/**
 * Linux's iommufd (/dev/iommu) as userspace sees it, and the container QEMU 10's iommufd backend
 * for vfio-pci builds on it (`-object iommufd,id=fd0 -device vfio-pci,iommufd=fd0,...`).
 *
 * The kernel side follows drivers/iommu/iommufd/ (ioas.c, io_pagetable.c, hw_pagetable.c,
 * device.c, pages.c) and include/uapi/linux/iommufd.h: objects with ids counted from 1 (bound
 * devices, IOASes, hardware page tables), an IOAS holding areas of user memory at fixed or
 * allocated IOVAs, reserved ranges (outside a domain's aperture, a device's reserved regions),
 * allowed ranges, and pages pinned and charged to RLIMIT_MEMLOCK only while a domain (a hardware
 * page table) holds the IOAS. The errno of every refusal is the kernel's, in the kernel's order.
 *
 * Where it applies: an IOMMU driver that gives paging domains (Intel VT-d, AMD-Vi, Arm SMMUv3;
 * the hosts where VFIO uses type1). Linux's sPAPR TCE IOMMU (arch/powerpc/kernel/iommu.c,
 * `spapr_tce_iommu_ops`) offers only the platform and blocked domains: a device binds, but no
 * paging domain can be allocated for it, so HWPT_ALLOC and attaching to an IOAS fail with
 * EOPNOTSUPP (`iommu_paging_domain_alloc_flags` without `domain_alloc_paging`). QEMU 10's ppc64
 * build has no iommufd object at all ("invalid object type: iommufd"), so QEMU never gets there.
 */
import { Errno } from "./errno.ts";
import type { HostEntry, HostIommu, HostWindow } from "./host-iommu.ts";
import { IoctlBoundary } from "./ioctl.ts";
import type { HostPlatform } from "./platform.ts";
import { HostProcess } from "./process.ts";
import { X86_MSI_WINDOW } from "./type1.ts";

/** IOMMU_IOAS_MAP / IOMMU_IOAS_COPY flags (include/uapi/linux/iommufd.h). */
export const IOAS_MAP_FIXED_IOVA = 1;
export const IOAS_MAP_WRITEABLE = 2;
export const IOAS_MAP_READABLE = 4;
const MAP_FLAGS = IOAS_MAP_FIXED_IOVA | IOAS_MAP_WRITEABLE | IOAS_MAP_READABLE;

/** ULONG_MAX on a 64-bit kernel: the IOVA and length ioctls refuse it (EOVERFLOW). */
const ULONG_MAX = (1n << 64n) - 1n;

/** An IOVA range, both ends included (`struct iommu_iova_range`). */
export interface IommufdRange {
  readonly start: bigint;
  readonly last: bigint;
}

/** User memory an area maps (`struct iopt_pages`): shared by the areas IOAS_COPY made from it. */
interface Pages {
  readonly uptr: bigint;
  readonly length: bigint;
  readonly writable: boolean;
  /** Areas using it. */
  refs: number;
  /** Host pages pinned and charged; 0 while no domain holds it. */
  pinned: bigint;
}

interface Area {
  readonly iova: bigint;
  readonly length: bigint;
  readonly pages: Pages;
  /** Byte offset of the area's first byte within `pages`. */
  readonly start: bigint;
  readonly read: boolean;
  readonly write: boolean;
}

interface Reserved extends IommufdRange {
  /** Who reserved it: a hardware page table's aperture or a bound device's regions. */
  readonly owner: number;
}

interface Ioas {
  readonly kind: "ioas";
  readonly id: number;
  readonly areas: Area[];
  readonly reserved: Reserved[];
  allowed: IommufdRange[];
  /** Hardware page tables (domains) filled from this IOAS. */
  readonly hwpts: number[];
  iovaAlignment: bigint;
}

interface Hwpt {
  readonly kind: "hwpt";
  readonly id: number;
  readonly ioas: number;
  /** Devices attached to it. */
  readonly devices: number[];
  /** Made by attaching a device to an IOAS (destroyed with its last device). */
  readonly auto: boolean;
}

interface Device {
  readonly kind: "device";
  readonly id: number;
  readonly name: string;
  /** The hardware page table it is attached to, if any. */
  hwpt: number | undefined;
}

type IommufdObject = Ioas | Hwpt | Device;

/** What an IOMMU_IOAS_MAP or IOMMU_IOAS_COPY answers. */
export interface IommufdMapResult {
  readonly ret: number;
  /** The IOVA used (the one chosen, without FIXED_IOVA). */
  readonly iova?: bigint;
}

const overlaps = (a0: bigint, a1: bigint, b0: bigint, b1: bigint) => a0 <= b1 && b0 <= a1;
const lowestBit = (v: bigint) => v & -v;
const roundUpPow2 = (v: bigint) => {
  let p = 1n;
  while (p < v) p <<= 1n;
  return p;
};

/**
 * One open /dev/iommu: its objects and ioctls. `pagingDomains` is false on a host whose IOMMU
 * driver gives no paging domain (sPAPR TCE): binding works, HWPT_ALLOC and IOAS attach do not.
 */
