/**
 * Linux's `vfio_iommu_spapr_tce` driver on a powernv host: v1 (one 32-bit window, ENABLE) and v2
 * (preregistered memory, windows created in fixed slots, a lazily created default window). Every
 * entry point is an ioctl with the driver's checks in the driver's order and its errno values,
 * including its quirks (a remap silently replaces an entry; a misaligned iova returns +1).
 */
import { EntryTable } from "../iommu/entry-table.ts";
import { HostContainer } from "./container.ts";
import { Errno } from "./errno.ts";
import type { HostEntry, HostIommu, HostWindow } from "./host-iommu.ts";
import type { IoctlBoundary } from "./ioctl.ts";
import type { HostPlatform } from "./platform.ts";
import type { HostProcess, PreregisteredMemory } from "./process.ts";

interface Window {
  readonly start: bigint;
  readonly pageShift: number;
  readonly shift: bigint;
  readonly pageSize: bigint;
  /** pageSize - 1: the offset bits an aligned address has clear. */
  readonly offsetMask: bigint;
  /** One past the last bus address. */
  readonly end: bigint;
  readonly size: bigint;
  readonly levels: number;
  readonly tablePages: bigint;
  /**
   * The table as the kernel's userspace view keeps it: each page's user address (page aligned)
   * with TCE_PCI_READ (1) and TCE_PCI_WRITE (2) in its low bits.
   */
  readonly entries: EntryTable;
}

const PERM_NAMES = ["", "r", "w", "rw"] as const;
/** A stored entry's user address and permission. */
const hvaOf = (value: bigint) => value & ~3n;
const permOf = (value: bigint) => PERM_NAMES[Number(value & 3n)] as "r" | "w" | "rw";

/** Result of GET_INFO. */
export interface SpaprTceInfo {
  readonly dma32WindowStart: bigint;
  readonly dma32WindowSize: bigint;
  readonly flags: number;
  readonly ddw?: {
    readonly pgsizes: bigint;
    readonly maxDynamicWindows: number;
    readonly levels: number;
  };
}

const ctz = (v: bigint) => {
  let n = 0;
  while (v > 0n && (v & 1n) === 0n) {
    v >>= 1n;
    n++;
  }
  return n;
};

/** A sPAPR TCE container (v1 or v2). */
export class SpaprTceContainer extends HostContainer implements HostIommu {
  readonly backend: "spapr-tce-v2" | "spapr-tce";
  readonly #v2: boolean;
  readonly #slots: (Window | undefined)[] = [undefined, undefined];
  /** The preregistered memory this container holds a reference to (its `prereg_list`). */
  readonly #held: PreregisteredMemory[] = [];
  /** Whether the container knows its process's mm yet (`tce_iommu_mm_set` ran). */
  #mmSet = false;
  /** The VMM's pinnable memory (guest RAM), for v1 pinning. */
  readonly #userMemory: readonly { start: bigint; size: bigint }[];
  #enabled = false;
  #defWindowPending = false;

