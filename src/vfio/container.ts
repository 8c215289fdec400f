/**
 * A VFIO container as QEMU 7.2 drives it: the memory listener on the device's DMA address space
 * that mirrors every guest IOMMU window into a host window and every guest mapping into the host
 * IOMMU, the preregistration listener on system memory (sPAPR TCE v2), the host window list, and
 * QEMU's error policy (an error during setup fails the hot-plug; later ones are logged, or abort
 * the VM where QEMU does).
 *
 * The two fixes of the 2016 thread are here: a guest-IOMMU record keeps `iommuOffset` (the
 * section's offset within the address space minus its offset within the region) and adds it to
 * every notified `iova`; and the host window for a section is created before its notifier is
 * registered and replayed, from a list of host windows rather than one min/max range.
 * The `qemu-2016-prefix` behaviour leaves the offset out, as the code of that time did.
 */

import { Errno, strerror } from "../host/errno.ts";
import type { HostIommu } from "../host/host-iommu.ts";
import type { IommufdContainer } from "../host/iommufd.ts";
import type { HostPlatform } from "../host/platform.ts";
import { SpaprTceContainer } from "../host/spapr-tce.ts";
import { Type1Container } from "../host/type1.ts";
import { IommuRegion } from "../iommu/iommu-region.ts";
import { type IommuNotifier, IommuNotifierFlag } from "../iommu/notifier.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import type { IommuTlbEntry } from "../memory/iommu-types.ts";
import type { MemoryListener, MemoryRegionSection } from "../memory/listener.ts";
import type { MemoryRegion } from "../memory/region.ts";
import type { QemuLine } from "../qemu/version.ts";
import { IOVA_MESSAGES, VFIO_MESSAGES as M } from "./messages.ts";

/** Which QEMU a container behaves like (the machine's behaviour, see machine/behaviour.ts). */
export type VfioBehaviour = "qemu-7.2" | "qemu-2016-prefix";

/** What every container of a machine shares: the host, system memory, and where logs go. */
export interface VfioContext {
  readonly platform: HostPlatform;
  readonly backend: "spapr-tce-v2" | "spapr-tce" | "type1" | "iommufd";
  readonly behaviour: VfioBehaviour;
  /** Whose messages and error policy: QEMU 7.2's or 10.0's (docs/semantics.md, "QEMU 10.0 versus 7.2"). */
  readonly qemu: QemuLine;
  /** System memory (QEMU's address_space_memory): what guest IOMMUs translate into. */
  readonly memory: AddressSpace;
  /** The host virtual address of a RAM region's first byte. */
  hvaOf(mr: MemoryRegion): bigint | undefined;
  /** QEMU's error_report lines. */
  report(message: string): void;
  /** Where QEMU 7.2 would abort the VM (hw_error, assertion). */
  abort(message: string): void;
  /** A trace event, in the spirit of QEMU's trace points. */
  trace?(event: string, fields: Record<string, unknown>): void;
  /** Whether `trace` records anything now (without it, a present `trace` is taken to). */
  traced?(): boolean;
  /** Told every `WORK_TICK` notifications, so that a long step can show progress. */
  work?(): void;
}

/** How many guest IOMMU notifications pass between two `work` calls. */
const WORK_TICK = 1 << 14;

/** A host DMA window in QEMU's list (QEMU's `VFIOHostDMAWindow`). */
export interface HostDmaWindow {
  readonly min: bigint;
  readonly max: bigint;
  readonly pgsizes: bigint;
}

/** A mirrored guest IOMMU (QEMU's `VFIOGuestIOMMU`). */
export interface GuestIommu {
  readonly iommu: IommuRegion;
  readonly mr: MemoryRegion;
  readonly iommuOffset: bigint;
  readonly notifier: IommuNotifier;
}

/** A failure with QEMU's error text. */
export class VfioError extends Error {
  override name = "VfioError";
}

let nextContainerId = 0;
const U64 = (1n << 64n) - 1n;
const log2 = (v: bigint) => v.toString(2).length - 1;
const ctz64 = (v: bigint) => {
  if (v === 0n) return 64;
  let n = 0;
  while ((v & 1n) === 0n) {
    v >>= 1n;
    n++;
  }
  return n;
};

