/**
 * Reading a QEMU trace log (the `log` backend's lines, written with `-D FILE`): each line is an
 * event name and its arguments, optionally prefixed `PID@SECONDS.MICROS:` (`-msg timestamp=on`).
 * Known events are parsed by their format; unknown ones are counted and skipped; anything else is a
 * `TraceSyntaxError` with the line. One pass over each line, no backtracking; input is taken in
 * chunks so a log of any size streams through in constant memory per line.
 */

import type { TraceEventDef } from "./event-def.ts";
import { matchFormat } from "./format.ts";
import { type TraceRecord, TraceSyntaxError } from "./record.ts";

const isNameChar = (c: number) =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
const isDigit = (c: number) => c >= 48 && c <= 57;

/** Whether a line is empty or only white space (as `trim() === ""`, without a copy). */
function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    // trim()'s white space: ASCII blanks, NBSP, BOM and the other Unicode spaces.
    if (!(c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0xfeff || c > 0x1000))
      return false;
    if (c > 0x1000 && line[i].trim() !== "") return false;
  }
  return true;
}

/** Where the event name starts: after an optional `PID@SECONDS.MICROS:` prefix. */
function nameStart(line: string): number {
  let p = 0;
  while (p < line.length && isDigit(line.charCodeAt(p))) p++;
  if (p === 0 || line[p] !== "@") return 0;
  p++;
  const secondsFrom = p;
  while (p < line.length && isDigit(line.charCodeAt(p))) p++;
  if (p === secondsFrom || line[p] !== ".") throw new TraceSyntaxError(0, p, "PID@SECONDS.MICROS:");
  p++;
  const microsFrom = p;
  while (p < line.length && isDigit(line.charCodeAt(p))) p++;
  if (p === microsFrom || line[p] !== ":") throw new TraceSyntaxError(0, p, "PID@SECONDS.MICROS:");
  return p + 1;
}

/** Reads log lines against an event table. */
export class TraceReader {
  /** Unknown events and how often each was skipped. */
  readonly unknown = new Map<string, number>();
  /** Lines read so far. */
  lines = 0;
  #partial = "";

  constructor(
    private readonly events: ReadonlyMap<string, TraceEventDef>,
    private readonly onRecord: (record: TraceRecord, def: TraceEventDef) => void,
  ) {}

  /** Feeds a chunk of the log (any split; lines are joined across chunks). */
  push(chunk: string): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf("\n", from);
      if (nl < 0) break;
      const piece = chunk.slice(from, nl);
      const line = this.#partial ? this.#partial + piece : piece;
      this.#partial = "";
      this.#line(line);
      from = nl + 1;
    }
    if (from < chunk.length) this.#partial += chunk.slice(from);
  }

  /** Ends the log: a last line without its newline is read too. */
  end(): void {
    if (this.#partial) {
      const line = this.#partial;
      this.#partial = "";
      this.#line(line);
    }
  }

  #line(raw: string): void {
    const n = ++this.lines;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (isBlank(line)) return;
    let start: number;
    try {
      start = nameStart(line);
    } catch (e) {
      throw new TraceSyntaxError(
        n,
        (e as TraceSyntaxError).column + 1,
        (e as TraceSyntaxError).expected,
      );
    }
    let p = start;
    while (p < line.length && isNameChar(line.charCodeAt(p))) p++;
    if (p === start) throw new TraceSyntaxError(n, p + 1, "an event name");
    if (p < line.length && line[p] !== " ")
      throw new TraceSyntaxError(n, p + 1, "a space after the event name");
    const name = line.slice(start, p);
    const def = this.events.get(name);
    if (!def) {
      this.unknown.set(name, (this.unknown.get(name) ?? 0) + 1);
      return;
    }
    const m = matchFormat(def.format, line, p < line.length ? p + 1 : p);
    if ("expected" in m)
      throw new TraceSyntaxError(
        n,
        m.at + 1,
        `${m.expected} in ${name} (format "${def.format.text}")`,
      );
    this.onRecord({ line: n, name, values: m.values }, def);
  }
}