  constructor(
    platform: HostPlatform,
    v2: boolean,
    userMemory: readonly { start: bigint; size: bigint }[],
    io?: IoctlBoundary,
    process?: HostProcess,
  ) {
    super(platform, io, process);
    this.#v2 = v2;
    this.backend = v2 ? "spapr-tce-v2" : "spapr-tce";
    this.#userMemory = userMemory;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** What the container's own state implies it charged itself (preregistered memory aside). */
  expectedChargedPages(): bigint {
    let pages = 0n;
    for (const w of this.#slots) if (w) pages += w.tablePages;
    if (!this.#v2 && this.#enabled) pages += this.platform.tce32Size / this.platform.pageSize;
    return pages;
  }

  /**
   * `tce_iommu_attach_group`: a platform without ownership ops (no DDW, v1 only) takes one group
   * per container (EBUSY for a second); v1 needs such a platform and v2 one with the ops (EPERM).
   */
  protected override refuseGroup(): number {
    if (this.groups.length > 0 && !this.platform.ddw) return -Errno.EBUSY;
    return this.#v2 !== this.platform.ddw ? -Errno.EPERM : 0;
  }

  protected override groupAttached(first: boolean): void {
    if (this.#v2 && first && !this.#slots[0]) this.#defWindowPending = true;
  }

  /** `tce_iommu_release`: tables cleared and freed, then the preregistration references put. */
  protected releaseMappings(): void {
    this.#generation++;
    for (const w of this.#slots) if (w) this.#clear(w, 0, Number(w.size >> w.shift));
    this.#slots.fill(undefined);
    for (const r of this.#held.splice(0)) this.process.put(r, this);
    this.#enabled = false;
    this.#defWindowPending = false;
  }

  /** VFIO_IOMMU_SPAPR_TCE_GET_INFO. */
  getInfo(): { ret: number; info?: SpaprTceInfo } {
    let info: SpaprTceInfo | undefined;
    const ret = this.io.call("GET_INFO", {}, () => {
      if (this.groups.length === 0) return -Errno.ENXIO;
      const p = this.platform;
      info = {
        dma32WindowStart: p.tce32Start,
        dma32WindowSize: p.tce32Size,
        flags: p.ddw && this.#v2 ? 1 : 0,
        ...(p.ddw && this.#v2
          ? { ddw: { pgsizes: p.pgsizes, maxDynamicWindows: 2, levels: p.maxLevels } }
          : {}),
      };
      return 0;
    });
    return ret === 0 ? { ret, info } : { ret };
  }

  /** VFIO_IOMMU_ENABLE (v1). */
  enable(): number {
    return this.#mutating("ENABLE", {}, () => {
      if (this.#v2) return -Errno.ENOTTY;
      if (this.#enabled) return -Errno.EBUSY;
      this.#mmSet = true;
      if (this.groups.length === 0) return -Errno.ENODEV;
      if (this.platform.tce32Size === 0n) return -Errno.EPERM;
      if (!this.charge(this.platform.tce32Size / this.platform.pageSize)) return -Errno.ENOMEM;
      this.#slots[0] = this.#newWindow(
        this.platform.tce32Start,
        12,
        this.platform.tce32Size,
        1,
        0n,
      );
      this.#enabled = true;
      return 0;
    });
  }

  /** VFIO_IOMMU_DISABLE (v1). */
  disable(): number {
    return this.#mutating("DISABLE", {}, () => {
      if (this.#v2) return -Errno.ENOTTY;
      if (!this.#enabled) return 0;
      this.#slots[0] = undefined;
      this.uncharge(this.platform.tce32Size / this.platform.pageSize);
      this.#enabled = false;
      return 0;
    });
  }

  /**
   * VFIO_IOMMU_SPAPR_REGISTER_MEMORY (v2), `tce_iommu_register_pages`: memory the process
   * registered already (through any container) is found and shared, charging nothing more; new
   * memory is charged to the process before the overlap check.
   */
  registerMemory(vaddr: bigint, size: bigint): number {
    return this.#mutating("REGISTER_MEMORY", { vaddr, size }, () => {
      if (!this.#v2) return -Errno.ENOTTY;
      this.#mmSet = true;
      const ps = this.platform.pageSize;
      // `vaddr + size < vaddr` in 64 bits: ending exactly at 2^64 wraps to 0 and is refused.
      if (vaddr % ps !== 0n || size % ps !== 0n || size === 0n || vaddr + size >= 1n << 64n)
        return -Errno.EINVAL;
      const shared = this.process.get(vaddr, size, this);
      if (shared) {
        if (this.#held.includes(shared)) {
          this.process.put(shared, this);
          return -Errno.EBUSY;
        }
        this.#held.push(shared);
      } else {
        const align = Math.min(ctz(vaddr | size), ctz(this.platform.ramPageSize));
        const region = this.process.add(vaddr, size, align, this, this.#pinnable(vaddr, size));
        if (typeof region === "string") return -Errno[region];
        this.#held.push(region);
      }
      this.#enabled = true;
      return 0;
    });
  }

  /**
   * VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY (v2), `tce_iommu_unregister_pages`: EPERM before the
   * container knows its process; the container drops its reference even when TCEs still point
   * into the memory, which then stays pinned and charged (the kernel ignores that EBUSY).
   */
  unregisterMemory(vaddr: bigint, size: bigint): number {
    return this.#mutating("UNREGISTER_MEMORY", { vaddr, size }, () => {
      if (!this.#v2) return -Errno.ENOTTY;
      if (!this.#mmSet) return -Errno.EPERM;
      const ps = this.platform.pageSize;
      if (vaddr % ps !== 0n || size % ps !== 0n) return -Errno.EINVAL;
      const region = this.process.preregistered.find((r) => r.vaddr === vaddr && r.size === size);
      if (!region) return -Errno.ENOENT;
      const at = this.#held.indexOf(region);
      if (at < 0) return -Errno.ENOENT;
      this.#held.splice(at, 1);
      this.process.put(region, this);
      return 0;
    });
  }

  #newWindow(
    start: bigint,
    pageShift: number,
    size: bigint,
    levels: number,
    tablePages: bigint,
  ): Window {
    const shift = BigInt(pageShift);
    return {
      start,
      pageShift,
      shift,
      pageSize: 1n << shift,
      offsetMask: (1n << shift) - 1n,
      end: start + size,
      size,
      levels,
      tablePages,
      entries: new EntryTable(),
    };
  }

  /**
   * The pages a window's table costs (`pnv_pci_ioda2_get_table_size`): every level of the TCE
   * table, each rounded up to the direct table size, twice (the hardware table and the userspace
   * copy); 0 for a size the driver refuses.
   */
  #tablePages(size: bigint, pageShift: number, levels: number): bigint {
    return ioda2TablePages(size, pageShift, levels, this.platform.pageSize);
  }

  #createPendingDefault(): number {
    if (!this.#defWindowPending) return 0;
    this.#defWindowPending = false;
    const size = this.platform.tce32Size;
    const pages = this.#tablePages(size, 12, 1);
    if (!this.charge(pages)) return -Errno.ENOMEM;
    this.#slots[0] = this.#newWindow(this.platform.tce32Start, 12, size, 1, pages);
    return 0;
  }

  /** VFIO_IOMMU_SPAPR_TCE_CREATE (v2): the window goes to the lowest free slot, at its fixed start. */
  createWindow(
    pageShift: number,
    windowSize: bigint,
    levels: number,
  ): { ret: number; start?: bigint } {
    let start: bigint | undefined;
    const ret = this.#mutating(
      "TCE_CREATE",
      { page_shift: pageShift, window_size: windowSize, levels },
      () => {
        if (!this.#v2) return -Errno.ENOTTY;
        this.#mmSet = true;
        if (this.groups.length === 0) return -Errno.ENXIO;
        const pending = this.#createPendingDefault();
        if (pending) return pending;
        const slot = this.#slots.findIndex((w) => !w);
        if (slot < 0) return -Errno.ENOSPC;
        if (pageShift >= 64 || !((this.platform.pgsizes >> BigInt(pageShift)) & 1n))
          return -Errno.EINVAL;
        if (levels === 0 || levels > this.platform.maxLevels) return -Errno.EINVAL;
        const pages = this.#tablePages(windowSize, pageShift, levels);
        if (pages === 0n) return -Errno.EINVAL;
        if (!this.charge(pages)) return -Errno.ENOMEM;
        // tce_iommu_create_table charges before the platform allocates and does not return the
        // charge when the allocation refuses the shape (pnv_pci_ioda2_table_alloc_pages).
        if (!ioda2TableShapeFits(windowSize, pageShift, levels, this.platform.pageSize)) {
          this.leakCharge(pages);
          return -Errno.EINVAL;
        }
        start = this.platform.windowStarts[slot] ?? 0n;
        this.#slots[slot] = this.#newWindow(start, pageShift, windowSize, levels, pages);
        return 0;
      },
    );
    return ret === 0 ? { ret, start } : { ret };
  }

  /** VFIO_IOMMU_SPAPR_TCE_REMOVE (v2): removes the window containing `start`. */
  removeWindow(start: bigint): number {
    return this.#mutating("TCE_REMOVE", { start_addr: start }, () => {
      if (!this.#v2) return -Errno.ENOTTY;
      this.#mmSet = true;
      if (this.groups.length === 0) return -Errno.ENXIO;
      if (this.#defWindowPending && start === 0n) {
        this.#defWindowPending = false;
        return 0;
      }
      const slot = this.#slots.findIndex((w) => w && start >= w.start && start < w.end);
      if (slot < 0) return -Errno.EINVAL;
      const w = this.#slots[slot]!;
      this.#clear(w, 0, Number(w.size >> w.shift));
      this.#slots[slot] = undefined;
      this.uncharge(w.tablePages);
      return 0;
    });
  }

  #windowFor(iova: bigint): Window | undefined {
    for (const w of this.#slots) if (w && iova >= w.start && iova < w.end) return w;
    return undefined;
  }

  /** Clears entries [first, first + count); walks whichever is smaller, the range or the entries. */
  #clear(w: Window, first: number, count: number): void {
    const ps = w.pageSize;
    // Consecutive pages come as series (a step of one page): each region counts its own.
    const dropStep = w.pageShift < 32 ? 2 ** w.pageShift : 0;
    w.entries.clearRange(
      first,
      count,
      (_, value, n, step) => {
        if (step === 0n || n === 1) {
          const region = this.#preregFor(hvaOf(value), 1n);
          if (region) region.mapped -= n;
          return;
        }
        let hva = hvaOf(value);
        let left = n;
        while (left > 0) {
          const region = this.#preregFor(hva, 1n);
          const inRegion = region ? Math.min(left, Number((region.end - hva + ps - 1n) / ps)) : 1;
          if (region) region.mapped -= inRegion;
          left -= inRegion;
          hva += BigInt(inRegion) * ps;
        }
      },
      dropStep,
    );
  }

  #lastRegion: PreregisteredMemory | undefined;

  /**
   * The process's preregistered region holding [hva, hva + size) (`mm_iommu_lookup`: any
   * container's registration will do), remembering the last one found.
   */
  #preregFor(hva: bigint, size: bigint): PreregisteredMemory | undefined {
    const last = this.#lastRegion;
    const end = hva + size;
    // A released region leaves the process's list, so check the remembered one is still listed.
    if (last && hva >= last.vaddr && end <= last.end && this.process.preregistered.includes(last))
      return last;
    const found = this.process.lookup(hva, size);
    this.#lastRegion = found;
    return found;
  }