export class Iommufd {
  readonly platform: HostPlatform;
  readonly io: IoctlBoundary;
  readonly process: HostProcess;
  readonly pagingDomains: boolean;
  readonly #objects = new Map<number, IommufdObject>();
  #nextId = 1;
  readonly #userMemory: readonly { start: bigint; size: bigint }[];

  constructor(
    platform: HostPlatform,
    userMemory: readonly { start: bigint; size: bigint }[],
    options: { io?: IoctlBoundary; process?: HostProcess; pagingDomains?: boolean } = {},
  ) {
    this.platform = platform;
    this.#userMemory = userMemory;
    this.io = options.io ?? new IoctlBoundary(platform.faults);
    this.process = options.process ?? new HostProcess(platform.pageSize, platform.memlockLimit);
    this.pagingDomains = options.pagingDomains ?? true;
  }

  #alloc<T extends IommufdObject>(make: (id: number) => T): T {
    const o = make(this.#nextId++);
    this.#objects.set(o.id, o);
    return o;
  }

  #ioas(id: number): Ioas | undefined {
    const o = this.#objects.get(id);
    return o?.kind === "ioas" ? o : undefined;
  }

  #device(id: number): Device | undefined {
    const o = this.#objects.get(id);
    return o?.kind === "device" ? o : undefined;
  }

  // --- VFIO device cdev -------------------------------------------------------------------

  /** VFIO_DEVICE_BIND_IOMMUFD on a device's cdev: the device becomes an object (its devid). */
  bindDevice(name: string): { ret: number; devId?: number } {
    let devId: number | undefined;
    const ret = this.io.call("VFIO_DEVICE_BIND_IOMMUFD", { device: name }, () => {
      // vfio_df_ioctl_bind_iommufd: a cdev binds once.
      for (const o of this.#objects.values())
        if (o.kind === "device" && o.name === name) return -Errno.EINVAL;
      devId = this.#alloc((id): Device => ({ kind: "device", id, name, hwpt: undefined })).id;
      return 0;
    });
    return ret === 0 ? { ret, devId } : { ret };
  }

  /**
   * VFIO_DEVICE_ATTACH_IOMMUFD_PT: to a hardware page table, or to an IOAS (the kernel finds a
   * compatible automatic domain of that IOAS or allocates one). Attaching enforces the device's
   * reserved regions on the IOAS (EADDRINUSE where something is mapped or allowed there).
   */
  attachDevice(devId: number, ptId: number): { ret: number; hwptId?: number } {
    let hwptId: number | undefined;
    const ret = this.io.call(
      "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
      { dev_id: devId, pt_id: ptId },
      () => {
        const dev = this.#device(devId);
        if (!dev) return -Errno.ENOENT;
        if (dev.hwpt !== undefined) return -Errno.EBUSY;
        const pt = this.#objects.get(ptId);
        if (!pt || pt.kind === "device") return -Errno.ENOENT;
        let hwpt: Hwpt;
        if (pt.kind === "hwpt") hwpt = pt;
        else {
          const existing = pt.hwpts
            .map((h) => this.#objects.get(h))
            .find((h): h is Hwpt => h?.kind === "hwpt" && h.auto);
          if (existing) hwpt = existing;
          else {
            const made = this.#newHwpt(pt, true);
            if (typeof made === "number") return made;
            hwpt = made;
          }
        }
        const ioas = this.#ioas(hwpt.ioas)!;
        const rc = this.#reserveDeviceRegions(ioas, dev.id);
        if (rc) {
          if (hwpt.auto && hwpt.devices.length === 0) this.#dropHwpt(hwpt);
          return rc;
        }
        hwpt.devices.push(dev.id);
        dev.hwpt = hwpt.id;
        hwptId = hwpt.id;
        return 0;
      },
    );
    return ret === 0 ? { ret, hwptId } : { ret };
  }

  /** VFIO_DEVICE_DETACH_IOMMUFD_PT; an automatic domain goes with its last device. */
  detachDevice(devId: number): number {
    return this.io.call("VFIO_DEVICE_DETACH_IOMMUFD_PT", { dev_id: devId }, () => {
      const dev = this.#device(devId);
      if (!dev || dev.hwpt === undefined) return -Errno.EINVAL;
      const hwpt = this.#objects.get(dev.hwpt) as Hwpt;
      hwpt.devices.splice(hwpt.devices.indexOf(dev.id), 1);
      dev.hwpt = undefined;
      const ioas = this.#ioas(hwpt.ioas)!;
      this.#removeReserved(ioas, dev.id);
      if (hwpt.auto && hwpt.devices.length === 0) this.#dropHwpt(hwpt);
      return 0;
    });
  }

  /** The device's cdev closed: detached and unbound. */
  unbindDevice(devId: number): void {
    const dev = this.#device(devId);
    if (!dev) return;
    if (dev.hwpt !== undefined) this.detachDevice(devId);
    this.#objects.delete(devId);
  }

  // --- objects ----------------------------------------------------------------------------

  /** IOMMU_IOAS_ALLOC. */
  ioasAlloc(flags = 0): { ret: number; ioasId?: number } {
    let ioasId: number | undefined;
    const ret = this.io.call("IOMMU_IOAS_ALLOC", { flags }, () => {
      if (flags) return -Errno.EOPNOTSUPP;
      ioasId = this.#alloc(
        (id): Ioas => ({
          kind: "ioas",
          id,
          areas: [],
          reserved: [],
          allowed: [],
          hwpts: [],
          // iopt_init_table: a software table has no alignment until a domain joins.
          iovaAlignment: 1n,
        }),
      ).id;
      return 0;
    });
    return ret === 0 ? { ret, ioasId } : { ret };
  }

  /** IOMMU_HWPT_ALLOC: a paging domain for a bound device, filled from an IOAS. */
  hwptAlloc(devId: number, ptId: number, flags = 0): { ret: number; hwptId?: number } {
    let hwptId: number | undefined;
    const ret = this.io.call("IOMMU_HWPT_ALLOC", { dev_id: devId, pt_id: ptId, flags }, () => {
      if (!this.#device(devId)) return -Errno.ENOENT;
      const pt = this.#objects.get(ptId);
      if (!pt) return -Errno.ENOENT;
      if (pt.kind !== "ioas") return -Errno.EINVAL;
      // Dirty tracking and nesting parents are not modelled: only flags 0.
      if (flags) return -Errno.EOPNOTSUPP;
      const made = this.#newHwpt(pt, false);
      if (typeof made === "number") return made;
      hwptId = made.id;
      return 0;
    });
    return ret === 0 ? { ret, hwptId } : { ret };
  }

  /** IOMMU_DESTROY: EBUSY while something uses the object. */
  destroy(id: number): number {
    return this.io.call("IOMMU_DESTROY", { id }, () => {
      const o = this.#objects.get(id);
      if (!o) return -Errno.ENOENT;
      if (o.kind === "device") return -Errno.ENOENT;
      if (o.kind === "hwpt") {
        if (o.devices.length) return -Errno.EBUSY;
        this.#dropHwpt(o);
        return 0;
      }
      if (o.hwpts.length) return -Errno.EBUSY;
      for (const a of o.areas.splice(0)) this.#putPages(a.pages);
      this.#objects.delete(id);
      return 0;
    });
  }

  /**
   * A paging domain joins an IOAS (`iopt_table_add_domain`): its smallest page becomes the IOVA
   * alignment (never above PAGE_SIZE), everything outside its aperture is reserved (EADDRINUSE
   * where an area lies), and every area's pages are pinned into it.
   */
  #newHwpt(ioas: Ioas, auto: boolean): Hwpt | number {
    if (!this.pagingDomains) return -Errno.EOPNOTSUPP;
    const page = lowestBit(this.platform.pgsizes);
    if (page === 0n) return -Errno.EOPNOTSUPP;
    const alignment = page > ioas.iovaAlignment ? page : ioas.iovaAlignment;
    if (alignment > this.platform.pageSize) return -Errno.EINVAL;
    if (alignment !== ioas.iovaAlignment) {
      const mask = alignment - 1n;
      for (const a of ioas.areas)
        if (
          a.iova & mask ||
          a.length & mask ||
          ((a.pages.uptr + a.start) % this.platform.pageSize) & mask
        )
          return -Errno.EADDRINUSE;
    }
    const id = this.#nextId;
    const [first, last] = this.platform.iovaRange;
    const outside: IommufdRange[] = [];
    if (first !== 0n) outside.push({ start: 0n, last: first - 1n });
    if (last !== ULONG_MAX) outside.push({ start: last + 1n, last: ULONG_MAX });
    for (const r of outside) {
      const rc = this.#reserve(ioas, r, id);
      if (rc) {
        this.#removeReserved(ioas, id);
        return rc;
      }
    }
    const rc = this.#pinAll(ioas);
    if (rc) {
      this.#removeReserved(ioas, id);
      return rc;
    }
    ioas.iovaAlignment = alignment;
    const hwpt = this.#alloc(
      (hid): Hwpt => ({ kind: "hwpt", id: hid, ioas: ioas.id, devices: [], auto }),
    );
    ioas.hwpts.push(hwpt.id);
    return hwpt;
  }

  #dropHwpt(hwpt: Hwpt): void {
    const ioas = this.#ioas(hwpt.ioas)!;
    ioas.hwpts.splice(ioas.hwpts.indexOf(hwpt.id), 1);
    this.#removeReserved(ioas, hwpt.id);
    this.#objects.delete(hwpt.id);
    if (ioas.hwpts.length === 0) {
      // The last domain gone: nothing holds the pages pinned any more.
      for (const a of ioas.areas) this.#unpin(a.pages);
      ioas.iovaAlignment = 1n;
    }
  }

  // --- reserved and allowed ranges ----------------------------------------------------------

  /** `iopt_reserve_iova`: refused (EADDRINUSE) where an area or an allowed range lies. */
  #reserve(ioas: Ioas, r: IommufdRange, owner: number): number {
    if (ioas.areas.some((a) => overlaps(a.iova, a.iova + a.length - 1n, r.start, r.last)))
      return -Errno.EADDRINUSE;
    if (ioas.allowed.some((x) => overlaps(x.start, x.last, r.start, r.last)))
      return -Errno.EADDRINUSE;
    ioas.reserved.push({ ...r, owner });
    return 0;
  }

  #removeReserved(ioas: Ioas, owner: number): void {
    for (let i = ioas.reserved.length - 1; i >= 0; i--)
      if (ioas.reserved[i].owner === owner) ioas.reserved.splice(i, 1);
  }

  /** `iopt_table_enforce_dev_resv_regions`: the platform's reserved regions of the device's group. */
  #reserveDeviceRegions(ioas: Ioas, devId: number): number {
    if (ioas.reserved.some((r) => r.owner === devId)) return 0;
    for (const [start, last] of this.platform.reservedIova ?? [X86_MSI_WINDOW]) {
      const rc = this.#reserve(ioas, { start, last }, devId);
      if (rc) {
        this.#removeReserved(ioas, devId);
        return rc;
      }
    }
    return 0;
  }

  /** IOMMU_IOAS_IOVA_RANGES: the holes between reserved ranges; EMSGSIZE when `capacity` is short. */
  ioasIovaRanges(
    ioasId: number,
    capacity = Number.MAX_SAFE_INTEGER,
  ): { ret: number; numIovas?: number; ranges?: IommufdRange[]; alignment?: bigint } {
    let out: { numIovas: number; ranges: IommufdRange[]; alignment: bigint } | undefined;
    const ret = this.io.call("IOMMU_IOAS_IOVA_RANGES", { ioas_id: ioasId }, () => {
      const ioas = this.#ioas(ioasId);
      if (!ioas) return -Errno.ENOENT;
      const holes = this.usableRanges(ioasId);
      out = {
        numIovas: holes.length,
        ranges: holes.slice(0, capacity),
        alignment: ioas.iovaAlignment,
      };
      // The count and alignment are written back before the size check, as the kernel does.
      return holes.length > capacity ? -Errno.EMSGSIZE : 0;
    });
    return out ? { ret, ...out } : { ret };
  }

  /** The holes of an IOAS's reserved ranges, in address order (no ioctl recorded). */
  usableRanges(ioasId: number): IommufdRange[] {
    const ioas = this.#ioas(ioasId);
    if (!ioas) return [];
    const taken = [...ioas.reserved].sort((a, b) =>
      a.start < b.start ? -1 : a.start > b.start ? 1 : 0,
    );
    const holes: IommufdRange[] = [];
    let next = 0n;
    let done = false;
    for (const r of taken) {
      if (r.start > next) holes.push({ start: next, last: r.start - 1n });
      if (r.last >= ULONG_MAX) {
        done = true;
        break;
      }
      if (r.last + 1n > next) next = r.last + 1n;
    }
    if (!done) holes.push({ start: next, last: ULONG_MAX });
    return holes;
  }

  /** IOMMU_IOAS_ALLOW_IOVAS: replaces the allowed list; EADDRINUSE if a reserved range meets it. */
  ioasAllowIovas(ioasId: number, ranges: readonly IommufdRange[]): number {
    return this.io.call(
      "IOMMU_IOAS_ALLOW_IOVAS",
      { ioas_id: ioasId, num_iovas: ranges.length },
      () => {
        const ioas = this.#ioas(ioasId);
        if (!ioas) return -Errno.ENOENT;
        const loaded: IommufdRange[] = [];
        for (const r of ranges) {
          if (r.start >= r.last) return -Errno.EINVAL;
          if (loaded.some((x) => overlaps(x.start, x.last, r.start, r.last))) return -Errno.EINVAL;
          loaded.push(r);
        }
        if (
          loaded.some((a) => ioas.reserved.some((r) => overlaps(a.start, a.last, r.start, r.last)))
        )
          return -Errno.EADDRINUSE;
        ioas.allowed = loaded;
        return 0;
      },
    );
  }

  // --- mapping --------------------------------------------------------------------------

  /** IOMMU_IOAS_MAP of user memory. */
  ioasMap(
    ioasId: number,
    iova: bigint,
    length: bigint,
    userVa: bigint,
    flags: number,
  ): IommufdMapResult {
    let chosen: bigint | undefined;
    const ret = this.io.call(
      "IOMMU_IOAS_MAP",
      { ioas_id: ioasId, iova, length, user_va: userVa, flags },
      () => {
        if (flags & ~MAP_FLAGS) return -Errno.EOPNOTSUPP;
        if (iova >= ULONG_MAX || length >= ULONG_MAX) return -Errno.EOVERFLOW;
        if (!(flags & (IOAS_MAP_WRITEABLE | IOAS_MAP_READABLE))) return -Errno.EINVAL;
        const ioas = this.#ioas(ioasId);
        if (!ioas) return -Errno.ENOENT;
        // iopt_alloc_user_pages: the user range may not wrap.
        if (userVa + length > ULONG_MAX + 1n) return -Errno.EOVERFLOW;
        const pageOffset = userVa % this.platform.pageSize;
        const pages: Pages = {
          uptr: userVa - pageOffset,
          length: length + pageOffset,
          writable: (flags & IOAS_MAP_WRITEABLE) !== 0,
          refs: 0,
          pinned: 0n,
        };
        const r = this.#insert(ioas, [{ pages, start: pageOffset, length }], iova, flags);
        if (typeof r === "number") return r;
        chosen = r;
        return 0;
      },
    );
    return ret === 0 ? { ret, iova: chosen } : { ret };
  }

  /**
   * IOMMU_IOAS_COPY: maps, in `dstIoas`, the same pages that [srcIova, srcIova + length) maps in
   * `srcIoas` (no new pinning or charge while they are pinned already). The source range must be
   * covered by areas without a gap (ENOENT).
   */
  ioasCopy(
    dstIoas: number,
    srcIoas: number,
    dstIova: bigint,
    srcIova: bigint,
    length: bigint,
    flags: number,
  ): IommufdMapResult {
    let chosen: bigint | undefined;
    const ret = this.io.call(
      "IOMMU_IOAS_COPY",
      {
        dst_ioas_id: dstIoas,
        src_ioas_id: srcIoas,
        dst_iova: dstIova,
        src_iova: srcIova,
        length,
        flags,
      },
      () => {
        if (flags & ~MAP_FLAGS) return -Errno.EOPNOTSUPP;
        if (length >= ULONG_MAX || srcIova >= ULONG_MAX || dstIova >= ULONG_MAX)
          return -Errno.EOVERFLOW;
        if (!(flags & (IOAS_MAP_WRITEABLE | IOAS_MAP_READABLE))) return -Errno.EINVAL;
        const src = this.#ioas(srcIoas);
        if (!src) return -Errno.ENOENT;
        // iopt_get_pages
        if (length === 0n) return -Errno.EINVAL;
        const last = srcIova + length - 1n;
        if (last > ULONG_MAX) return -Errno.EOVERFLOW;
        const pieces: { pages: Pages; start: bigint; length: bigint }[] = [];
        let at = srcIova;
        for (const a of src.areas) {
          if (at > last) break;
          const aLast = a.iova + a.length - 1n;
          if (aLast < at) continue;
          if (a.iova > at) break;
          const end = aLast < last ? aLast : last;
          pieces.push({ pages: a.pages, start: a.start + (at - a.iova), length: end - at + 1n });
          at = end + 1n;
        }
        if (at <= last) return -Errno.ENOENT;
        const dst = this.#ioas(dstIoas);
        if (!dst) return -Errno.ENOENT;
        const r = this.#insert(dst, pieces, dstIova, flags);
        if (typeof r === "number") return r;
        chosen = r;
        return 0;
      },
    );
    return ret === 0 ? { ret, iova: chosen } : { ret };
  }

  /**
   * `iopt_map_pages`: the IOVA checked (FIXED_IOVA) or allocated, the areas inserted, then their
   * pages pinned into the IOAS's domains (if it has any). Returns the IOVA or -errno, leaving the
   * IOAS as it was on failure.
   */
  #insert(
    ioas: Ioas,
    pieces: readonly { pages: Pages; start: bigint; length: bigint }[],
    iova: bigint,
    flags: number,
  ): bigint | number {
    const length = pieces.reduce((n, p) => n + p.length, 0n);
    const align = ioas.iovaAlignment;
    if (length % align || length === 0n) return -Errno.EINVAL;
    if (flags & IOAS_MAP_FIXED_IOVA) {
      // iopt_check_iova
      if (iova % align) return -Errno.EINVAL;
      const last = iova + length - 1n;
      if (last > ULONG_MAX) return -Errno.EOVERFLOW;
      if (ioas.reserved.some((r) => overlaps(r.start, r.last, iova, last))) return -Errno.EINVAL;
      if (ioas.areas.some((a) => overlaps(a.iova, a.iova + a.length - 1n, iova, last)))
        return -Errno.EEXIST;
    } else {
      const found = this.#allocIova(ioas, pieces[0].pages.uptr + pieces[0].start, length);
      if (typeof found === "number") return found;
      iova = found;
    }
    const read = (flags & IOAS_MAP_READABLE) !== 0;
    const write = (flags & IOAS_MAP_WRITEABLE) !== 0;
    const added: Area[] = [];
    let at = iova;
    for (const p of pieces) {
      // iopt_insert_area
      if (write && !p.pages.writable) return -Errno.EPERM;
      if ((p.start % this.platform.pageSize) % align) return -Errno.EINVAL;
      added.push({ iova: at, length: p.length, pages: p.pages, start: p.start, read, write });
      at += p.length;
    }
    for (const a of added) a.pages.refs++;
    if (ioas.hwpts.length) {
      for (const a of added) {
        const rc = this.#pin(a.pages);
        if (rc) {
          for (const b of added) {
            b.pages.refs--;
            if (b.pages.refs === 0) this.#unpin(b.pages);
          }
          return rc;
        }
      }
    }
    ioas.areas.push(...added);
    ioas.areas.sort((a, b) => (a.iova < b.iova ? -1 : 1));
    return iova;
  }

  /**
   * `iopt_alloc_iova`: the first hole (not reserved, not mapped; within the allowed ranges if
   * any) from PAGE_SIZE on, aligned to the smaller of the length rounded up to a power of two and
   * the user address's lowest set bit, keeping the user address's offset within its page.
   */
  #allocIova(ioas: Ioas, uptr: bigint, length: bigint): bigint | number {
    if (length === 0n || length >= ULONG_MAX / 2n) return -Errno.EOVERFLOW;
    const ps = this.platform.pageSize;
    const pageOffset = uptr % ps;
    let alignment = roundUpPow2(length);
    if (uptr !== 0n && lowestBit(uptr) < alignment) alignment = lowestBit(uptr);
    if (alignment < ioas.iovaAlignment) return -Errno.EINVAL;
    const windows = ioas.allowed.length ? ioas.allowed : [{ start: ps, last: ULONG_MAX - ps }];
    const used = [
      ...ioas.reserved.map((r) => [r.start, r.last] as const),
      ...ioas.areas.map((a) => [a.iova, a.iova + a.length - 1n] as const),
    ].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (const w of windows) {
      const lo = w.start < ps ? ps : w.start;
      const hi = w.last > ULONG_MAX - ps ? ULONG_MAX - ps : w.last;
      let holeStart = lo;
      for (const [s, e] of [...used, [hi + 1n, hi + 1n] as const]) {
        if (e < holeStart) continue;
        const holeLast = (s > hi + 1n ? hi + 1n : s) - 1n;
        const start = (((holeStart + alignment - 1n) / alignment) * alignment) | pageOffset;
        if (holeLast >= start && holeLast - start >= length - 1n) return start;
        if (e + 1n > holeStart) holeStart = e + 1n;
        if (holeStart > hi) break;
      }
    }
    return -Errno.ENOSPC;
  }

  /** IOMMU_IOAS_UNMAP: whole areas only (ENOENT if one is cut or none is found); returns the length unmapped. */
  ioasUnmap(ioasId: number, iova: bigint, length: bigint): { ret: number; unmapped?: bigint } {
    let unmapped = 0n;
    const ret = this.io.call("IOMMU_IOAS_UNMAP", { ioas_id: ioasId, iova, length }, () => {
      const ioas = this.#ioas(ioasId);
      if (!ioas) return -Errno.ENOENT;
      let first = iova;
      let last: bigint;
      const all = iova === 0n && length === ULONG_MAX;
      if (all) last = ULONG_MAX;
      else {
        if (iova >= ULONG_MAX || length >= ULONG_MAX) return -Errno.EOVERFLOW;
        if (length === 0n) return -Errno.EINVAL;
        last = iova + length - 1n;
        if (last > ULONG_MAX) return -Errno.EOVERFLOW;
      }
      // iopt_unmap_iova_range removes areas in address order and stops at the first one cut.
      let rc = -Errno.ENOENT;
      for (;;) {
        const a = ioas.areas.find((x) => overlaps(x.iova, x.iova + x.length - 1n, first, last));
        if (!a) break;
        // Areas before it stay unmapped: the kernel does not undo them.
        if (a.iova < first || a.iova + a.length - 1n > last) return -Errno.ENOENT;
        ioas.areas.splice(ioas.areas.indexOf(a), 1);
        this.#putPages(a.pages);
        unmapped += a.length;
        first = a.iova + a.length;
        if (first > ULONG_MAX) break;
      }
      if (unmapped) rc = 0;
      // iopt_unmap_all: an empty IOAS unmaps all successfully.
      if (all && rc === -Errno.ENOENT) rc = 0;
      return rc;
    });
    return { ret, unmapped };
  }

  // --- pinning and RLIMIT_MEMLOCK ---------------------------------------------------------

  #hostPages(p: Pages): bigint {
    const ps = this.platform.pageSize;
    return (p.length + ps - 1n) / ps;
  }

  /** Pins a pages object (once): EFAULT outside the process's memory, ENOMEM past RLIMIT_MEMLOCK. */
  #pin(p: Pages): number {
    if (p.pinned) return 0;
    if (!this.#userMemory.some((u) => p.uptr >= u.start && p.uptr + p.length <= u.start + u.size))
      return -Errno.EFAULT;
    const n = this.#hostPages(p);
    if (!this.process.charge(n)) return -Errno.ENOMEM;
    p.pinned = n;
    return 0;
  }

  #unpin(p: Pages): void {
    if (!p.pinned) return;
    this.process.uncharge(p.pinned);
    p.pinned = 0n;
  }

  #pinAll(ioas: Ioas): number {
    if (ioas.hwpts.length) return 0;
    const done: Pages[] = [];
    for (const a of ioas.areas) {
      if (a.pages.pinned) continue;
      const rc = this.#pin(a.pages);
      if (rc) {
        for (const p of done) this.#unpin(p);
        return rc;
      }
      done.push(a.pages);
    }
    return 0;
  }

  #putPages(p: Pages): void {
    p.refs--;
    if (p.refs === 0) this.#unpin(p);
  }

  // --- what the rest of iova reads --------------------------------------------------------

  /** The areas of an IOAS, in IOVA order, with the user address of each first byte. */
  areas(
    ioasId: number,
  ): { iova: bigint; length: bigint; hva: bigint; read: boolean; write: boolean }[] {
    const ioas = this.#ioas(ioasId);
    if (!ioas) return [];
    return ioas.areas.map((a) => ({
      iova: a.iova,
      length: a.length,
      hva: a.pages.uptr + a.start,
      read: a.read,
      write: a.write,
    }));
  }

  /** How many devices a hardware page table has attached (-1: no such table). */
  hwptDevices(id: number): number {
    const o = this.#objects.get(id);
    return o?.kind === "hwpt" ? o.devices.length : -1;
  }

  /** Whether a domain (hardware page table) holds the IOAS: only then does a device's DMA go anywhere. */
  hasDomain(ioasId: number): boolean {
    return (this.#ioas(ioasId)?.hwpts.length ?? 0) > 0;
  }

  /** Host pages pinned for an IOAS's areas (each pages object counted once). */
  pinnedPages(ioasId: number): bigint {
    const ioas = this.#ioas(ioasId);
    if (!ioas) return 0n;
    return [...new Set(ioas.areas.map((a) => a.pages))].reduce((n, p) => n + p.pinned, 0n);
  }

  /** What `pinnedPages` should be from the IOAS's areas and domains (for the accounting check). */
  expectedPinnedPages(ioasId: number): bigint {
    const ioas = this.#ioas(ioasId);
    if (!ioas || ioas.hwpts.length === 0) return 0n;
    return [...new Set(ioas.areas.map((a) => a.pages))].reduce(
      (n, p) => n + this.#hostPages(p),
      0n,
    );
  }
}

