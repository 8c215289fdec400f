/**
 * A sparse table of 64-bit IOMMU entries indexed by page number, kept the way multi-level TCE
 * tables are: leaves of 512 entries, allocated on first write and freed when they empty again,
 * so a walk visits only populated leaves, in order.
 *
 * A leaf holding few entries keeps them as a short list; once it holds 32 it becomes dense, a
 * 4 KiB block of a 64 KiB slab shared with 15 other leaves (allocating typed arrays one leaf at
 * a time dominated a 10^6-entry replay). Memory so stays near what is mapped however the entries
 * are spread (a dense leaf holds at least 32 of its 512), while runs of entries are read and
 * written in place. A table keeps its emptied blocks for reuse until it is cleared.
 *
 * A range filled with one value (H_STUFF_TCE) is kept as a run, whatever its length: a 2^31-entry
 * fill costs one record, not 2^31 entries. Runs and single entries never overlap; writing into a
 * run splits it.
 *
 * An entry of 0 is empty (a zero TCE maps nothing); any other value is kept as written, modulo
 * 2^64 as the hardware's 64-bit entries are.
 */
import { U64_MAX } from "../memory/int.ts";

const LEAF_SHIFT = 9;
const LEAF_SIZE = 1 << LEAF_SHIFT;
const LEAF_MASK = LEAF_SIZE - 1;
/** Entries at which a leaf turns dense. */
const DENSE_AT = LEAF_SIZE / 16;
/** Dense leaves in a table's first slab; each new slab holds twice as many, up to MAX_SLAB_LEAVES. */
const SLAB_LEAVES = 16;
/** 1 MiB: a 2^24-entry table allocates 128 slabs, not 2048 (each a zeroed ArrayBuffer). */
const MAX_SLAB_LEAVES = 256;
/** Which 32-bit half of a 64-bit entry is its low word (the host's byte order). */
const LO = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;

/**
 * Storage for dense leaves; `halves` views it as signed 32-bit words, so that zero tests and
 * bulk reads and writes allocate nothing (int32 values stay small integers in V8, where uint32
 * ones above 2^31 become heap numbers in loops that carry them).
 */
interface Slab {
  readonly values: BigUint64Array;
  readonly halves: Int32Array;
}

/** A dense leaf's block: entries [at, at + 512) of a slab. */
interface Block {
  readonly slab: Slab;
  readonly at: number;
}

interface Leaf {
  /** Non-zero entries in this leaf. */
  count: number;
  /** Dense form: where the leaf's 512 entries live. */
  block: Block | undefined;
  /** Short-list form (while `block` is undefined): slots, ascending, and their entries. */
  readonly slots: number[];
  readonly entries: bigint[];
}

/** Entries [start, end) all holding `value` (non-zero). */
interface Run {
  readonly start: number;
  readonly end: number;
  readonly value: bigint;
}

/**
 * Told of each dropped entry, or of `count` consecutive ones from `index`, each `step` more than
 * the one before: 0n for a run of equal ones (a filled range), the `dropStep` a caller of
 * `clearRange` asked for for a series.
 */
export type DropListener = (index: number, value: bigint, count: number, step: bigint) => void;

export class EntryTable {
  readonly #leaves = new Map<number, Leaf>();
  /** Filled ranges, ascending, disjoint, none overlapping an entry of a leaf. */
  #runs: Run[] = [];
  /** Entries held by runs. */
  #runEntries = 0;
  readonly #freeBlocks: Block[] = [];
  #size = 0;
  #slabs = 0;
  // Accesses come in runs (replay, H_PUT_TCE_INDIRECT, a multi-page MAP_DMA): remember the leaf.
  #lastKey = -1;
  #lastLeaf: Leaf | undefined;

  /** Non-zero entries. */
  get size(): number {
    return this.#size + this.#runEntries;
  }

  /** Records kept: leaves plus runs (what the table costs, whatever its entries). */
  get records(): number {
    return this.#leaves.size + this.#runs.length;
  }