  #pinnable(hva: bigint, size: bigint): boolean {
    return this.#userMemory.some((m) => hva >= m.start && hva + size <= m.start + m.size);
  }

  /**
   * VFIO_IOMMU_MAP_DMA: absolute bus addresses; a valid entry is silently replaced. The driver
   * checks only the first page against the window (`iommu_tce_put_param_check`, with its +1 for
   * a misaligned iova), so a zero size maps nothing and succeeds, and pages past the window's end
   * pass the check: the kernel would write them past its table; iova drops them.
   */
  mapDma(iova: bigint, size: bigint, vaddr: bigint, read: boolean, write: boolean): number {
    const flags = (read ? 1 : 0) | (write ? 2 : 0);
    return this.io.call("MAP_DMA", { iova, size, vaddr, flags }, () => {
      // The same MAP_DMA again, with nothing else changed in between, rewrites the same entries
      // or fails the same way: skip the work (the 2016 replay repeats each large TCE once per
      // 4 KiB step).
      const last = this.#repeatedMap(iova, size, vaddr, flags);
      if (last) return last.ret;
      const ret = this.#mapDma(iova, size, vaddr, read, write, flags);
      this.#generation++;
      this.#lastMap = { iova, size, vaddr, flags, ret, generation: this.#generation };
      return ret;
    });
  }

  /** The last MAP_DMA, when this one repeats it with nothing changed in between. */
  #repeatedMap(iova: bigint, size: bigint, vaddr: bigint, flags: number) {
    const last = this.#lastMap;
    return last &&
      last.generation === this.#generation &&
      last.iova === iova &&
      last.size === size &&
      last.vaddr === vaddr &&
      last.flags === flags
      ? last
      : undefined;
  }

  /**
   * `count` MAP_DMA calls at once, the k-th mapping `iova + k * size` to `vaddr + k * vstep`
   * (`vstep` 0 or `size`): done and recorded as one series when every one of them would succeed
   * and change only the entries it maps, as `count` calls of `mapDma` would. Returns how many it
   * made: `count`, or 0 (nothing done; the caller makes the calls one by one).
   */
  mapDmaSeries(
    iova: bigint,
    size: bigint,
    vaddr: bigint,
    vstep: bigint,
    count: number,
    read: boolean,
    write: boolean,
  ): number {
    if (count < 2 || !this.io.takesSeries || !this.#enabled || this.#defWindowPending) return 0;
    if (!read && !write) return 0;
    const w = this.#windowFor(iova);
    if (!w || size === 0n) return 0;
    const low = w.offsetMask;
    if (((iova | size | vaddr | vstep) & low) !== 0n) return 0;
    if (vstep !== 0n && vstep !== size) return 0;
    const n = BigInt(count);
    // Every page of every call inside the window (a call the driver would cut short is left to
    // the one-by-one path), and the user addresses within 64 bits.
    if (iova + n * size > w.end) return 0;
    const span = (n - 1n) * vstep + size;
    if (vaddr + span > 1n << 64n) return 0;
    const flags = (read ? 1 : 0) | (write ? 2 : 0);
    // The first call repeating the last one would be skipped: leave it to the one-by-one path.
    if (this.#repeatedMap(iova, size, vaddr, flags)) return 0;
    // One preregistered region (v2) or one block of guest RAM (v1) holds every page, so each
    // page's own lookup would find it (registrations never overlap).
    let region: PreregisteredMemory | undefined;
    if (this.#v2) {
      region = this.#preregFor(vaddr, span);
      if (!region || w.pageShift > region.maxPageShift) return 0;
    } else if (!this.#pinnable(vaddr, span)) return 0;
    const first = Number((iova - w.start) >> w.shift);
    const pagesPerCall = Number(size >> w.shift);
    const entries = count * pagesPerCall;
    const permBits = BigInt(flags);
    // Entries mapped before are replaced: their pages leave their region's count, as one by one.
    this.#clear(w, first, entries);
    if (vstep !== 0n || pagesPerCall === 1) {
      w.entries.setSeries(first, entries, vaddr | permBits, vstep === 0n ? 0n : w.pageSize);
    } else {
      for (let k = 0; k < count; k++)
        w.entries.setSeries(first + k * pagesPerCall, pagesPerCall, vaddr | permBits, w.pageSize);
    }
    if (region) region.mapped += entries;
    this.#generation += count;
    const lastIova = iova + (n - 1n) * size;
    const lastVaddr = vaddr + (n - 1n) * vstep;
    this.#lastMap = {
      iova: lastIova,
      size,
      vaddr: lastVaddr,
      flags,
      ret: 0,
      generation: this.#generation,
    };
    this.io.recordSeries("MAP_DMA", { iova, size, vaddr, flags }, 0, count, {
      iova: size,
      vaddr: vstep,
    });
    return count;
  }

  /** Bumped by every call that may change the container's state. */
  #generation = 0;

  /** An ioctl that may change the container's state (which forgets the last MAP_DMA). */
  #mutating(name: string, args: Parameters<IoctlBoundary["call"]>[1], body: () => number): number {
    this.#generation++;
    return this.io.call(name, args, body);
  }
  #lastMap:
    | { iova: bigint; size: bigint; vaddr: bigint; flags: number; ret: number; generation: number }
    | undefined;

  #mapDma(
    iova: bigint,
    size: bigint,
    vaddr: bigint,
    read: boolean,
    write: boolean,
    flags: number,
  ): number {
    {
      if (!this.#enabled) return -Errno.EPERM;
      const pending = this.#createPendingDefault();
      if (pending) return pending;
      const w = this.#windowFor(iova);
      if (!w) return -Errno.ENXIO;
      const ps = w.pageSize;
      const low = w.offsetMask;
      if ((size & low) !== 0n || (vaddr & low) !== 0n) return -Errno.EINVAL;
      if (!read && !write) return -Errno.EINVAL;
      // The driver's parameter check returns a boolean: +1, not an errno.
      if ((iova & low) !== 0n) return 1;
      const first = Number((iova - w.start) >> w.shift);
      const inWindow = (w.end - iova) >> w.shift;
      const pages = size >> w.shift;
      const count = size === ps ? 1 : Number(pages < inWindow ? pages : inWindow);
      const permBits = BigInt(flags);
      for (let i = 0; i < count; i++) {
        const hva = i === 0 ? vaddr : vaddr + BigInt(i) * ps;
        let region: PreregisteredMemory | undefined;
        if (this.#v2) {
          region = this.#preregFor(hva, ps);
          if (!region || w.pageShift > region.maxPageShift) {
            this.#clear(w, first, i);
            return -Errno.EINVAL;
          }
        } else if (!this.#pinnable(hva, ps)) {
          this.#clear(w, first, i);
          return -Errno.EFAULT;
        }
        if (w.entries.has(first + i)) this.#clear(w, first + i, 1);
        w.entries.set(first + i, hva | permBits);
        if (region) region.mapped++;
      }
      return 0;
    }
  }

  /**
   * VFIO_IOMMU_UNMAP_DMA: clears entries; unmapped ones are fine. The whole range must lie in the
   * window (`iommu_tce_clear_param_check`, a boolean: +1 otherwise).
   */
  unmapDma(iova: bigint, size: bigint): number {
    return this.#mutating("UNMAP_DMA", { iova, size }, () => {
      if (!this.#enabled) return -Errno.EPERM;
      const pending = this.#createPendingDefault();
      if (pending) return pending;
      const w = this.#windowFor(iova);
      if (!w) return -Errno.ENXIO;
      if ((size & w.offsetMask) !== 0n) return -Errno.EINVAL;
      if ((iova & w.offsetMask) !== 0n) return 1;
      if (iova + size > w.end) return 1;
      const first = Number((iova - w.start) >> w.shift);
      this.#clear(w, first, Number(size >> w.shift));
      return 0;
    });
  }

  entries(): HostEntry[] {
    const out: HostEntry[] = [];
    for (const w of this.#slots) {
      if (!w) continue;
      const ps = w.pageSize;
      w.entries.forEach((i, value) => {
        out.push({
          iova: w.start + BigInt(i) * ps,
          pageSize: ps,
          hva: hvaOf(value),
          perm: permOf(value),
        });
      });
    }
    return out.sort((a, b) => (a.iova < b.iova ? -1 : 1));
  }

  /**
   * The entries as series, in bus address order: `count` pages from `iova`, the k-th mapping
   * `hva + k * pageSize` (or `hva` itself when `step` is 0) with `perm`. Costs the series, not
   * the entries (what a check of a 2^24-entry mirror can afford).
   */
  entrySeries(): (HostEntry & { readonly count: number; readonly step: bigint })[] {
    const out: (HostEntry & { count: number; step: bigint })[] = [];
    const windows = this.#slots.filter((w): w is Window => w !== undefined);
    windows.sort((a, b) => (a.start < b.start ? -1 : 1));
    for (const w of windows) {
      const ps = w.pageSize;
      w.entries.forEachSeries(w.pageShift < 32 ? 2 ** w.pageShift : 0, (i, count, value, step) => {
        out.push({
          iova: w.start + BigInt(i) * ps,
          pageSize: ps,
          hva: hvaOf(value),
          perm: permOf(value),
          count,
          step: count === 1 ? 0n : step,
        });
      });
    }
    return out;
  }

  windows(): HostWindow[] {
    return this.#slots
      .filter((w): w is Window => w !== undefined)
      .map((w) => ({ start: w.start, size: w.size, pageShift: w.pageShift }))
      .sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  lookup(iova: bigint): HostEntry | undefined {
    const w = this.#windowFor(iova);
    if (!w) return undefined;
    const ps = w.pageSize;
    const i = Number((iova - w.start) >> w.shift);
    const value = w.entries.get(i);
    return value === 0n
      ? undefined
      : {
          iova: w.start + BigInt(i) * ps,
          pageSize: ps,
          hva: hvaOf(value),
          perm: permOf(value),
        };
  }
}

