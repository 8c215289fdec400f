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
 * An entry of 0 is empty (a zero TCE maps nothing); any other value is kept as written, modulo
 * 2^64 as the hardware's 64-bit entries are.
 */
import { U64_MAX } from "../memory/int.ts";

const LEAF_SHIFT = 9;
const LEAF_SIZE = 1 << LEAF_SHIFT;
const LEAF_MASK = LEAF_SIZE - 1;
/** Entries at which a leaf turns dense. */
const DENSE_AT = LEAF_SIZE / 16;
/** Dense leaves per slab. */
const SLAB_LEAVES = 16;

/** Storage for dense leaves; `halves` views it as 32-bit words (a zero test allocates nothing). */
interface Slab {
  readonly values: BigUint64Array;
  readonly halves: Uint32Array;
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

export class EntryTable {
  readonly #leaves = new Map<number, Leaf>();
  readonly #freeBlocks: Block[] = [];
  #size = 0;
  #slabs = 0;
  // Accesses come in runs (replay, H_PUT_TCE_INDIRECT, a multi-page MAP_DMA): remember the leaf.
  #lastKey = -1;
  #lastLeaf: Leaf | undefined;

  /** Non-zero entries. */
  get size(): number {
    return this.#size;
  }

  /** What the table holds in memory: leaves, and 64 KiB slabs allocated for dense ones. */
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
    if (!leaf) return false;
    const slot = index & LEAF_MASK;
    const block = leaf.block;
    return block ? !isEmpty(block, slot) : leaf.slots.includes(slot);
  }

  /** Stores `value` (modulo 2^64) at `index`; 0 empties the entry. */
  set(index: number, value: bigint): void {
    if (value < 0n || value > U64_MAX) value = BigInt.asUintN(64, value);
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
      const values = new BigUint64Array(SLAB_LEAVES * LEAF_SIZE);
      const slab = { values, halves: new Uint32Array(values.buffer) };
      this.#slabs++;
      for (let i = SLAB_LEAVES - 1; i > 0; i--) this.#freeBlocks.push({ slab, at: i * LEAF_SIZE });
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
    this.#leaves.clear();
    this.#freeBlocks.length = 0;
    this.#size = 0;
    this.#lastKey = -1;
    this.#lastLeaf = undefined;
  }

  /**
   * Empties entries [first, first + count), telling `onDrop` of each non-empty one first, in
   * index order. Walks whichever is fewer: the leaves the range covers, or the populated ones.
   */
  clearRange(first: number, count: number, onDrop?: (index: number, value: bigint) => void): void {
    if (count <= 0 || this.#size === 0) return;
    const end = first + count;
    const firstKey = keyOf(first);
    const lastKey = keyOf(end - 1);
    const keys =
      lastKey - firstKey + 1 <= this.#leaves.size
        ? Array.from({ length: lastKey - firstKey + 1 }, (_, k) => firstKey + k)
        : [...this.#leaves.keys()]
            .filter((k) => k >= firstKey && k <= lastKey)
            .sort((a, b) => a - b);
    for (const key of keys) {
      const leaf = this.#leaves.get(key);
      if (!leaf) continue;
      const base = key * LEAF_SIZE;
      const from = Math.max(first, base) - base;
      const to = Math.min(end, base + LEAF_SIZE) - base;
      for (const slot of occupiedSlots(leaf, from, to)) {
        const value = this.get(base + slot);
        onDrop?.(base + slot, value);
        this.#remove(leaf, slot);
      }
      if (leaf.count === 0) this.#dropLeaf(key, leaf);
    }
  }

  /**
   * Calls `fn` for every non-empty entry in index order. Leaves are listed before the walk;
   * entries changed during it are seen as they are when reached.
   */
  forEach(fn: (index: number, value: bigint) => void): void {
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
          const value = this.get(base + slot);
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
