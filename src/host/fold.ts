/**
 * Folding repeated report lines: a block of up to four lines that comes again right after itself
 * is kept once, followed by one line saying how many more times it came. QEMU 2016's replay
 * notifies a 16 MiB TCE 4096 times (once per 4 KiB step), each with the same ioctls and log
 * lines; the model makes every call, the report says it once.
 */

/** The line that stands for `times` more repeats of the `lines` lines above it. */
export function repeatLine(lines: number, times: number): string {
  return `… the ${lines === 1 ? "line" : `${lines} lines`} above ${times} more time${times === 1 ? "" : "s"}`;
}

/** Whether a report line is a fold marker rather than something QEMU or the kernel said. */
export function isRepeatLine(line: string): boolean {
  return /^… the (?:line|\d+ lines) above \d+ more times?$/.test(line);
}

/** Collects lines as they come, folding repeats on the way (memory follows what differs). */
export class RepeatFolder {
  readonly lines: string[] = [];
  /** Index in `lines` of the first line that may start a new block (after the last marker). */
  #floor = 0;
  /** The block being repeated: its first line's index, its length, and where the next line is. */
  #block: { start: number; period: number; at: number; times: number } | undefined;

  push(line: string): void {
    const lines = this.lines;
    const block = this.#block;
    if (block) {
      if (line === lines[block.start + block.at]) {
        block.at++;
        if (block.at === block.period) {
          block.at = 0;
          block.times++;
          lines[block.start + block.period] = repeatLine(block.period, block.times);
        }
        return;
      }
      // A partial repeat ends the fold: its lines were said, so say them.
      const partial = lines.slice(block.start, block.start + block.at);
      this.#block = undefined;
      this.#floor = lines.length;
      for (const l of partial) this.push(l);
      this.push(line);
      return;
    }
    lines.push(line);
    for (let p = 1; p <= 4; p++) {
      const start = lines.length - 2 * p;
      if (start < this.#floor) break;
      let same = true;
      for (let k = 0; k < p && same; k++) same = lines[start + k] === lines[start + p + k];
      if (!same) continue;
      lines.length = start + p;
      lines.push(repeatLine(p, 1));
      this.#block = { start, period: p, at: 0, times: 1 };
      return;
    }
  }

  /** Ends any fold: the next line starts afresh (a new step). */
  break(): void {
    if (this.#block && this.#block.at > 0) {
      const partial = this.lines.slice(this.#block.start, this.#block.start + this.#block.at);
      this.#block = undefined;
      this.#floor = this.lines.length;
      for (const l of partial) this.push(l);
    }
    this.#block = undefined;
    this.#floor = this.lines.length;
  }
}

/** `lines` with repeats folded. */
export function foldRepeats(lines: Iterable<string>): string[] {
  const folder = new RepeatFolder();
  for (const l of lines) folder.push(l);
  folder.break();
  return folder.lines;
}
