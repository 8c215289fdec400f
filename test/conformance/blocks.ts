/**
 * Compares `info mtree` outputs the way QEMU's nondeterminism allows: as multisets of blocks
 * (split at empty lines, CR removed, `FlatView #N` header lines dropped); inside a block, exact.
 */

/** Splits `info mtree` text into blocks. */
export function mtreeBlocks(text: string): string[] {
  const lines = text.replace(/\r/g, "").split("\n");
  const blocks: string[] = [];
  let current: string[] = [];
  for (const line of lines) {
    if (line === "") {
      if (current.length) blocks.push(current.join("\n"));
      current = [];
    } else if (!/^FlatView #\d+$/.test(line)) {
      current.push(line);
    }
  }
  if (current.length) blocks.push(current.join("\n"));
  return blocks;
}

/** Blocks of `expected` that `actual` lacks, and blocks `actual` has in excess. */
export function blockDifference(
  expected: string,
  actual: string,
): { missing: string[]; extra: string[] } {
  const counts = new Map<string, number>();
  for (const b of mtreeBlocks(expected)) counts.set(b, (counts.get(b) ?? 0) + 1);
  const extra: string[] = [];
  for (const b of mtreeBlocks(actual)) {
    const n = counts.get(b) ?? 0;
    if (n > 0) counts.set(b, n - 1);
    else extra.push(b);
  }
  const missing = [...counts].flatMap(([b, n]) => Array<string>(n).fill(b));
  return { missing, extra };
}
