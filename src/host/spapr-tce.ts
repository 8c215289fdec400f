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

interface PreregRegion {
  readonly vaddr: bigint;
  readonly size: bigint;
  readonly end: bigint;
  readonly pages: bigint;
  readonly maxPageShift: number;
  /** Mapped TCEs pointing into it. */
  mapped: number;
  /** Whether this container holds a reference. */
  owned: boolean;
}

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
  readonly #prereg: PreregRegion[] = [];
  /** The VMM's pinnable memory (guest RAM), for v1 pinning. */
  readonly #userMemory: readonly { start: bigint; size: bigint }[];
  #enabled = false;
  #defWindowPending = false;

  constructor(
    platform: HostPlatform,
    v2: boolean,
    userMemory: readonly { start: bigint; size: bigint }[],
    io?: IoctlBoundary,
  ) {
    super(platform, io);
    this.#v2 = v2;
    this.backend = v2 ? "spapr-tce-v2" : "spapr-tce";
    this.#userMemory = userMemory;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  expectedLockedPages(): bigint {
    let pages = 0n;
    for (const w of this.#slots) if (w) pages += w.tablePages;
    for (const r of this.#prereg) pages += r.pages;
    if (!this.#v2 && this.#enabled) pages += this.platform.tce32Size / this.platform.pageSize;
    return pages;
  }

  /** v1 needs a platform without DDW ownership ops, v2 one with them. */
  protected override refuseGroup(): number {
    return this.#v2 !== this.platform.ddw ? -Errno.EPERM : 0;
  }

  protected override groupAttached(first: boolean): void {
    if (this.#v2 && first && !this.#slots[0]) this.#defWindowPending = true;
  }

  /** Tables freed, preregistrations dropped. */
  protected releaseMappings(): void {
    this.#slots.fill(undefined);
    this.#prereg.length = 0;
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
    return this.io.call("ENABLE", {}, () => {
      if (this.#v2) return -Errno.ENOTTY;
      if (this.#enabled) return -Errno.EBUSY;
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
    return this.io.call("DISABLE", {}, () => {
      if (this.#v2) return -Errno.ENOTTY;
      if (!this.#enabled) return 0;
      this.#slots[0] = undefined;
      this.uncharge(this.platform.tce32Size / this.platform.pageSize);
      this.#enabled = false;
      return 0;
    });
  }

  /** VFIO_IOMMU_SPAPR_REGISTER_MEMORY (v2). */
  registerMemory(vaddr: bigint, size: bigint): number {
    return this.io.call("REGISTER_MEMORY", { vaddr, size }, () => {
      if (!this.#v2) return -Errno.ENOTTY;
      const ps = this.platform.pageSize;
      if (vaddr % ps !== 0n || size % ps !== 0n || size === 0n || vaddr + size > 1n << 64n)
        return -Errno.EINVAL;
      const same = this.#prereg.find((r) => r.vaddr === vaddr && r.size === size);
      if (same?.owned) return -Errno.EBUSY;
      if (same) {
        same.owned = true;
      } else {
        if (this.#prereg.some((r) => vaddr < r.vaddr + r.size && r.vaddr < vaddr + size))
          return -Errno.EINVAL;
        const pages = size / ps;
        if (!this.charge(pages)) return -Errno.ENOMEM;
        // Pinning (mm_iommu_do_alloc) fails on an address the process has not mapped: the
        // charge is returned and the ioctl fails with EFAULT.
        if (!this.#pinnable(vaddr, size)) {
          this.uncharge(pages);
          return -Errno.EFAULT;
        }
        const align = Math.min(ctz(vaddr | size), ctz(this.platform.ramPageSize));
        this.#prereg.push({
          vaddr,
          size,
          end: vaddr + size,
          pages,
          maxPageShift: align,
          mapped: 0,
          owned: true,
        });
      }
      this.#enabled = true;
      return 0;
    });
  }

  /** VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY (v2). */
  unregisterMemory(vaddr: bigint, size: bigint): number {
    return this.io.call("UNREGISTER_MEMORY", { vaddr, size }, () => {
      if (!this.#v2) return -Errno.ENOTTY;
      const ps = this.platform.pageSize;
      if (vaddr % ps !== 0n || size % ps !== 0n) return -Errno.EINVAL;
      const at = this.#prereg.findIndex((r) => r.vaddr === vaddr && r.size === size);
      if (at < 0 || !this.#prereg[at].owned) return -Errno.ENOENT;
      const region = this.#prereg[at];
      region.owned = false;
      // Still mapped by TCEs: the release fails and the error is dropped; the region stays pinned.
      if (region.mapped > 0) return 0;
      this.#prereg.splice(at, 1);
      this.uncharge(region.pages);
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

  /** The table pages a window costs: its TCEs (8 bytes each, at least one page) and their shadow. */
  #tablePages(size: bigint, pageShift: number): bigint {
    const bytes = (size >> BigInt(pageShift)) * 8n;
    const ps = this.platform.pageSize;
    const pages = bytes <= ps ? 1n : (bytes + ps - 1n) / ps;
    return pages * 2n;
  }

  #createPendingDefault(): number {
    if (!this.#defWindowPending) return 0;
    this.#defWindowPending = false;
    const size = this.platform.tce32Size;
    const pages = this.#tablePages(size, 12);
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
    const ret = this.io.call(
      "TCE_CREATE",
      { page_shift: pageShift, window_size: windowSize, levels },
      () => {
        if (!this.#v2) return -Errno.ENOTTY;
        if (this.groups.length === 0) return -Errno.ENXIO;
        const pending = this.#createPendingDefault();
        if (pending) return pending;
        const slot = this.#slots.findIndex((w) => !w);
        if (slot < 0) return -Errno.ENOSPC;
        if (pageShift >= 64 || !((this.platform.pgsizes >> BigInt(pageShift)) & 1n))
          return -Errno.EINVAL;
        if (levels === 0 || levels > this.platform.maxLevels) return -Errno.EINVAL;
        if (windowSize === 0n || (windowSize & (windowSize - 1n)) !== 0n) return -Errno.EINVAL;
        const pages = this.#tablePages(windowSize, pageShift);
        if (!this.charge(pages)) return -Errno.ENOMEM;
        start = this.platform.windowStarts[slot] ?? 0n;
        this.#slots[slot] = this.#newWindow(start, pageShift, windowSize, levels, pages);
        return 0;
      },
    );
    return ret === 0 ? { ret, start } : { ret };
  }

  /** VFIO_IOMMU_SPAPR_TCE_REMOVE (v2): removes the window containing `start`. */
  removeWindow(start: bigint): number {
    return this.io.call("TCE_REMOVE", { start_addr: start }, () => {
      if (!this.#v2) return -Errno.ENOTTY;
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
    w.entries.clearRange(first, count, (_, value, n) => {
      const hva = hvaOf(value);
      const region = this.#prereg.find((r) => hva >= r.vaddr && hva < r.end);
      if (region) region.mapped -= n;
    });
  }

  #lastRegion: PreregRegion | undefined;

  /** The preregistered region holding [hva, hva + size), remembering the last one found. */
  #preregFor(hva: bigint, size: bigint): PreregRegion | undefined {
    const last = this.#lastRegion;
    const end = hva + size;
    // Unregistering drops the remembered region (it may still be pinned, so check it is listed).
    if (last && hva >= last.vaddr && end <= last.end && this.#prereg.includes(last)) return last;
    const found = this.#prereg.find((r) => hva >= r.vaddr && end <= r.end);
    this.#lastRegion = found;
    return found;
  }

  #pinnable(hva: bigint, size: bigint): boolean {
    return this.#userMemory.some((m) => hva >= m.start && hva + size <= m.start + m.size);
  }

  /** VFIO_IOMMU_MAP_DMA: absolute bus addresses; a valid entry is silently replaced. */
  mapDma(iova: bigint, size: bigint, vaddr: bigint, read: boolean, write: boolean): number {
    const flags = (read ? 1 : 0) | (write ? 2 : 0);
    return this.io.call("MAP_DMA", { iova, size, vaddr, flags }, () => {
      if (!this.#enabled) return -Errno.EPERM;
      const pending = this.#createPendingDefault();
      if (pending) return pending;
      const w = this.#windowFor(iova);
      if (!w) return -Errno.ENXIO;
      const ps = w.pageSize;
      const low = w.offsetMask;
      if ((size & low) !== 0n || (vaddr & low) !== 0n || size === 0n) return -Errno.EINVAL;
      if (!read && !write) return -Errno.EINVAL;
      // The driver's parameter check returns a boolean: +1, not an errno.
      if ((iova & low) !== 0n) return 1;
      if (iova + size > w.end) return -Errno.EINVAL;
      const first = Number((iova - w.start) >> w.shift);
      const count = size === ps ? 1 : Number(size >> w.shift);
      const permBits = BigInt(flags);
      for (let i = 0; i < count; i++) {
        const hva = i === 0 ? vaddr : vaddr + BigInt(i) * ps;
        let region: PreregRegion | undefined;
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
    });
  }

  /** VFIO_IOMMU_UNMAP_DMA: clears entries; unmapped ones are fine. */
  unmapDma(iova: bigint, size: bigint): number {
    return this.io.call("UNMAP_DMA", { iova, size }, () => {
      if (!this.#enabled) return -Errno.EPERM;
      const pending = this.#createPendingDefault();
      if (pending) return pending;
      const w = this.#windowFor(iova);
      if (!w) return -Errno.ENXIO;
      if ((size & w.offsetMask) !== 0n) return -Errno.EINVAL;
      if ((iova & w.offsetMask) !== 0n) return 1;
      const first = Number((iova - w.start) >> w.shift);
      const total = Number(w.size >> w.shift);
      this.#clear(w, first, Math.min(Number(size >> w.shift), total - first));
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
