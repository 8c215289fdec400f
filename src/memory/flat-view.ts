/**
 * Flat views (QEMU's `FlatView`): the disjoint, sorted ranges an address space resolves to, each
 * owned by one terminating region.
 */
import type { MemoryRegion } from "./region.ts";

/** One range of a flat view (QEMU's `FlatRange`). `end` is exclusive and may be 2^64. */
export interface FlatRange {
  readonly start: bigint;
  readonly end: bigint;
  /** The terminating region that handles the range (never an alias or a pure container). */
  readonly mr: MemoryRegion;
  /** Offset of `start` within `mr`. */
  readonly offsetInRegion: bigint;
  /** Inherited from any read-only alias or container on the way down. */
  readonly readonly: boolean;
  readonly nonvolatile: boolean;
  readonly romdMode: boolean;
  readonly dirtyLogMask: number;
}

/** QEMU's `flatrange_equal`: everything but the dirty-log mask. */
export function flatRangeEqual(a: FlatRange, b: FlatRange): boolean {
  return (
    a.mr === b.mr &&
    a.start === b.start &&
    a.end === b.end &&
    a.offsetInRegion === b.offsetInRegion &&
    a.romdMode === b.romdMode &&
    a.readonly === b.readonly &&
    a.nonvolatile === b.nonvolatile
  );
}

const EXACT_LIMIT = 1n << 53n;
const EXACT_LIMIT_N = 2 ** 53;

/** A rendered flat view. `root` is the region it was rendered from (null: the empty view). */
export class FlatView {
  readonly root: MemoryRegion | null;
  readonly ranges: readonly FlatRange[];
  /** Range starts and ends as doubles, for the binary search (see `indexOf`). */
  readonly #starts: Float64Array;
  readonly #ends: Float64Array;
  /** Every start and end is below 2^53, so the doubles are exact. */
  readonly #exact: boolean;

  constructor(root: MemoryRegion | null, ranges: readonly FlatRange[]) {
    this.root = root;
    this.ranges = ranges;
    this.#starts = new Float64Array(ranges.length);
    this.#ends = new Float64Array(ranges.length);
    let exact = true;
    for (let i = 0; i < ranges.length; i++) {
      this.#starts[i] = Number(ranges[i].start);
      this.#ends[i] = Number(ranges[i].end);
      if (ranges[i].end > EXACT_LIMIT) exact = false;
    }
    this.#exact = exact;
  }

  /** The range containing `addr`, or undefined in a gap. */
  lookup(addr: bigint): FlatRange | undefined {
    const i = this.indexOf(addr);
    return i < 0 ? undefined : this.ranges[i];
  }

  /**
   * Index of the range containing `addr`, or -1. The search runs on doubles (rounded starts
   * narrow the candidates to a neighbourhood) and then settles exactly on bigints, so it is exact
   * for every 64-bit address.
   */
  indexOf(addr: bigint): number {
    const starts = this.#starts;
    const key = Number(addr);
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= key) lo = mid + 1;
      else hi = mid;
    }
    // Below 2^53 everything is exact: done in doubles.
    if (this.#exact && key < EXACT_LIMIT_N) {
      const i = lo - 1;
      return i >= 0 && key < this.#ends[i] ? i : -1;
    }
    // Rounding can put us a few ranges off near 2^53 and above; settle with exact compares.
    let i = lo - 1;
    while (i + 1 < this.ranges.length && this.ranges[i + 1].start <= addr) i++;
    while (i >= 0 && this.ranges[i].start > addr) i--;
    if (i < 0 || addr >= this.ranges[i].end) return -1;
    return i;
  }

  /** Index of the first range that ends after `addr` (ranges.length if none). */
  firstEndingAfter(addr: bigint): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ranges[mid].end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The view shared by every address space whose flat root is null. */
export const EMPTY_FLAT_VIEW = new FlatView(null, []);
