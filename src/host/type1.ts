/**
 * Linux's VFIO type1 IOMMU backend (as on an x86 host): arbitrary IOVA ranges within the
 * IOMMU's aperture, EEXIST on any overlap, a per-container mapping limit, per-page locked memory.
 */
import { HostContainer } from "./container.ts";
import { Errno } from "./errno.ts";
import type { HostEntry, HostIommu, HostWindow } from "./host-iommu.ts";
import type { IoctlBoundary } from "./ioctl.ts";
import type { HostPlatform } from "./platform.ts";
import type { HostProcess } from "./process.ts";

interface Mapping {
  readonly iova: bigint;
  readonly size: bigint;
  readonly hva: bigint;
  readonly perm: "r" | "w" | "rw";
}

/**
 * x86's MSI window, which the Intel and AMD IOMMU drivers report as a reserved region of every
 * group (IOMMU_RESV_MSI): DMA there is an interrupt, never memory.
 */
export const X86_MSI_WINDOW: readonly [bigint, bigint] = [0xfee00000n, 0xfeefffffn];

/** A usable IOVA range (both ends included), as VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE lists it. */
export interface IovaRange {
  readonly start: bigint;
  readonly end: bigint;
}

/**
 * The usable IOVA ranges: the aperture minus the reserved ranges (vfio_iommu_aper_expand and
 * vfio_iommu_resv_exclude in vfio_iommu_type1.c), in address order.
 */
export function usableIovaRanges(
  aperture: readonly [bigint, bigint],
  reserved: readonly (readonly [bigint, bigint])[],
): IovaRange[] {
  let ranges: IovaRange[] = [{ start: aperture[0], end: aperture[1] }];
  for (const [rs, re] of [...reserved].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const next: IovaRange[] = [];
    for (const r of ranges) {
      if (re < r.start || rs > r.end) {
        next.push(r);
        continue;
      }
      if (rs > r.start) next.push({ start: r.start, end: rs - 1n });
      if (re < r.end) next.push({ start: re + 1n, end: r.end });
    }
    ranges = next;
  }
  return ranges;
}

/** What VFIO_IOMMU_GET_INFO tells about a type1 container. */
export interface Type1Info {
  /** VFIO_IOMMU_INFO_PGSIZES. */
  readonly pgsizes: bigint;
  /** The VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE capability. */
  readonly iovaRanges: readonly IovaRange[];
  /** The VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL capability: mappings still allowed. */
  readonly dmaAvail: number;
}

/** A type1 container. */
export class Type1Container extends HostContainer implements HostIommu {
  readonly backend = "type1" as const;
  readonly #maps: Mapping[] = [];
  readonly #userMemory: readonly { start: bigint; size: bigint }[];

  constructor(
    platform: HostPlatform,
    userMemory: readonly { start: bigint; size: bigint }[],
    io?: IoctlBoundary,
    process?: HostProcess,
  ) {
    super(platform, io, process);
    this.#userMemory = userMemory;
  }

  /** Where MAP_DMA may map: the aperture minus the platform's reserved ranges. */
  get iovaRanges(): IovaRange[] {
    return usableIovaRanges(
      this.platform.iovaRange,
      this.platform.reservedIova ?? [X86_MSI_WINDOW],
    );
  }

  /**
   * The smallest IOMMU page: the alignment unit; 0 when the IOMMU declares no page size (no real
   * IOMMU does, and Linux's IOMMU core refuses to map on one: `iommu_map` warns and returns ENODEV).
   */
  get minPage(): bigint {
    const pg = this.platform.pgsizes;
    return pg & -pg;
  }

  expectedChargedPages(): bigint {
    return this.#maps.reduce((n, m) => n + m.size / this.platform.pageSize, 0n);
  }

  protected override get setIommuType(): string {
    return "type1v2";
  }

  protected releaseMappings(): void {
    this.#maps.length = 0;
  }