  /** The index in `#runs` of the run holding `index`, or -1. */
  #runAt(index: number): number {
    const runs = this.#runs;
    let lo = 0;
    let hi = runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = runs[mid];
      if (index < r.start) hi = mid - 1;
      else if (index >= r.end) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** The first run ending after `index` (runs.length if none). */
  #firstRunAfter(index: number): number {
    const runs = this.#runs;
    let lo = 0;
    let hi = runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (runs[mid].end <= index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Takes [first, end) out of the runs; returns the pieces taken, ascending. Runs that straddle
   * an edge keep their part outside.
   */
  #cutRuns(first: number, end: number): Run[] {
    const runs = this.#runs;
    if (runs.length === 0) return [];
    const from = this.#firstRunAfter(first);
    let to = from;
    while (to < runs.length && runs[to].start < end) to++;
    if (from === to) return [];
    const taken: Run[] = [];
    const kept: Run[] = [];
    for (let k = from; k < to; k++) {
      const r = runs[k];
      if (r.start < first) kept.push({ start: r.start, end: first, value: r.value });
      const a = Math.max(r.start, first);
      const b = Math.min(r.end, end);
      taken.push({ start: a, end: b, value: r.value });
      this.#runEntries -= b - a;
      if (r.end > end) kept.push({ start: end, end: r.end, value: r.value });
    }
    runs.splice(from, to - from, ...kept);
    return taken;
  }

  /**
   * Stores `value` (modulo 2^64) in entries [first, first + count) as one run; 0 empties them.
   * Costs the leaves and runs the range covers, not its length.
   */
  fillRange(first: number, count: number, value: bigint): void {
    if (count <= 0) return;
    if (value < 0n || value > U64_MAX) value = BigInt.asUintN(64, value);
    this.clearRange(first, count);
    if (value === 0n) return;
    const end = first + count;
    const runs = this.#runs;
    const at = this.#firstRunAfter(first);
    let start = first;
    let stop = end;
    let from = at;
    let to = at;
    // Join equal neighbours that touch, so runs stay maximal.
    if (at > 0 && runs[at - 1].end === first && runs[at - 1].value === value) {
      start = runs[at - 1].start;
      from = at - 1;
    }
    if (at < runs.length && runs[at].start === end && runs[at].value === value) {
      stop = runs[at].end;
      to = at + 1;
    }
    runs.splice(from, to - from, { start, end: stop, value });
    this.#runEntries += count;
  }