/**
 * QEMU 10's iommufd container for vfio-pci (hw/vfio/iommufd.c) as the host kernel sees it: one
 * IOAS on the backend's /dev/iommu, the devices attached to it through automatic hardware page
 * tables, and its mappings. It answers what VFIO and the checks ask of any host container.
 */
export class IommufdContainer implements HostIommu {
  readonly backend = "iommufd" as const;
  readonly fd: Iommufd;
  readonly ioasId: number;
  /** Group → bound device id. */
  readonly #devices = new Map<number, number>();
  /** The hardware page tables QEMU made for this container (`hwpt_list`). */
  readonly #hwpts: number[] = [];

  constructor(fd: Iommufd, ioasId: number) {
    this.fd = fd;
    this.ioasId = ioasId;
  }

  get io(): IoctlBoundary {
    return this.fd.io;
  }

  get process(): HostProcess {
    return this.fd.process;
  }

  get lockedPages(): bigint {
    return this.fd.pinnedPages(this.ioasId);
  }

  get chargedPages(): bigint {
    return this.lockedPages;
  }

  expectedChargedPages(): bigint {
    return this.fd.expectedPinnedPages(this.ioasId);
  }

  /** The IOMMU groups (one device each here) whose devices are attached. */
  get groups(): readonly number[] {
    return [...this.#devices.keys()];
  }

  /** Binds the group's device and attaches it (see `attachBound`); 0 or -errno. */
  attachGroup(group: number): number {
    const bound = this.fd.bindDevice(`group${group}`);
    if (bound.devId === undefined) return bound.ret;
    const r = this.attachBound(group, bound.devId);
    if (r.ret !== 0) this.fd.unbindDevice(bound.devId);
    return r.ret;
  }

  /**
   * Attaches a bound device (QEMU's `iommufd_cdev_autodomains_get`): to one of the container's
   * hardware page tables if one takes it (EINVAL means incompatible: try the next), else to a new
   * one made for it (IOMMU_HWPT_ALLOC on the IOAS). Says which ioctl failed, and on what id.
   */
  attachBound(
    group: number,
    devId: number,
  ): { ret: number; failed?: "IOMMU_HWPT_ALLOC" | "VFIO_DEVICE_ATTACH_IOMMUFD_PT"; id?: number } {
    for (const hwptId of this.#hwpts) {
      const r = this.fd.attachDevice(devId, hwptId);
      if (r.ret === 0) {
        this.#devices.set(group, devId);
        return { ret: 0 };
      }
      if (r.ret !== -Errno.EINVAL)
        return { ret: r.ret, failed: "VFIO_DEVICE_ATTACH_IOMMUFD_PT", id: hwptId };
    }
    const hwpt = this.fd.hwptAlloc(devId, this.ioasId);
    if (hwpt.hwptId === undefined) return { ret: hwpt.ret, failed: "IOMMU_HWPT_ALLOC" };
    const attached = this.fd.attachDevice(devId, hwpt.hwptId);
    if (attached.ret !== 0) {
      this.fd.destroy(hwpt.hwptId);
      return { ret: attached.ret, failed: "VFIO_DEVICE_ATTACH_IOMMUFD_PT", id: hwpt.hwptId };
    }
    this.#hwpts.push(hwpt.hwptId);
    this.#devices.set(group, devId);
    return { ret: 0 };
  }

  /**
   * A device leaves: detached and unbound; its page table goes with its last device. The IOAS
   * stays until `release` (QEMU unregisters its listener, unmapping, before freeing it).
   */
  detachGroup(group: number): void {
    const devId = this.#devices.get(group);
    if (devId === undefined) return;
    this.#devices.delete(group);
    this.fd.unbindDevice(devId);
    this.#dropUnusedHwpts();
  }

  #dropUnusedHwpts(): void {
    for (let i = this.#hwpts.length - 1; i >= 0; i--) {
      // QEMU frees a page table once its device list is empty (iommufd_cdev_autodomains_put).
      if (this.fd.hwptDevices(this.#hwpts[i]) === 0 && this.fd.destroy(this.#hwpts[i]) === 0)
        this.#hwpts.splice(i, 1);
    }
  }

  /** IOMMU_IOAS_MAP with QEMU's flags: READABLE | FIXED_IOVA, WRITEABLE unless read-only. */
  mapDma(iova: bigint, size: bigint, vaddr: bigint, read: boolean, write: boolean): number {
    const flags =
      IOAS_MAP_FIXED_IOVA | (read ? IOAS_MAP_READABLE : 0) | (write ? IOAS_MAP_WRITEABLE : 0);
    return this.fd.ioasMap(this.ioasId, iova, size, vaddr, flags).ret;
  }

  /** IOMMU_IOAS_UNMAP. */
  unmapDma(iova: bigint, size: bigint): number {
    return this.fd.ioasUnmap(this.ioasId, iova, size).ret;
  }

  /** IOMMU_IOAS_IOVA_RANGES as QEMU asks it (once to learn the count, then for the ranges). */
  iovaRanges(): { ret: number; ranges?: IommufdRange[]; alignment?: bigint } {
    const probe = this.fd.ioasIovaRanges(this.ioasId, 0);
    if (probe.ret !== 0 && probe.ret !== -Errno.EMSGSIZE) return { ret: probe.ret };
    const full = this.fd.ioasIovaRanges(this.ioasId, probe.numIovas ?? 0);
    return full.ret === 0
      ? { ret: 0, ranges: full.ranges, alignment: full.alignment }
      : { ret: full.ret };
  }

  /** The container closed: devices unbound, page tables and the IOAS destroyed (which unmaps what is left). */
  release(): void {
    for (const devId of this.#devices.values()) this.fd.unbindDevice(devId);
    this.#devices.clear();
    this.#dropUnusedHwpts();
    this.fd.destroy(this.ioasId);
  }

  entries(): HostEntry[] {
    if (!this.fd.hasDomain(this.ioasId)) return [];
    const ps = lowestBit(this.fd.platform.pgsizes);
    const out: HostEntry[] = [];
    for (const a of this.fd.areas(this.ioasId)) {
      const perm = a.read && a.write ? "rw" : a.write ? "w" : "r";
      for (let off = 0n; off < a.length; off += ps)
        out.push({ iova: a.iova + off, pageSize: ps, hva: a.hva + off, perm });
    }
    return out;
  }

  /** The usable IOVA ranges (what IOAS_IOVA_RANGES lists), as windows of the smallest page. */
  windows(): HostWindow[] {
    const ps = lowestBit(this.fd.platform.pgsizes);
    const shift = ps === 0n ? 0 : ps.toString(2).length - 1;
    return this.fd
      .usableRanges(this.ioasId)
      .map((r) => ({ start: r.start, size: r.last - r.start + 1n, pageShift: shift }));
  }

  lookup(iova: bigint): HostEntry | undefined {
    if (!this.fd.hasDomain(this.ioasId)) return undefined;
    const ps = lowestBit(this.fd.platform.pgsizes);
    const a = this.fd.areas(this.ioasId).find((x) => iova >= x.iova && iova < x.iova + x.length);
    if (!a || ps === 0n) return undefined;
    const off = ((iova - a.iova) / ps) * ps;
    const perm = a.read && a.write ? "rw" : a.write ? "w" : "r";
    return { iova: a.iova + off, pageSize: ps, hva: a.hva + off, perm };
  }
}

/** Whether Linux's iommufd can give a device on this host backend a paging domain. */
export function iommufdServes(hostIommu: "spapr-tce-v2" | "spapr-tce" | "type1"): boolean {
  return hostIommu === "type1";
}

/**
 * What QEMU says to `-object iommufd,id=ID` when it has no such object: QEMU 7.2 (no iommufd
 * backend, before 9.0) rejects the type name in its option parser; QEMU 10.0's ppc64 build
 * knows the name but registers no such type (the backend is built for x86, Arm and s390x only).
 * Both recorded from the real binaries (docs/semantics.md, "QEMU 10.0 versus 7.2").
 */
export function iommufdObjectRefusal(
  qemu: "7.2" | "10.0",
  target: "ppc64" | "x86_64" | "aarch64",
  id: string,
): string | undefined {
  if (qemu === "7.2")
    return `-object iommufd,id=${id}: Parameter 'qom-type' does not accept value 'iommufd'`;
  return target === "ppc64" ? "invalid object type: iommufd" : undefined;
}
