/**
 * A sorted list of disjoint ranges kept in blocks of bounded length, so that inserting into the
 * middle costs O(block) rather than O(n): rendering inserts pieces in priority order, not address
 * order, and a flat array would make a render of n regions quadratic.
 */

/** What the list holds: half-open [start, end) ranges. */
export interface Extent {
  readonly start: bigint;
  readonly end: bigint;
}

const MAX_BLOCK = 512;

/** A position in the list: block index and index within the block. */
export interface Cursor {
  block: number;
  index: number;
}

/** Sorted, disjoint ranges in blocks. */
export class RangeList<T extends Extent> {
  readonly #blocks: T[][] = [[]];

  /** The first range whose end is above `addr` (or the end of the list). */
  firstEndingAfter(addr: bigint): Cursor {
    const blocks = this.#blocks;
    let lo = 0;
    let hi = blocks.length - 1;
    // The last block whose last range ends after addr, or the final block.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const b = blocks[mid];
      if (b.length > 0 && b[b.length - 1].end > addr) hi = mid;
      else lo = mid + 1;
    }
    const block = blocks[lo];
    let i = 0;
    let j = block.length;
    while (i < j) {
      const mid = (i + j) >>> 1;
      if (block[mid].end <= addr) i = mid + 1;
      else j = mid;
    }
    return { block: lo, index: i };
  }

  /** The range at `c`, or undefined at the end. Normalises a cursor past a block's end. */
  at(c: Cursor): T | undefined {
    while (c.index >= this.#blocks[c.block].length && c.block < this.#blocks.length - 1) {
      c.block++;
      c.index = 0;
    }
    return this.#blocks[c.block][c.index];
  }

  /** Inserts `item` before `c` and moves `c` to the element after it. */
  insertBefore(c: Cursor, item: T): void {
    const block = this.#blocks[c.block];
    block.splice(c.index, 0, item);
    c.index++;
    if (block.length > MAX_BLOCK) {
      const half = block.length >>> 1;
      const tail = block.splice(half);
      this.#blocks.splice(c.block + 1, 0, tail);
      if (c.index >= half) {
        c.block++;
        c.index -= half;
      }
    }
  }

  /** Moves `c` one range on. */
  advance(c: Cursor): void {
    c.index++;
  }

  /** All ranges in order. */
  toArray(): T[] {
    return this.#blocks.flat();
  }
}