/** A VFIO container. */
export class VfioContainer {
  /** Notifications left before the next `work` call. */
  #untilWork = WORK_TICK;
  readonly ctx: VfioContext;
  /** The device address space it listens to (the PHB's DMA address space). */
  readonly dmaAs: AddressSpace;
  kernel: HostIommu;
  /** How QEMU would print the container pointer. */
  readonly pointer: string;
  /** Host window list, newest first. */
  readonly hostWindows: HostDmaWindow[] = [];
  readonly giommus: GuestIommu[] = [];
  readonly groups: number[] = [];
  /** Host IOMMU page sizes the container can use. */
  pgsizes = 0x1000n;
  /**
   * The usable IOVA ranges the kernel reported at setup (type1's IOVA-range capability, iommufd's
   * IOAS_IOVA_RANGES), which QEMU 10 keeps (`iova_ranges`); undefined when not asked.
   */
  iovaRanges: readonly { readonly start: bigint; readonly last: bigint }[] | undefined;
  initialized = false;
  /** The first error met while setting up. */
  error: string | undefined;
  readonly #listener: MemoryListener;
  readonly #preregListener: MemoryListener;
  #listening = false;
  #preregistering = false;

  constructor(ctx: VfioContext, dmaAs: AddressSpace, kernel: HostIommu) {
    this.ctx = ctx;
    this.dmaAs = dmaAs;
    this.kernel = kernel;
    this.pointer = `0x55d5c0de${(0x1000 + nextContainerId++ * 0x100).toString(16).padStart(4, "0")}`;
    // QEMU's vfio_memory_listener gives no priority: 0.
    this.#listener = {
      name: "vfio",
      regionAdd: (s) => this.#regionAdd(s),
      regionDel: (s) => this.#regionDel(s),
    };
    this.#preregListener = {
      name: "vfio-prereg",
      regionAdd: (s) => this.#preregAdd(s),
      regionDel: (s) => this.#preregDel(s),
    };
  }

  get isV2(): boolean {
    return this.kernel.backend === "spapr-tce-v2";
  }

  /**
   * Sets the container up for its first group (QEMU's `vfio_connect_container`): choose the IOMMU
   * type, prepare it, then listen to the DMA address space. Throws `VfioError` with QEMU's chain
   * (after rolling back) when setup fails.
   */
  connect(group: number, options: { readonly attached?: boolean } = {}): void {
    let ret = options.attached ? 0 : this.kernel.attachGroup(group);
    if (ret < 0 && this.kernel.backend === "spapr-tce-v2") {
      // vfio_init_container: the spapr driver advertises both types and only attaching decides,
      // so any failure of VFIO_SET_IOMMU in v2 mode is retried once as v1.
      this.kernel = new SpaprTceContainer(
        this.ctx.platform,
        false,
        this.#userMemory(),
        this.kernel.io,
        this.kernel.process,
      );
      ret = this.kernel.attachGroup(group, { groupSet: true });
    }
    if (ret < 0) throw new VfioError(M.setIommuFailed.render(-ret));
    this.groups.push(group);
    try {
      this.#prepare();
      this.ctx.memory.system.registerListener(this.#listener, this.dmaAs);
      this.#listening = true;
      if (this.error) {
        const error = this.error;
        this.#teardown();
        throw new VfioError(M.listenerFailed.render() + error);
      }
      this.initialized = true;
    } catch (e) {
      if (this.groups.length) this.#teardown();
      throw e;
    }
  }

  #userMemory() {
    const ram = this.ctx.memory.view.ranges.filter((r) => r.mr.isRam);
    return ram.map((r) => ({
      start: (this.ctx.hvaOf(r.mr) ?? 0n) + r.offsetInRegion,
      size: r.end - r.start,
    }));
  }

  #prepare(): void {
    const k = this.kernel;
    if (k.backend === "iommufd") {
      // iommufd_cdev_get_info_iova_range: a failure is a warning; QEMU goes on with 4 KiB pages.
      const r = (k as IommufdContainer).iovaRanges();
      if (r.ret !== 0) {
        this.ctx.report(`warning: ${M.iovaRangesFailed.render(-r.ret)}`);
        this.ctx.report("Fallback to default 64bit IOVA range and 4K page size");
        this.pgsizes = this.ctx.platform.pageSize;
      } else {
        this.pgsizes = r.alignment ?? this.ctx.platform.pageSize;
        this.iovaRanges = r.ranges;
      }
      return;
    }
    if (k instanceof Type1Container) {
      const info = k.getInfo();
      if (info.ret < 0) throw new VfioError(M.type1GetInfoFailed.render(-info.ret));
      this.pgsizes = info.pgsizes ?? 0x1000n;
      this.iovaRanges = info.info?.iovaRanges.map((r) => ({ start: r.start, last: r.end }));
      this.#hostWinAdd(0n, U64, this.pgsizes);
      return;
    }
    const spapr = k as SpaprTceContainer;
    if (!this.isV2) {
      const ret = spapr.enable();
      if (ret < 0) throw new VfioError(M.enableFailed.render(-ret));
      const info = spapr.getInfo();
      if (!info.info) throw new VfioError(M.spaprGetInfoFailed.render(-info.ret));
      this.pgsizes = 0x1000n;
      this.#hostWinAdd(
        info.info.dma32WindowStart,
        info.info.dma32WindowStart + info.info.dma32WindowSize - 1n,
        0x1000n,
      );
      return;
    }
    this.ctx.memory.system.registerListener(this.#preregListener, this.ctx.memory);
    this.#preregistering = true;
    if (this.error) {
      const error = this.error;
      throw new VfioError(M.ramListenerFailed.render() + error);
    }
    const info = spapr.getInfo();
    if (!info.info) throw new VfioError(M.spaprGetInfoFailed.render(-info.ret));
    this.pgsizes = info.info.ddw?.pgsizes ?? 0x1000n;
    const ret = this.#removeWindow(info.info.dma32WindowStart);
    if (ret < 0) throw new VfioError(M.removeExistingWindowFailed.render(-ret));
  }

  /**
   * The host's address width as QEMU 10 derives it for a vIOMMU (`vfio_device_get_aw_bits`): the
   * last usable IOVA's highest bit plus one, 64 when the kernel reported no ranges.
   */
  get hostAwBits(): number {
    const last = this.iovaRanges?.at(-1);
    return last ? last.last.toString(2).length : 64;
  }

  /** A group the kernel attached already (iommufd) joins the container's list. */
  adopt(group: number): void {
    this.groups.push(group);
  }

  /** Joins another group to this container (no replay: the kernel programs existing windows). */
  join(group: number): boolean {
    if (this.kernel.attachGroup(group) < 0) return false;
    this.groups.push(group);
    return true;
  }

  /** A group leaves; the last one disconnects the container. */
  leave(group: number): void {
    const at = this.groups.indexOf(group);
    if (at < 0) return;
    if (this.groups.length > 1) {
      this.groups.splice(at, 1);
      if (this.kernel.backend !== "iommufd")
        this.kernel.io.call("GROUP_UNSET_CONTAINER", { group }, () => 0);
      this.kernel.detachGroup(group);
      return;
    }
    this.#teardown();
  }

  /** QEMU's `vfio_disconnect_container`: listeners out (region_del replays), group out, close. */
  #teardown(): void {
    // iommufd (iommufd_cdev_detach): the device is detached and its page table freed first, then
    // the listener goes (unmapping from the IOAS), then the IOAS is freed.
    const iommufd = this.kernel.backend === "iommufd";
    if (iommufd) for (const group of this.groups.splice(0)) this.kernel.detachGroup(group);
    if (this.#listening) {
      this.#listening = false;
      this.ctx.memory.system.unregisterListener(this.#listener);
    }
    if (this.#preregistering) {
      this.#preregistering = false;
      this.ctx.memory.system.unregisterListener(this.#preregListener);
    }
    for (const g of this.giommus.splice(0)) g.iommu.unregisterNotifier(g.notifier);
    for (const group of this.groups.splice(0)) {
      if (this.kernel.backend !== "iommufd")
        this.kernel.io.call("GROUP_UNSET_CONTAINER", { group }, () => 0);
      this.kernel.detachGroup(group);
    }
    this.kernel.release();
    this.hostWindows.length = 0;
  }

  // --- host window list -------------------------------------------------------------------

  #hostWinAdd(min: bigint, max: bigint, pgsizes: bigint): void {
    if (this.hostWindows.some((w) => min <= w.max && w.min <= max)) {
      this.ctx.abort(M.hostWindowsOverlap.render("vfio_host_win_add"));
      return;
    }
    this.hostWindows.unshift({ min, max, pgsizes });
  }

  #hostWinDel(min: bigint, max: bigint): boolean {
    const at = this.hostWindows.findIndex((w) => w.min === min && w.max === max);
    if (at < 0) return false;
    this.hostWindows.splice(at, 1);
    return true;
  }

  #hostWinFor(iova: bigint, end: bigint): HostDmaWindow | undefined {
    return this.hostWindows.find((w) => w.min <= iova && end <= w.max);
  }

  // --- the main listener ------------------------------------------------------------------

  #skipped(s: MemoryRegionSection): boolean {
    return (!s.mr.isRam && !s.mr.isIommu) || s.offsetWithinAddressSpace >> 63n !== 0n;
  }

  /** The page-aligned part of a section, or undefined (logging an unaligned one). */
  #aligned(s: MemoryRegionSection, what: string): { iova: bigint; llend: bigint } | undefined {
    const hp = this.ctx.platform.pageSize;
    if (s.offsetWithinAddressSpace % hp !== s.offsetWithinRegion % hp) {
      this.ctx.report(
        M.unalignedRegion.render(
          what,
          s.mr.name,
          s.offsetWithinAddressSpace,
          s.offsetWithinRegion,
          hp,
        ),
      );
      return undefined;
    }
    const iova = (s.offsetWithinAddressSpace + hp - 1n) & ~(hp - 1n);
    const llend = (s.offsetWithinAddressSpace + s.size) & ~(hp - 1n);
    return iova < llend ? { iova, llend } : undefined;
  }

  #regionAdd(s: MemoryRegionSection): void {
    if (this.#skipped(s)) {
      this.ctx.trace?.("vfio_listener_region_add_skip", {
        start: s.offsetWithinAddressSpace,
        end: s.offsetWithinAddressSpace + s.size - 1n,
      });
      return;
    }
    this.ctx.trace?.(
      s.mr.isIommu ? "vfio_listener_region_add_iommu" : "vfio_listener_region_add_ram",
      {
        region: s.mr.name,
        start: s.offsetWithinAddressSpace,
        end: s.offsetWithinAddressSpace + s.size - 1n,
      },
    );
    const range = this.#aligned(s, "vfio_listener_region_add");
    if (!range) return;
    const { iova, llend } = range;
    const end = llend - 1n;
    const failure = this.#regionAddChecked(s, iova, end);
    if (failure === undefined) return;
    if (!this.initialized) {
      this.error ??= M.regionPrefix.render(s.mr.name) + failure;
      return;
    }
    this.ctx.report(failure);
    this.ctx.abort(M.dmaMappingFatal.render());
  }

  /** The body of region_add; returns QEMU's error text on failure. */
  #regionAddChecked(s: MemoryRegionSection, iova: bigint, end: bigint): string | undefined {
    const first = s.offsetWithinAddressSpace;
    const last = first + s.size - 1n;
    if (this.isV2) {
      const overlap = this.hostWindows.find((w) => first <= w.max && w.min <= last);
      if (overlap) {
        return M.sectionOverlapsHostWindow.render(first, last, overlap.min, overlap.max);
      }
      const created = this.#createWindow(s);
      if (typeof created === "string") return created;
      this.#hostWinAdd(first, last, created);
    }
    if (this.ctx.qemu === "10.0") {
      // QEMU 10 checks host windows for sPAPR v1 only (vfio_spapr_container_add_section_window),
      // on the section's own bounds rather than its host-page-aligned part; a v2 window was just
      // made for the section, type1 has no list any more (7.2's was one window [0, 2^64 - 1],
      // which every section passed), iommufd never had one.
      if (this.kernel.backend === "spapr-tce" && !this.#hostWinFor(first, last))
        return M.cannotMapRegion.render(this.pointer, first, last);
    } else if (!this.#hostWinFor(iova, end)) {
      return M.cannotMapRegion.render(this.pointer, iova, end);
    }
    const iommu = IommuRegion.of(s.mr);
    if (iommu) {
      const legacy = this.ctx.behaviour === "qemu-2016-prefix";
      const giommu: GuestIommu = {
        iommu,
        mr: s.mr,
        iommuOffset: legacy ? 0n : s.offsetWithinAddressSpace - s.offsetWithinRegion,
        notifier: {
          flags: IommuNotifierFlag.iotlbEvents,
          // 2016's notifiers had no range: every event reached every notifier.
          start: legacy ? 0n : s.offsetWithinRegion,
          end: legacy ? U64 : s.offsetWithinRegion + s.size - 1n,
          iommuIdx: 0,
          notify: (entry) => this.#mapNotify(giommu, entry),
          notifySeries: (entry, count, step) => this.#mapNotifySeries(giommu, entry, count, step),
        },
      };
      // QEMU 7.2 tells the guest IOMMU the host's page sizes before registering its notifier.
      const refused = iommu.setPageSizeMask(this.pgsizes);
      if (refused !== undefined) return refused;
      try {
        iommu.registerNotifier(giommu.notifier);
      } catch (e) {
        return (e as Error).message;
      }
      this.giommus.unshift(giommu);
      // 2016: the walk at the container's granularity (vfio_container_granularity), no hook. Only
      // the sPAPR TCE table had VFIO then: a guest IOMMU VFIO could not use before 2017 (VT-d's
      // caching-mode notifications came with QEMU 2.9) keeps its 7.2 replay.
      if (legacy && iommu.model.replayWalk)
        iommu.replayWalk(giommu.notifier, 1n << BigInt(ctz64(this.pgsizes)));
      else iommu.replay(giommu.notifier);
      return undefined;
    }
    // A RAM section: map it directly.
    const hva =
      (this.ctx.hvaOf(s.mr) ?? 0n) + s.offsetWithinRegion + (iova - s.offsetWithinAddressSpace);
    const ret = this.#dmaMap(iova, end + 1n - iova, hva, s.readonly || s.mr.readonly);
    return ret < 0 ? this.#mapFailed(iova, end + 1n - iova, hva, ret) : undefined;
  }

  /** The line a failed map prints: QEMU 10 names the container API and prints strerror(-ret). */
  #mapFailed(iova: bigint, size: bigint, vaddr: bigint, ret: number): string {
    return this.ctx.qemu === "10.0"
      ? M.containerDmaMapFailed.render(this.pointer, iova, size, vaddr, ret, strerror(-ret))
      : M.dmaMapFailed.render(this.pointer, iova, size, vaddr, ret, -ret);
  }

  #unmapFailed(iova: bigint, size: bigint, ret: number): string {
    return this.ctx.qemu === "10.0"
      ? M.containerDmaUnmapFailed.render(this.pointer, iova, size, ret, strerror(-ret))
      : M.dmaUnmapFailed.render(this.pointer, iova, size, ret, -ret);
  }

  /**
   * QEMU's `vfio_spapr_create_window`: the host page size from the guest's (clamped to the RAM
   * backing page, intersected with what the host supports), levels from QEMU's heuristic, and the
   * start address the kernel gives back checked against the section. Returns the page size, or
   * the error text.
   */
  #createWindow(s: MemoryRegionSection): bigint | string {
    const spapr = this.kernel as SpaprTceContainer;
    const iommu = IommuRegion.of(s.mr);
    const guestPage = iommu ? iommu.minPageSize : this.ctx.platform.pageSize;
    const hostPageShift = log2(this.ctx.platform.pageSize);
    const windowSize = s.size;
    // Both behaviours create windows this way (spapr-vfio scenario 4: "window creation as in 3").
    let p = guestPage;
    // Bigger guest pages are backed by smaller host pages when RAM is on smaller pages.
    if (p > this.ctx.platform.ramPageSize) p = this.ctx.platform.ramPageSize;
    const pgmask = this.pgsizes & (p | (p - 1n));
    if (pgmask === 0n) {
      this.ctx.report(M.hostPageSizeUnsupported.render(guestPage, this.pgsizes));
      return M.createSpaprWindowFailed.render(Errno.EINVAL);
    }
    const pageSize = 1n << BigInt(log2(pgmask));
    const pageShift = log2(pageSize);
    const entries = BigInt.asUintN(32, windowSize >> BigInt(pageShift));
    const bitsTotal = ctz64(BigInt.asUintN(64, entries * 8n));
    const bitsPerLevel = hostPageShift + 8;
    let levels = Math.ceil(bitsTotal / bitsPerLevel);
    const maxLevels = Math.floor((64 - pageShift) / hostPageShift);
    let ret = 0;
    let start = 0n;
    for (; levels <= maxLevels; levels++) {
      const r = spapr.createWindow(pageShift, windowSize, levels);
      ret = r.ret;
      if (r.ret === 0) {
        start = r.start ?? 0n;
        break;
      }
    }
    if (ret < 0) {
      this.ctx.report(M.createWindowIoctlFailed.render(-1, -ret));
      return M.createSpaprWindowFailed.render(-ret);
    }
    this.ctx.trace?.("vfio_spapr_create_window", {
      page_shift: pageShift,
      levels,
      window_size: windowSize,
      start,
    });
    if (start !== s.offsetWithinAddressSpace) {
      this.#removeWindow(start);
      this.ctx.report(M.windowStartRefused.render(s.offsetWithinAddressSpace, start));
      return M.createSpaprWindowFailed.render(Errno.EINVAL);
    }
    return pageSize;
  }

  #regionDel(s: MemoryRegionSection): void {
    if (this.#skipped(s)) return;
    this.ctx.trace?.("vfio_listener_region_del", {
      start: s.offsetWithinAddressSpace,
      end: s.offsetWithinAddressSpace + s.size - 1n,
    });
    const iommu = IommuRegion.of(s.mr);
    const hp = this.ctx.platform.pageSize;
    if (s.offsetWithinAddressSpace % hp !== s.offsetWithinRegion % hp) {
      this.ctx.report(
        M.unalignedRegion.render(
          "vfio_listener_region_del",
          s.mr.name,
          s.offsetWithinAddressSpace,
          s.offsetWithinRegion,
          hp,
        ),
      );
      return;
    }
    if (iommu) {
      const at = this.giommus.findIndex(
        (g) => g.mr === s.mr && g.notifier.start === s.offsetWithinRegion,
      );
      if (at >= 0) {
        const [g] = this.giommus.splice(at, 1);
        iommu.unregisterNotifier(g.notifier);
      }
    }
    const range = this.#aligned(s, "vfio_listener_region_del");
    if (range) {
      let iova = range.iova;
      let size = range.llend - range.iova;
      if (size === 1n << 64n) {
        // The unmap ioctls take no 2^64 span: two halves, each unmapped and reported on its own.
        size = 1n << 63n;
        const ret = this.#dmaUnmap(iova, size);
        if (ret < 0) this.ctx.report(this.#unmapFailed(iova, size, ret));
        iova += size;
      }
      const ret = this.#dmaUnmap(iova, size);
      if (ret < 0) this.ctx.report(this.#unmapFailed(iova, size, ret));
    }
    if (this.isV2) {
      const first = s.offsetWithinAddressSpace;
      this.#removeWindow(first);
      if (!this.#hostWinDel(first, first + s.size - 1n)) {
        this.ctx.abort(M.missingWindow.render("vfio_listener_region_del", first));
      }
    }
  }

  /** QEMU's `vfio_spapr_remove_window`: a failure is reported wherever the removal came from. */
  #removeWindow(start: bigint): number {
    const ret = (this.kernel as SpaprTceContainer).removeWindow(start);
    if (ret < 0) this.ctx.report(M.removeWindowFailed.render(start));
    else this.ctx.trace?.("vfio_spapr_remove_window", { start });
    return ret;
  }

  /** Counts `n` notifications towards the next `work` calls. */
  #tick(n: number): void {
    this.#untilWork -= n;
    while (this.#untilWork <= 0) {
      this.#untilWork += WORK_TICK;
      this.ctx.work?.();
    }
  }

  /**
   * `count` notifications of consecutive pages at once (see `IommuNotifier.notifySeries`): each
   * stretch that lands in one RAM section is mapped by the host as one series of MAP_DMA calls
   * when the host can take it whole; everything else (traces, unmaps, errors, a host that cannot)
   * goes one notification at a time, so every effect is what `count` calls of `#mapNotify` make.
   */
  #mapNotifySeries(g: GuestIommu, entry: IommuTlbEntry, count: number, step: bigint): void {
    const size = entry.addrMask + 1n;
    const kernel = this.kernel as Partial<SpaprTceContainer>;
    const memory = this.ctx.memory;
    const bulk =
      count > 1 &&
      (this.ctx.trace === undefined || this.ctx.traced?.() === false) &&
      this.kernel.io.takesSeries &&
      entry.perm !== 0 &&
      entry.targetAs === memory &&
      kernel.mapDmaSeries !== undefined &&
      (step === 0n || step === size);
    const one = (k: number) =>
      this.#mapNotify(
        g,
        k === 0
          ? entry
          : {
              ...entry,
              iova: entry.iova + BigInt(k) * size,
              translatedAddr: entry.translatedAddr + BigInt(k) * step,
            },
      );
    if (!bulk) {
      for (let k = 0; k < count; k++) one(k);
      return;
    }
    const writable = (entry.perm & 2) !== 0;
    let k = 0;
    while (k < count) {
      const left = count - k;
      const from = entry.translatedAddr + BigInt(k) * step;
      // Where the stretch lands: one RAM range of system memory, no IOMMU on the way.
      const t = memory.translate(from, step === 0n ? size : BigInt(left) * size, writable);
      const fits =
        t.mr?.isRam === true && t.addressSpace === memory && t.pageMask === U64 && t.plen >= size;
      const pages = !fits ? 0 : step === 0n ? left : Math.min(left, Number(t.plen / size));
      let done = 0;
      if (pages > 1) {
        const vaddr = (this.ctx.hvaOf(t.mr!) ?? 0n) + t.xlat;
        const readonly = !writable || t.mr!.readonly;
        const iova = entry.iova + g.iommuOffset + BigInt(k) * size;
        done = kernel.mapDmaSeries!(iova, size, vaddr, step, pages, true, !readonly);
      }
      if (done > 0) {
        this.#tick(done);
        k += done;
      } else one(k++);
    }
  }

  /** QEMU's `vfio_iommu_map_notify`: guest IOMMU events become host MAP_DMA / UNMAP_DMA. */
  #mapNotify(g: GuestIommu, entry: IommuTlbEntry): void {
    this.#tick(1);
    const iova = entry.iova + g.iommuOffset;
    const size = entry.addrMask + 1n;
    this.ctx.trace?.("vfio_iommu_map_notify", {
      op: entry.perm === 0 ? "UNMAP" : "MAP",
      iova_start: iova,
      iova_end: iova + entry.addrMask,
    });
    if (entry.targetAs === null) {
      // QEMU 7.2 compares with system memory, then reads the name of the NULL target to print it.
      this.ctx.abort(IOVA_MESSAGES.nullTargetAs());
      return;
    }
    if (entry.targetAs !== this.ctx.memory) {
      this.ctx.report(M.wrongTargetAs.render(entry.targetAs.name || "none"));
      return;
    }
    if (entry.perm === 0) {
      const ret = this.#dmaUnmap(iova, size);
      if (ret < 0) this.ctx.report(this.#unmapFailed(iova, size, ret));
      return;
    }
    // vfio_get_xlat_addr: a write-permitted entry is translated as a write.
    const writable = (entry.perm & 2) !== 0;
    const t = this.#translate(entry.translatedAddr, size, writable);
    if (!t.mr?.isRam) {
      // QEMU prints `xlat`: where the translation ended, as an offset in what it hit.
      this.ctx.report(M.nonMemoryArea.render(t.xlat));
      return;
    }
    if (t.plen < size) {
      this.ctx.report(M.granularityIncompatible.render());
      return;
    }
    const vaddr = (this.ctx.hvaOf(t.mr) ?? 0n) + t.xlat;
    const readonly = !writable || t.mr.readonly;
    const ret = this.#dmaMap(iova, size, vaddr, readonly);
    if (ret < 0) {
      const f = this.#lastMapFailure;
      if (f?.iova !== iova || f.size !== size || f.vaddr !== vaddr || f.ret !== ret) {
        const text = this.#mapFailed(iova, size, vaddr, ret);
        this.#lastMapFailure = { iova, size, vaddr, ret, text };
      }
      this.ctx.report(this.#lastMapFailure!.text);
    }
  }

  #lastMapFailure:
    | { iova: bigint; size: bigint; vaddr: bigint; ret: number; text: string }
    | undefined;
  #lastXlat:
    | {
        readonly view: unknown;
        readonly addr: bigint;
        readonly size: bigint;
        readonly writable: boolean;
        readonly t: ReturnType<AddressSpace["translate"]>;
      }
    | undefined;

  /**
   * System memory's translation of a notified entry. The same translation again, with the flat
   * view unchanged and no IOMMU on the way, is the same answer: the 2016 replay asks it once per
   * 4 KiB step of a large TCE.
   */
  #translate(addr: bigint, size: bigint, writable: boolean): ReturnType<AddressSpace["translate"]> {
    const memory = this.ctx.memory;
    const last = this.#lastXlat;
    if (
      last &&
      last.view === memory.view &&
      last.addr === addr &&
      last.size === size &&
      last.writable === writable
    )
      return last.t;
    const t = memory.translate(addr, size, writable);
    this.#lastXlat =
      t.addressSpace === memory ? { view: memory.view, addr, size, writable, t } : undefined;
    return t;
  }

  /**
   * QEMU's `vfio_dma_map` (7.2) or `vfio_legacy_dma_map` (10.0): READ always, WRITE unless
   * read-only; one retry after EBUSY. 10.0 no longer prints "VFIO_MAP_DMA failed" itself; its
   * iommufd backend (`iommufd_backend_map_dma`) warns only for EFAULT and never retries.
   */
  #dmaMap(iova: bigint, size: bigint, vaddr: bigint, readonly: boolean): number {
    if (this.kernel.backend === "iommufd") {
      const ret = (this.kernel as IommufdContainer).mapDma(iova, size, vaddr, true, !readonly);
      if (ret === -Errno.EFAULT) this.ctx.report(M.ioasMapFault.render(Errno.EFAULT));
      return ret;
    }
    const k = this.kernel as SpaprTceContainer | Type1Container;
    let ret = k.mapDma(iova, size, vaddr, true, !readonly);
    if (ret === -Errno.EBUSY) {
      // A failed unmap leaves its own errno, which the map then returns (and 7.2 prints).
      const unmapped = this.#dmaUnmap(iova, size);
      ret = unmapped === 0 ? k.mapDma(iova, size, vaddr, true, !readonly) : unmapped;
    }
    if (ret === 0) return 0;
    // A positive return (the spapr driver's +1) leaves errno as it was: report a stale one.
    const errno = ret < 0 ? -ret : this.#staleErrno();
    if (this.ctx.qemu === "7.2")
      this.ctx.report(M.mapDmaIoctlFailed.render(errno ? strerror(errno) : "Success"));
    return -errno;
  }

  /**
   * One unmap through the backend. The listener halves a 2^64 span itself; a notifier's entry can
   * still cover 2^64 here, and is unmapped in the same two halves.
   */
  #dmaUnmap(iova: bigint, size: bigint): number {
    if (size === 1n << 64n) {
      const half = 1n << 63n;
      const first = this.#dmaUnmapSpan(iova, half);
      return first !== 0 ? first : this.#dmaUnmapSpan(iova + half, half);
    }
    return this.#dmaUnmapSpan(iova, size);
  }

  /**
   * `iommufd_backend_unmap_dma`: ENOENT (nothing was mapped there) counts as success, as the
   * legacy backend allows it, and nothing is printed. `vfio_dma_unmap` (7.2) prints the ioctl's
   * failure itself; 10.0's `vfio_legacy_dma_unmap` returns -errno silently, so the caller's line
   * is the only one.
   */
  #dmaUnmapSpan(iova: bigint, size: bigint): number {
    if (this.kernel.backend === "iommufd") {
      const r = (this.kernel as IommufdContainer).unmapDma(iova, size);
      return r === -Errno.ENOENT ? 0 : r;
    }
    const ret = (this.kernel as SpaprTceContainer | Type1Container).unmapDma(iova, size);
    if (ret === 0) return 0;
    const errno = ret < 0 ? -ret : this.#staleErrno();
    if (this.ctx.qemu === "7.2")
      this.ctx.report(M.unmapDmaIoctlFailed.render(errno ? strerror(errno) : "Success"));
    return -errno;
  }

  #staleErrno(): number {
    const failed = this.kernel.io.lastFailed();
    return failed ? -failed.ret : 0;
  }

  // --- the preregistration listener (v2) ---------------------------------------------------

  #preregAdd(s: MemoryRegionSection): void {
    if (!s.mr.isRam || s.mr.kind === "ramDevice") return;
    const hp = this.ctx.platform.pageSize;
    if (s.offsetWithinAddressSpace % hp || s.offsetWithinRegion % hp || s.size % hp) {
      this.ctx.report(M.preregUnalignedRegion.render("vfio_prereg_listener_region_add"));
      return;
    }
    const vaddr = (this.ctx.hvaOf(s.mr) ?? 0n) + s.offsetWithinRegion;
    const ret = (this.kernel as SpaprTceContainer).registerMemory(vaddr, s.size);
    if (ret === 0) return;
    // QEMU passes the ioctl's -1, not errno: the text is always EPERM's.
    if (!this.initialized) this.error ??= M.memoryRegisteringFailed.render(Errno.EPERM);
    else this.ctx.abort(M.memoryRegisteringFatal.render());
  }

  #preregDel(s: MemoryRegionSection): void {
    if (!s.mr.isRam || s.mr.kind === "ramDevice") return;
    const hp = this.ctx.platform.pageSize;
    if (s.offsetWithinAddressSpace % hp || s.offsetWithinRegion % hp || s.size % hp) {
      this.ctx.report(M.preregUnalignedRegion.render("vfio_prereg_listener_region_del"));
      return;
    }
    const vaddr = (this.ctx.hvaOf(s.mr) ?? 0n) + s.offsetWithinRegion;
    (this.kernel as SpaprTceContainer).unregisterMemory(vaddr, s.size);
  }
}
