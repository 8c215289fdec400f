/**
 * The VMM process as the host kernel sees it: one mm whose locked_vm every container of the
 * process charges against RLIMIT_MEMLOCK (Linux's `account_locked_vm`), and the memory the
 * process preregistered for sPAPR TCE (`mm_iommu_*` in arch/powerpc/mm/book3s64/iommu_api.c),
 * which every container of the process shares, with use counts.
 */

/** A preregistered region of the process (Linux's `mm_iommu_table_group_mem_t`). */
export interface PreregisteredMemory {
  readonly vaddr: bigint;
  readonly size: bigint;
  readonly end: bigint;
  /** Host pages pinned and charged. */
  readonly pages: bigint;
  /** Largest IOMMU page shift this memory can back. */
  readonly maxPageShift: number;
  /** Containers holding a reference, first one first (`used` is their number). */
  readonly users: object[];
  /** TCEs pointing into it (Linux's `mapped` minus its initial 1). */
  mapped: number;
}

/** The process's mm. */
export class HostProcess {
  /** RLIMIT_MEMLOCK in bytes; undefined: unlimited (or CAP_IPC_LOCK). */
  readonly memlockLimit: bigint | undefined;
  readonly pageSize: bigint;
  /** The preregistered regions (mm->context.iommu_group_mem_list), oldest first. */
  readonly preregistered: PreregisteredMemory[] = [];
  #locked = 0n;
  #leaked = 0n;

  constructor(pageSize: bigint, memlockLimit: bigint | undefined) {
    this.pageSize = pageSize;
    this.memlockLimit = memlockLimit;
  }

  /** locked_vm, in host pages. */
  get lockedPages(): bigint {
    return this.#locked;
  }

  /** Pages charged and never returned (the driver's own leaks, see `leak`). */
  get leakedPages(): bigint {
    return this.#leaked;
  }

  /** `account_locked_vm(mm, pages, true)`: false (nothing charged) past RLIMIT_MEMLOCK. */
  charge(pages: bigint): boolean {
    const limit = this.memlockLimit;
    if (limit !== undefined && (this.#locked + pages) * this.pageSize > limit) return false;
    this.#locked += pages;
    return true;
  }

  /** `account_locked_vm(mm, pages, false)`. */
  uncharge(pages: bigint): void {
    this.#locked -= pages;
  }

  /** Records charged pages that nothing will return while the process lives. */
  leak(pages: bigint): void {
    this.#leaked += pages;
  }

  /** `mm_iommu_get`: the region registered with exactly this address and size, one more user. */
  get(vaddr: bigint, size: bigint, user: object): PreregisteredMemory | undefined {
    const found = this.preregistered.find((r) => r.vaddr === vaddr && r.size === size);
    found?.users.push(user);
    return found;
  }

  /** `mm_iommu_lookup`: the region holding [hva, hva + size). */
  lookup(hva: bigint, size: bigint): PreregisteredMemory | undefined {
    const end = hva + size;
    return this.preregistered.find((r) => hva >= r.vaddr && end <= r.end);
  }

  /**
   * `mm_iommu_new`: charges the pages first, then pins them (`pinnable` false: the process has
   * not mapped that memory, EFAULT), then refuses an overlap with a registered region, returning
   * the charge on either failure: ENOMEM wins over EFAULT and EINVAL. Returns the region or an
   * errno name.
   */
  add(
    vaddr: bigint,
    size: bigint,
    maxPageShift: number,
    user: object,
    pinnable = true,
  ): PreregisteredMemory | "ENOMEM" | "EFAULT" | "EINVAL" {
    const pages = size / this.pageSize;
    if (!this.charge(pages)) return "ENOMEM";
    if (!pinnable) {
      this.uncharge(pages);
      return "EFAULT";
    }
    const end = vaddr + size;
    if (this.preregistered.some((r) => r.vaddr < end && vaddr < r.end)) {
      this.uncharge(pages);
      return "EINVAL";
    }
    const region = { vaddr, size, end, pages, maxPageShift, users: [user], mapped: 0 };
    this.preregistered.push(region);
    return region;
  }

  /**
   * `mm_iommu_put` by `user`: one user fewer; the last one releases the region and its charge,
   * unless TCEs still point into it, in which case the reference stays (EBUSY) and the caller
   * usually drops that error.
   */
  put(region: PreregisteredMemory, user: object): "ok" | "EBUSY" | "ENOENT" {
    const at = region.users.indexOf(user);
    if (at < 0) return "ENOENT";
    if (region.users.length === 1 && region.mapped > 0) return "EBUSY";
    region.users.splice(at, 1);
    if (region.users.length > 0) return "ok";
    this.preregistered.splice(this.preregistered.indexOf(region), 1);
    this.uncharge(region.pages);
    return "ok";
  }

  /** Pages of preregistered memory whose first user is `user`: its share of them. */
  preregisteredShareOf(user: object): bigint {
    let pages = 0n;
    for (const r of this.preregistered) if (r.users[0] === user) pages += r.pages;
    return pages;
  }

  /** Pages all preregistered regions pin. */
  get preregisteredPages(): bigint {
    let pages = 0n;
    for (const r of this.preregistered) pages += r.pages;
    return pages;
  }
}