/**
 * `pnv_pci_ioda2_get_table_size` in host pages: each level of a multi-level TCE table rounded up
 * to the direct table size (the per-level table, at least a host page), the total doubled for the
 * userspace copy. 0 when the driver refuses the shape (no levels, more than 5, a window size that
 * is not a power of two).
 */
export function ioda2TablePages(
  windowSize: bigint,
  pageShift: number,
  levels: number,
  hostPageSize: bigint,
): bigint {
  if (levels === 0 || levels > 5 || windowSize === 0n || (windowSize & (windowSize - 1n)) !== 0n)
    return 0n;
  const windowShift = windowSize.toString(2).length - 1;
  const hostPageShift = hostPageSize.toString(2).length - 1;
  let entriesShift = Math.max(windowShift - pageShift, 0);
  let tceTableSize = 1n << BigInt(Math.max(entriesShift + 3, 12));
  entriesShift = Math.ceil(entriesShift / levels);
  const direct = 1n << BigInt(Math.max(entriesShift + 3, hostPageShift));
  let bytes = 0n;
  for (let l = levels; l > 0; l--) {
    bytes += ((tceTableSize + direct - 1n) / direct) * direct;
    tceTableSize = (tceTableSize / direct) << 3n;
    if (tceTableSize < direct) tceTableSize = direct;
  }
  return (bytes * 2n) / hostPageSize;
}

/**
 * Whether `pnv_pci_ioda2_table_alloc_pages` accepts the shape: the bits the levels index plus the
 * page shift must stay below 55 (the bits of a bus address the hardware decodes).
 */
export function ioda2TableShapeFits(
  windowSize: bigint,
  pageShift: number,
  levels: number,
  hostPageSize: bigint,
): boolean {
  const windowShift = windowSize.toString(2).length - 1;
  const hostPageShift = hostPageSize.toString(2).length - 1;
  const entriesShift = Math.ceil(Math.max(windowShift - pageShift, 0) / levels);
  const levelShift = Math.max(entriesShift + 3, hostPageShift);
  return (levelShift - 3) * levels + pageShift < 55;
}