  /** What the table holds in memory: leaves, and slabs allocated for dense ones (the first 64 KiB, each next twice the one before, up to 1 MiB). */
  get storage(): { readonly leaves: number; readonly slabs: number } {
    return { leaves: this.#leaves.size, slabs: this.#slabs };
  }

  /** The leaf for `key`, if it exists (an absent one is remembered too: a write follows). */
  #leaf(key: number): Leaf | undefined {
    if (key === this.#lastKey) return this.#lastLeaf;
    const leaf = this.#leaves.get(key);
    this.#lastKey = key;
    this.#lastLeaf = leaf;
    return leaf;
  }

  /** The entry at `index` (0n when empty). */
  get(index: number): bigint {
    const value = this.#leafGet(index);
    if (value !== 0n || this.#runs.length === 0) return value;
    const r = this.#runAt(index);
    return r < 0 ? 0n : this.#runs[r].value;
  }

  #leafGet(index: number): bigint {
    const leaf = this.#leaf(keyOf(index));
    if (!leaf) return 0n;
    const slot = index & LEAF_MASK;
    const block = leaf.block;
    if (block) return block.slab.values[block.at + slot];
    const at = leaf.slots.indexOf(slot);
    return at < 0 ? 0n : leaf.entries[at];
  }

  /** Whether the entry at `index` is non-zero. */
  has(index: number): boolean {
    const leaf = this.#leaf(keyOf(index));
    if (leaf) {
      const slot = index & LEAF_MASK;
      const block = leaf.block;
      if (block ? !isEmpty(block, slot) : leaf.slots.includes(slot)) return true;
    }
    return this.#runs.length !== 0 && this.#runAt(index) >= 0;
  }

  /** Stores `value` (modulo 2^64) at `index`; 0 empties the entry. */
  set(index: number, value: bigint): void {
    if (value < 0n || value > U64_MAX) value = BigInt.asUintN(64, value);
    if (this.#runs.length !== 0 && this.#runAt(index) >= 0) this.#cutRuns(index, index + 1);
    const key = keyOf(index);
    const slot = index & LEAF_MASK;
    const leaf = this.#leaf(key);
    if (value === 0n) {
      if (leaf && this.#remove(leaf, slot) && leaf.count === 0) this.#dropLeaf(key, leaf);
      return;
    }
    if (!leaf) {
      // Most leaves of a sparse table hold one entry: allocate just that.
      const created = { count: 1, block: undefined, slots: [slot], entries: [value] };
      this.#leaves.set(key, created);
      this.#lastKey = key;
      this.#lastLeaf = created;
      this.#size++;
      return;
    }
    const block = leaf.block;
    if (block) {
      if (isEmpty(block, slot)) {
        leaf.count++;
        this.#size++;
      }
      block.slab.values[block.at + slot] = value;
      return;
    }
    const { slots, entries } = leaf;
    // Entries mostly arrive in ascending order: append, else insert in place.
    let at = slots.length;
    while (at > 0 && slots[at - 1] >= slot) at--;
    if (slots[at] === slot) {
      entries[at] = value;
      return;
    }
    if (at === slots.length) {
      slots.push(slot);
      entries.push(value);
    } else {
      slots.splice(at, 0, slot);
      entries.splice(at, 0, value);
    }
    leaf.count++;
    this.#size++;
    if (leaf.count >= DENSE_AT) this.#densify(leaf);
  }

  /** Empties `slot` of `leaf`; false if it was empty already. */
  #remove(leaf: Leaf, slot: number): boolean {
    const block = leaf.block;
    if (block) {
      if (isEmpty(block, slot)) return false;
      block.slab.values[block.at + slot] = 0n;
    } else {
      const at = leaf.slots.indexOf(slot);
      if (at < 0) return false;
      leaf.slots.splice(at, 1);
      leaf.entries.splice(at, 1);
    }
    leaf.count--;
    this.#size--;
    return true;
  }

  /** A short-list leaf moves into a block (a free one, or one of a new slab). */
  #densify(leaf: Leaf): void {
    let block = this.#freeBlocks.pop();
    if (!block) {
      // A table that keeps growing gets bigger slabs (at most twice what it holds already).
      const leaves = Math.min(MAX_SLAB_LEAVES, SLAB_LEAVES << Math.min(this.#slabs, 4));
      const values = new BigUint64Array(leaves * LEAF_SIZE);
      const slab = { values, halves: new Int32Array(values.buffer) };
      this.#slabs++;
      for (let i = leaves - 1; i > 0; i--) this.#freeBlocks.push({ slab, at: i * LEAF_SIZE });
      block = { slab, at: 0 };
    }
    for (let i = 0; i < leaf.slots.length; i++) {
      block.slab.values[block.at + leaf.slots[i]] = leaf.entries[i];
    }
    leaf.block = block;
    leaf.slots.length = 0;
    leaf.entries.length = 0;
  }

  /** Empties every entry. */
  clear(): void {
    this.#runs = [];
    this.#runEntries = 0;
    this.#leaves.clear();
    this.#freeBlocks.length = 0;
    this.#size = 0;
    this.#lastKey = -1;
    this.#lastLeaf = undefined;
  }

  /**
   * Empties entries [first, first + count), telling `onDrop` of each non-empty entry, or of each
   * piece of a run, first, in index order. With `dropStep` (below 2^32), consecutive entries each
   * that much more than the one before are told of as one series. Walks whichever is fewer: the
   * leaves the range covers, or the populated ones; and the runs it meets.
   */
  clearRange(first: number, count: number, onDrop?: DropListener, dropStep = 0): void {
    if (count <= 0 || this.size === 0) return;
    const end = first + count;
    const pieces = this.#cutRuns(first, end);
    if (pieces.length === 0 || !onDrop) {
      if (onDrop) for (const p of pieces) onDrop(p.start, p.value, p.end - p.start, 0n);
      this.#clearLeaves(first, count, onDrop, dropStep);
      return;
    }
    // Both kinds dropped: tell of them merged in index order.
    const dropped: [number, bigint, number, bigint][] = [];
    this.#clearLeaves(first, count, (i, v, n, st) => dropped.push([i, v, n, st]), dropStep);
    let k = 0;
    for (const p of pieces) {
      while (k < dropped.length && dropped[k][0] < p.start) onDrop(...dropped[k++]);
      onDrop(p.start, p.value, p.end - p.start, 0n);
    }
    while (k < dropped.length) onDrop(...dropped[k++]);
  }

  #clearLeaves(first: number, count: number, onDrop: DropListener | undefined, step: number): void {
    if (this.#size === 0) return;
    const end = first + count;
    const firstKey = keyOf(first);
    const lastKey = keyOf(end - 1);
    const keys =
      lastKey - firstKey + 1 <= this.#leaves.size
        ? Array.from({ length: lastKey - firstKey + 1 }, (_, k) => firstKey + k)
        : [...this.#leaves.keys()]
            .filter((k) => k >= firstKey && k <= lastKey)
            .sort((a, b) => a - b);
    const bigStep = BigInt(step);
    for (const key of keys) {
      const leaf = this.#leaves.get(key);
      if (!leaf) continue;
      const base = key * LEAF_SIZE;
      const from = Math.max(first, base) - base;
      const to = Math.min(end, base + LEAF_SIZE) - base;
      const block = leaf.block;
      if (block && step > 0) {
        // In place, as int32 words (see forEachSeries), telling of series within the leaf.
        const halves = block.slab.halves;
        let seriesFirst = 0;
        let seriesValue = 0n;
        let seriesCount = 0;
        let nextLo = 0;
        let nextHi = 0;
        let dropped = 0;
        for (let slot = from; slot < to; slot++) {
          const word = 2 * (block.at + slot);
          const lo = halves[word + LO];
          const hi = halves[word + HI];
          if ((lo | hi) === 0) continue;
          dropped++;
          if (
            seriesCount !== 0 &&
            slot === seriesFirst + seriesCount &&
            lo === nextLo &&
            hi === nextHi
          )
            seriesCount++;
          else {
            if (seriesCount !== 0) onDrop?.(base + seriesFirst, seriesValue, seriesCount, bigStep);
            seriesFirst = slot;
            seriesValue = block.slab.values[block.at + slot];
            seriesCount = 1;
          }
          const sum = (lo >>> 0) + step;
          nextLo = sum | 0;
          if (sum > 0xffffffff) {
            nextHi = (hi + 1) | 0;
            if (hi === -1) nextLo = 0;
          } else nextHi = hi;
          halves[word] = 0;
          halves[word + 1] = 0;
        }
        if (seriesCount !== 0) onDrop?.(base + seriesFirst, seriesValue, seriesCount, bigStep);
        leaf.count -= dropped;
        this.#size -= dropped;
      } else {
        for (const slot of occupiedSlots(leaf, from, to)) {
          const value = this.#leafGet(base + slot);
          onDrop?.(base + slot, value, 1, 0n);
          this.#remove(leaf, slot);
        }
      }
      if (leaf.count === 0) this.#dropLeaf(key, leaf);
    }
  }

  /**
   * Calls `fn` for each run of equal entries in index order: a single entry as a run of 1, a
   * filled range as itself. The table must not change during the walk.
   */
  forEachRun(fn: (first: number, count: number, value: bigint) => void): void {
    const runs = this.#runs;
    let r = 0;
    this.#forEachLeafEntry((index, value) => {
      while (r < runs.length && runs[r].start < index) {
        fn(runs[r].start, runs[r].end - runs[r].start, runs[r].value);
        r++;
      }
      fn(index, 1, value);
    });
    for (; r < runs.length; r++) fn(runs[r].start, runs[r].end - runs[r].start, runs[r].value);
  }

  /**
   * Calls `fn` for each series of non-empty entries in index order: consecutive entries each
   * `step` (below 2^32) more than the one before, as a one-to-one mapping's TCEs are, found
   * without making a `bigint` per entry; a filled range comes as itself, with step 0. A series
   * never wraps past 2^64. The table must not change during the walk.
   */
  forEachSeries(
    step: number,
    fn: (first: number, count: number, value: bigint, valueStep: bigint) => void,
  ): void {
    // One loop, no closures over its state, words as int32: what it carries stays unboxed.
    const runs = this.#runs;
    const bigStep = BigInt(step);
    let r = 0;
    // Filled ranges lie between leaf entries: each goes out before the first entry past it.
    let nextRun = runs.length !== 0 ? runs[0].start : Number.POSITIVE_INFINITY;
    // The series being gathered: its first index and value, its length, and the next words.
    let first = 0;
    let value = 0n;
    let count = 0;
    let nextLo = 0;
    let nextHi = 0;
    for (const [key, leaf] of this.#leavesInOrder()) {
      const base = key * LEAF_SIZE;
      const block = leaf.block;
      const halves = block?.slab.halves;
      const at = block ? block.at : 0;
      const n = block ? LEAF_SIZE : leaf.slots.length;
      for (let k = 0; k < n; k++) {
        let lo: number;
        let hi: number;
        let index: number;
        if (halves) {
          const word = 2 * (at + k);
          lo = halves[word + LO];
          hi = halves[word + HI];
          if ((lo | hi) === 0) continue;
          index = base + k;
        } else {
          const slot = leaf.slots[k];
          index = base + slot;
          const joins = count !== 0 && index === first + count;
          // A sparse table's entries stand alone: words only when a neighbour may join.
          const joined = slot === LEAF_SIZE - 1 || (k + 1 < n && leaf.slots[k + 1] === slot + 1);
          if (!joins && !joined) {
            if (count !== 0) fn(first, count, value, bigStep);
            while (index > nextRun) {
              const run = runs[r++];
              fn(run.start, run.end - run.start, run.value, 0n);
              nextRun = r < runs.length ? runs[r].start : Number.POSITIVE_INFINITY;
            }
            first = index;
            value = leaf.entries[k];
            count = 1;
            // (0, 0) is an empty entry, never compared: nothing joins it.
            nextLo = 0;
            nextHi = 0;
            continue;
          }
          const v = leaf.entries[k];
          lo = Number(v & 0xffffffffn) | 0;
          hi = Number(v >> 32n) | 0;
        }
        if (
          count !== 0 &&
          index === first + count &&
          lo === nextLo &&
          hi === nextHi &&
          index < nextRun
        )
          count++;
        else {
          if (count !== 0) fn(first, count, value, bigStep);
          count = 0;
          while (index > nextRun) {
            const run = runs[r++];
            fn(run.start, run.end - run.start, run.value, 0n);
            nextRun = r < runs.length ? runs[r].start : Number.POSITIVE_INFINITY;
          }
          first = index;
          value = block ? block.slab.values[at + k] : leaf.entries[k];
          count = 1;
        }
        const sum = (lo >>> 0) + step;
        nextLo = sum | 0;
        if (sum > 0xffffffff) {
          // Past 2^64 nothing follows: (0, 0) is an empty entry, never compared.
          nextHi = (hi + 1) | 0;
          if (hi === -1) nextLo = 0;
        } else nextHi = hi;
      }
    }
    if (count !== 0) fn(first, count, value, bigStep);
    for (; r < runs.length; r++) fn(runs[r].start, runs[r].end - runs[r].start, runs[r].value, 0n);
  }

  /**
   * Stores `value + k * step` (each below 2^64: the caller checks) at `first + k` for k in
   * [0, count), replacing what was there, in place in the leaves: the bulk form of `count` calls
   * of `set`. `step` is 0 or below 2^32; an all-zero series empties the range.
   */
  setSeries(first: number, count: number, value: bigint, step: bigint): void {
    if (count <= 0) return;
    if (value === 0n && step === 0n) {
      this.clearRange(first, count);
      return;
    }
    if (count === 1 || value === 0n) {
      for (let k = 0; k < count; k++) this.set(first + k, value + BigInt(k) * step);
      return;
    }
    if (this.#runs.length !== 0) this.#cutRuns(first, first + count);
    const stepNumber = Number(step);
    // The next entry's words, as int32 (see Slab).
    let lo = Number(value & 0xffffffffn) | 0;
    let hi = Number(value >> 32n) | 0;
    const end = first + count;
    for (let index = first; index < end; ) {
      const key = keyOf(index);
      const base = key * LEAF_SIZE;
      const stop = Math.min(end, base + LEAF_SIZE);
      let leaf = this.#leaf(key);
      if (!leaf && stop - index >= DENSE_AT) {
        leaf = { count: 0, block: undefined, slots: [], entries: [] };
        this.#leaves.set(key, leaf);
        this.#lastKey = key;
        this.#lastLeaf = leaf;
        this.#densify(leaf);
      }
      const block = leaf?.block;
      if (!leaf || !block) {
        // A short list: entry by entry (fewer than 32 before it turns dense).
        for (; index < stop; index++) {
          this.set(index, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
          const sum = (lo >>> 0) + stepNumber;
          lo = sum | 0;
          if (sum > 0xffffffff) hi = (hi + 1) | 0;
        }
        continue;
      }
      const halves = block.slab.halves;
      let added = 0;
      for (let word = 2 * (block.at + index - base); index < stop; index++, word += 2) {
        if ((halves[word] | halves[word + 1]) === 0) added++;
        halves[word + LO] = lo;
        halves[word + HI] = hi;
        const sum = (lo >>> 0) + stepNumber;
        lo = sum | 0;
        if (sum > 0xffffffff) hi = (hi + 1) | 0;
      }
      leaf.count += added;
      this.#size += added;
    }
  }

  /**
   * Calls `fn` for every non-empty entry in index order (a run, entry by entry: the caller bounds
   * its cost). Leaves and runs are listed before the walk; entries changed during it are seen as
   * they are when reached.
   */
  forEach(fn: (index: number, value: bigint) => void): void {
    if (this.#runs.length === 0) {
      this.#forEachLeafEntry(fn);
      return;
    }
    const runs = this.#runs.slice();
    let r = 0;
    const expand = (run: Run) => {
      for (let i = run.start; i < run.end; i++) {
        const value = this.get(i);
        if (value !== 0n) fn(i, value);
      }
    };
    this.#forEachLeafEntry((index, value) => {
      while (r < runs.length && runs[r].start < index) expand(runs[r++]);
      fn(index, value);
    });
    while (r < runs.length) expand(runs[r++]);
  }

  #forEachLeafEntry(fn: (index: number, value: bigint) => void): void {
    for (const [key, leaf] of this.#leavesInOrder()) {
      if (leaf.count === 0) continue; // emptied by the callback
      const base = key * LEAF_SIZE;
      // The caller most likely reads the entries it is given: remember the leaf for it.
      this.#lastKey = key;
      this.#lastLeaf = leaf;
      const block = leaf.block;
      if (block) {
        const { values } = block.slab;
        for (let slot = 0; slot < LEAF_SIZE; slot++) {
          if (!isEmpty(block, slot)) fn(base + slot, values[block.at + slot]);
        }
      } else if (leaf.slots.length === 1) {
        fn(base + leaf.slots[0], leaf.entries[0]);
      } else {
        // The callback may change the leaf: walk a copy, reading each entry as it is now.
        for (const slot of leaf.slots.slice()) {
          const value = this.#leafGet(base + slot);
          if (value !== 0n) fn(base + slot, value);
        }
      }
    }
  }

  /** The leaves with their keys, ascending. Leaves are mostly created in order: then no sort. */
  #leavesInOrder(): [number, Leaf][] {
    const pairs = [...this.#leaves];
    for (let i = 1; i < pairs.length; i++) {
      if (pairs[i][0] < pairs[i - 1][0]) return pairs.sort((a, b) => a[0] - b[0]);
    }
    return pairs;
  }

  /** Forgets an emptied leaf; its block (all zero now) is kept for the next dense leaf. */
  #dropLeaf(key: number, leaf: Leaf): void {
    this.#leaves.delete(key);
    if (this.#lastKey === key) this.#lastLeaf = undefined;
    if (leaf.block) {
      this.#freeBlocks.push(leaf.block);
      leaf.block = undefined;
    }
  }
}

/** The leaf of an entry index; a shift while it fits 32 bits keeps the key a small integer. */
function keyOf(index: number): number {
  return index < 2 ** 32 ? index >>> LEAF_SHIFT : Math.floor(index / LEAF_SIZE);
}

function isEmpty(block: Block, slot: number): boolean {
  const word = 2 * (block.at + slot);
  return (block.slab.halves[word] | block.slab.halves[word + 1]) === 0;
}

/** The occupied slots of `leaf` in [from, to), ascending (a list taken before any change). */
function occupiedSlots(leaf: Leaf, from: number, to: number): number[] {
  const block = leaf.block;
  if (!block) return leaf.slots.filter((s) => s >= from && s < to);
  const out: number[] = [];
  for (let slot = from; slot < to; slot++) if (!isEmpty(block, slot)) out.push(slot);
  return out;
}
