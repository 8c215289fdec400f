/**
 * The mapped ranges an IOMMU has told its MAP notifiers about (QEMU's `IOVATree` of `DMAMap`s),
 * kept sorted by IOVA so that finding an overlap costs a binary search.
 */

/** One mapping; `size` is QEMU's inclusive size (the address mask). */
export interface DmaMap {
  readonly iova: bigint;
  readonly size: bigint;
  readonly translatedAddr: bigint;
  readonly perm: number;
}

/** Disjoint mappings sorted by IOVA. */
export class IovaTree {
  readonly #maps: DmaMap[] = [];

  /** Every mapping, by IOVA. */
  get maps(): readonly DmaMap[] {
    return this.#maps;
  }

  /** The first mapping that overlaps `[iova, iova + size]` (QEMU's `iova_tree_find`). */
  find(iova: bigint, size: bigint): DmaMap | undefined {
    const at = this.#firstEndingAtOrAfter(iova);
    const m = this.#maps[at];
    return m && m.iova <= iova + size ? m : undefined;
  }

  /** Adds a mapping that overlaps none. */
  insert(map: DmaMap): void {
    const at = this.#firstEndingAtOrAfter(map.iova);
    this.#maps.splice(at, 0, map);
  }

  /** Removes every mapping overlapping `[iova, iova + size]` (QEMU's `iova_tree_remove`). */
  remove(iova: bigint, size: bigint): void {
    const from = this.#firstEndingAtOrAfter(iova);
    let to = from;
    while (to < this.#maps.length && this.#maps[to].iova <= iova + size) to++;
    this.#maps.splice(from, to - from);
  }

  /** Index of the first mapping whose last byte is at or after `iova`. */
  #firstEndingAtOrAfter(iova: bigint): number {
    let lo = 0;
    let hi = this.#maps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.#maps[mid];
      if (m.iova + m.size < iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