  /** VFIO_IOMMU_GET_INFO, with the IOVA-range and DMA-available capabilities the kernel adds. */
  getInfo(): { ret: number; pgsizes?: bigint; info?: Type1Info } {
    const ret = this.io.call("GET_INFO", {}, () => (this.groups.length ? 0 : -Errno.ENXIO));
    if (ret !== 0) return { ret };
    const info = {
      pgsizes: this.platform.pgsizes,
      iovaRanges: this.iovaRanges,
      dmaAvail: this.platform.dmaEntryLimit - this.#maps.length,
    };
    return { ret, pgsizes: info.pgsizes, info };
  }

  /** VFIO_IOMMU_MAP_DMA. */
  mapDma(iova: bigint, size: bigint, vaddr: bigint, read: boolean, write: boolean): number {
    const flags = (read ? 1 : 0) | (write ? 2 : 0);
    return this.io.call("MAP_DMA", { iova, size, vaddr, flags }, () => {
      if (!read && !write) return -Errno.EINVAL;
      const unit = this.minPage;
      if (unit === 0n) return -Errno.ENODEV;
      if (size === 0n || size % unit || iova % unit || vaddr % unit) return -Errno.EINVAL;
      if (iova + size > 1n << 64n || vaddr + size > 1n << 64n) return -Errno.EINVAL;
      if (this.#maps.some((m) => iova < m.iova + m.size && m.iova < iova + size))
        return -Errno.EEXIST;
      if (this.#maps.length >= this.platform.dmaEntryLimit) return -Errno.ENOSPC;
      // vfio_iommu_iova_dma_valid: the whole mapping inside one usable range.
      const last = iova + size - 1n;
      if (!this.iovaRanges.some((r) => iova >= r.start && last <= r.end)) return -Errno.EINVAL;
      if (!this.#userMemory.some((u) => vaddr >= u.start && vaddr + size <= u.start + u.size))
        return -Errno.EFAULT;
      if (!this.charge(size / this.platform.pageSize)) return -Errno.ENOMEM;
      this.#maps.push({ iova, size, hva: vaddr, perm: read && write ? "rw" : write ? "w" : "r" });
      this.#maps.sort((a, b) => (a.iova < b.iova ? -1 : 1));
      return 0;
    });
  }

  /** VFIO_IOMMU_UNMAP_DMA (type1v2: no bisecting a mapping). */
  unmapDma(iova: bigint, size: bigint): number {
    return this.io.call("UNMAP_DMA", { iova, size }, () => {
      const unit = this.minPage;
      // Nothing can have been mapped; there is no page size to check alignment against.
      if (unit === 0n) return -Errno.EINVAL;
      if (size === 0n || size % unit || iova % unit || iova + size > 1n << 64n)
        return -Errno.EINVAL;
      const end = iova + size;
      const bisects = this.#maps.some(
        (m) => (m.iova < iova && m.iova + m.size > iova) || (m.iova < end && m.iova + m.size > end),
      );
      if (bisects) return -Errno.EINVAL;
      for (let i = this.#maps.length - 1; i >= 0; i--) {
        const m = this.#maps[i];
        if (m.iova >= iova && m.iova + m.size <= end) {
          this.#maps.splice(i, 1);
          this.uncharge(m.size / this.platform.pageSize);
        }
      }
      return 0;
    });
  }

  entries(): HostEntry[] {
    const ps = this.minPage;
    const out: HostEntry[] = [];
    for (const m of this.#maps) {
      for (let off = 0n; off < m.size; off += ps)
        out.push({ iova: m.iova + off, pageSize: ps, hva: m.hva + off, perm: m.perm });
    }
    return out;
  }

  windows(): HostWindow[] {
    // An IOMMU without page sizes can map nothing: no usable aperture.
    if (this.minPage === 0n) return [];
    const [lo, hi] = this.platform.iovaRange;
    return [
      {
        start: lo,
        size: hi - lo + 1n,
        pageShift: Number(BigInt.asUintN(8, BigInt(this.minPage.toString(2).length - 1))),
      },
    ];
  }

  lookup(iova: bigint): HostEntry | undefined {
    if (this.minPage === 0n) return undefined;
    const m = this.#maps.find((x) => iova >= x.iova && iova < x.iova + x.size);
    if (!m) return undefined;
    const ps = this.minPage;
    const off = ((iova - m.iova) / ps) * ps;
    return { iova: m.iova + off, pageSize: ps, hva: m.hva + off, perm: m.perm };
  }
}
