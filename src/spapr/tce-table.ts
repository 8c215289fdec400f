/**
 * A TCE table (QEMU's `SpaprTceTable`): one DMA window of a PHB, identified by its LIOBN. The
 * guest writes translation control entries with hypercalls; the table is an IOMMU whose region
 * `tce-iommu-<liobn>` sits inside the container `tce-root-<liobn>` at the window's bus offset
 * while the window is enabled.
 *
 * Entries are stored sparsely (only non-zero TCEs, a filled range as one run), so a 2^40-byte
 * window costs memory in proportion to what the guest wrote, and replay visits only those entries.
 */
import { EntryTable } from "../iommu/entry-table.ts";
import { IommuRegion } from "../iommu/iommu-region.ts";
import {
  DEFAULT_MATERIALISED_ENTRY_LIMIT,
  formatBytes,
  MaterialisationLimitError,
} from "../iommu/limits.ts";
import { type IommuNotifier, IommuNotifierError, IommuNotifierFlag } from "../iommu/notifier.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import { U64_MAX, wrap64 } from "../memory/int.ts";
import type { IommuPermission, IommuTlbEntry } from "../memory/iommu-types.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import { H } from "./constants.ts";

/** How live notifications express `iova` (2016's bug vs today). */
export type IovaConvention =
  /** Offset within the IOMMU region, as since QEMU commit d78c19b5cf. */
  | "region-relative"
  /** The absolute bus address (live H_PUT_TCE before the 2016 fix; replay stayed relative). */
  | "absolute-live";

/** A TCE table and its window. */
export class TceTable {
  readonly liobn: number;
  /** The `tce-root-<liobn>` container (2^64 bytes) that the PHB maps at 0 of its IOMMU root. */
  readonly root: MemoryRegion;
  /** The `tce-iommu-<liobn>` IOMMU region. */
  readonly iommu: IommuRegion;
  /** Where translations point: the machine's system memory. */
  readonly targetAs: AddressSpace;
  /** Entry count; 0 means the window is disabled. */
  nbTable = 0;
  busOffset = 0n;
  pageShift = 0;
  /** Set on the table the PHB's DMA reset enabled as its default window; never cleared. */
  defWin = false;
  /** True while a notifier (VFIO) is registered. */
  needVfio = false;
  /** Replay does nothing while set: a window being created is known to be empty. */
  skippingReplay = false;
  iovaConvention: IovaConvention = "region-relative";
  /** Told when QEMU 7.2 itself would abort the VM here (iova carries on consistently). */
  onQemuAbort: ((message: string) => void) | undefined;
  /** Most entries one call may notify one by one (see `limits.ts`). */
  materialisedEntryLimit = DEFAULT_MATERIALISED_ENTRY_LIMIT;
  readonly #entries = new EntryTable();

  constructor(system: MemorySystem, liobn: number, targetAs: AddressSpace, owner?: QomObjectRef) {
    this.liobn = liobn;
    this.targetAs = targetAs;
    const hexLiobn = liobn.toString(16);
    this.root = system.container(`tce-root-${hexLiobn}`, U64_MAX, { owner });
    this.iommu = new IommuRegion(system, `tce-iommu-${hexLiobn}`, 0n, this, { owner });
  }

  /** Whether the window is enabled. */
  get enabled(): boolean {
    return this.nbTable !== 0;
  }

  /** Window size in bytes. */
  get windowSize(): bigint {
    return BigInt(this.nbTable) << BigInt(this.pageShift);
  }

  /** Entries holding a non-zero TCE. */
  get populatedEntries(): number {
    return this.#entries.size;
  }

  /** What the table's entries take in memory (leaves of 512 entries, 64 KiB slabs). */
  get storage(): { readonly leaves: number; readonly slabs: number } {
    return this.#entries.storage;
  }

  /** Records the table keeps: what it costs, however many entries they hold. */
  get storedRecords(): number {
    return this.#entries.records;
  }

  /** How many entries grant some access (costs the runs, not their length). */
  get validEntryCount(): number {
    let n = 0;
    // Series share their low bits (a step of a page keeps them): one test per series.
    const step = this.pageShift >= 2 && this.pageShift < 32 ? 2 ** this.pageShift : 0;
    this.#entries.forEachSeries(step, (_, count, tce) => {
      if ((tce & 3n) !== 0n) n += count;
    });
    return n;
  }

  /** The non-zero entries as runs of equal TCEs, in index order (costs the records kept). */
  entryRuns(): { index: number; count: number; tce: bigint }[] {
    const out: { index: number; count: number; tce: bigint }[] = [];
    this.#entries.forEachRun((index, count, tce) => {
      out.push({ index, count, tce });
    });
    return out;
  }

  /**
   * Entries whose TCE grants some access, as series: `count` consecutive entries from `index`, the
   * k-th holding `tce + k * step` (step 0, or the page size for consecutive pages). Costs the
   * series, not the entries: a guest mapped one to one is one series per stretch of its RAM.
   */
  validSeries(): { index: number; count: number; tce: bigint; step: bigint }[] {
    const out: { index: number; count: number; tce: bigint; step: bigint }[] = [];
    const step = this.pageShift >= 2 && this.pageShift < 32 ? 2 ** this.pageShift : 0;
    this.#entries.forEachSeries(step, (index, count, tce, valueStep) => {
      if ((tce & 3n) !== 0n) out.push({ index, count, tce, step: count === 1 ? 0n : valueStep });
    });
    return out;
  }

  /** Entries whose TCE grants some access, one by one (bound the table first). */
  validEntries(): { index: number; tce: bigint }[] {
    const out: { index: number; tce: bigint }[] = [];
    this.#entries.forEach((index, tce) => {
      if ((tce & 3n) !== 0n) out.push({ index, tce });
    });
    return out;
  }

  /**
   * Enables the window (QEMU's `spapr_tce_table_enable`): maps `tce-iommu` into `tce-root` at the
   * bus offset, which listeners see at once. Returns false if it was already enabled.
   */
  enable(pageShift: number, busOffset: bigint, nbTable: number): boolean {
    if (this.nbTable !== 0) return false;
    const mr = this.iommu.region;
    // A create that failed on a zero-entry window left the region mapped; QEMU asserts when it
    // maps it again. Take it out first and say so.
    if (mr.container) {
      this.onQemuAbort?.(
        `memory_region_add_subregion_common: Assertion \`!subregion->container' failed (${mr.name} is still mapped after a create that made 0 entries)`,
      );
      mr.container.removeSubregion(mr);
    }
    this.pageShift = pageShift;
    this.#shift = BigInt(pageShift);
    this.#pageMask = wrap64(~((1n << this.#shift) - 1n));
    this.busOffset = busOffset;
    this.nbTable = nbTable >>> 0;
    this.#entries.clear();
    // Two commits, as in QEMU: the resize, then the mapping listeners see as region_add.
    mr.setSize(BigInt(this.nbTable) << BigInt(pageShift));
    this.root.addSubregion(mr, busOffset);
    return true;
  }

  /** Disables the window: unmaps the region (listeners see it go), forgets every entry. */
  disable(): void {
    if (this.nbTable === 0) return;
    const mr = this.iommu.region;
    // Listeners see region_del while the entries still exist; no notifications for them.
    this.root.removeSubregion(mr);
    mr.setSize(0n);
    this.#entries.clear();
    this.busOffset = 0n;
    this.pageShift = 0;
    this.#shift = 0n;
    this.#pageMask = U64_MAX;
    this.nbTable = 0;
  }

  /** Zeroes every entry without notifying anyone (device reset of the table). */
  resetEntries(): void {
    this.#entries.clear();
  }

  /** Entry index of a bus address, in 64-bit unsigned arithmetic (below the window wraps high). */
  indexOf(ioba: bigint): bigint {
    const rel = ioba - this.busOffset;
    return (rel >= 0n ? rel : wrap64(rel)) >> this.#shift;
  }

  /** The raw TCE at an entry index. */
  entry(index: number): bigint {
    return this.#entries.get(index);
  }

  /** Page mask of the window (all ones while disabled). */
  get pageMask(): bigint {
    return this.#pageMask;
  }

  #pageMask = U64_MAX;
  #shift = 0n;

  /** QEMU's `put_tce_emu`: store the raw TCE and send one MAP or UNMAP event. */
  putTce(ioba: bigint, tce: bigint): number {
    const index = this.indexOf(ioba);
    if (index >= BigInt(this.nbTable)) return H.parameter;
    const i = Number(index);
    this.#entries.set(i, tce);
    const pm = this.pageMask;
    const perm = Number(tce & 3n) as IommuPermission;
    const iova =
      this.iovaConvention === "absolute-live" ? ioba & pm : wrap64(ioba - this.busOffset) & pm;
    this.iommu.notify(0, {
      type: perm ? IommuNotifierFlag.map : IommuNotifierFlag.unmap,
      entry: {
        targetAs: this.targetAs,
        iova,
        translatedAddr: tce & pm,
        addrMask: U64_MAX ^ pm,
        perm,
      },
    });
    return H.success;
  }

  /**
   * H_STUFF_TCE's body: `tce` into `count` consecutive entries from `ioba` (page aligned), stopping
   * with H_PARAMETER at the window's end. Unobserved, the range is filled at once; with notifiers
   * each entry is written and notified in turn, as QEMU does, up to `materialisedEntryLimit`:
   * past it a `MaterialisationLimitError` is thrown and nothing changes.
   */
  stuffTce(ioba: bigint, tce: bigint, count: number): { ret: number; written: number } {
    const first = this.indexOf(ioba);
    if (count === 0) return { ret: H.success, written: 0 };
    if (first >= BigInt(this.nbTable)) return { ret: H.parameter, written: 0 };
    const fit = Math.min(count, this.nbTable - Number(first));
    const done = fit < count ? H.parameter : H.success;
    if (this.iommu.notifiers.length === 0 && !this.iommu.onNotify) {
      this.#entries.fillRange(Number(first), fit, tce);
      return { ret: done, written: fit };
    }
    if (fit > this.materialisedEntryLimit) throw this.#limitError(fit, tce);
    this.putTceSeries(ioba, tce, fit, 0n);
    return { ret: done, written: fit };
  }

  #limitError(entries: number, tce: bigint): MaterialisationLimitError {
    const map = (tce & 3n) !== 0n;
    const op = map ? "MAP" : "UNMAP";
    const page = formatBytes(2 ** this.pageShift);
    const host = map
      ? `, and the host's TCE table holds ${entries} entries (${formatBytes(entries * 8)}, and as much again for its shadow of user addresses)`
      : "";
    return new MaterialisationLimitError(
      `H_STUFF_TCE of ${entries} entries into LIOBN 0x${this.liobn.toString(16)} is mirrored entry by entry: real QEMU 7.2 sends ${entries} ${op} notifications and makes ${entries} VFIO_IOMMU_${op}_DMA ioctls, one per ${page} page${host}; iova materialises at most ${this.materialisedEntryLimit} entries per step (the materialised-entry limit). Nothing was changed.`,
      entries,
      this.materialisedEntryLimit,
    );
  }

  /** QEMU's `get_tce_emu`. */
  getTce(ioba: bigint): { ret: number; tce: bigint } {
    const index = this.indexOf(ioba);
    if (index >= BigInt(this.nbTable)) return { ret: H.parameter, tce: 0n };
    return { ret: H.success, tce: this.entry(Number(index)) };
  }

  // IommuModel

  translate(addr: bigint, _flag: IommuPermission, _iommuIdx: number): IommuTlbEntry {
    const index = Number(addr >> this.#shift);
    if (index < this.nbTable) {
      const pm = this.#pageMask;
      const tce = this.#entries.get(index);
      return {
        targetAs: this.targetAs,
        iova: addr & pm,
        translatedAddr: tce & pm,
        addrMask: U64_MAX ^ pm,
        perm: Number(tce & 3n) as IommuPermission,
      };
    }
    return { targetAs: this.targetAs, iova: 0n, translatedAddr: 0n, addrMask: U64_MAX, perm: 0 };
  }

  minPageSize(): bigint {
    return 1n << BigInt(this.pageShift);
  }

  /** QEMU's `spapr_tce_notify_flag_changed`: device-IOTLB notifiers are refused. */
  notifyFlagChanged(oldFlags: number, newFlags: number): IommuNotifierError | undefined {
    if (newFlags & IommuNotifierFlag.devIotlbUnmap)
      return new IommuNotifierError("spart_tce does not support dev-iotlb yet");
    // 7.2's set_need_vfio: a userspace table is usable by VFIO as it is.
    if (oldFlags === 0 && newFlags !== 0) this.needVfio = true;
    else if (newFlags === 0) this.needVfio = false;
    return undefined;
  }

  /**
   * QEMU 2016's walk at `granularity`, from the valid entries: each is translated once and
   * notified once per walk step inside its page (a 64 KiB page at 4 KiB steps: 16 times), as
   * the walk over the whole window would. Nothing while a window is being created (it is empty).
   */
  replayWalk(region: IommuRegion, n: IommuNotifier, granularity: bigint): void {
    if (this.skippingReplay) return;
    const shift = this.#shift;
    const pageSize = 1n << shift;
    this.#entries.forEach((i, tce) => {
      if ((tce & 3n) === 0n) return;
      const start = BigInt(i) << shift;
      const steps =
        (start + pageSize + granularity - 1n) / granularity -
        (start + granularity - 1n) / granularity;
      if (steps === 0n) return;
      const entry = region.translate(start, 0, n.iommuIdx);
      for (let k = 0n; k < steps; k++) n.notify(entry);
    });
  }

  /**
   * Replays valid entries in index order, or nothing while a window is being created. A notifier
   * that takes series (VFIO) is given each stretch of consecutive entries mapping consecutive
   * pages (or one page, a filled range) at once; it hears exactly what one notification per entry
   * would say.
   */
  replay(region: IommuRegion, n: IommuNotifier): void {
    if (this.skippingReplay) return;
    const shift = this.#shift;
    if (n.notifySeries === undefined || this.pageShift >= 32) {
      this.#entries.forEach((i) => {
        const entry = region.translate(BigInt(i) << shift, 0, n.iommuIdx);
        if (entry.perm !== 0) n.notify(entry);
      });
      return;
    }
    const pm = this.#pageMask;
    const addrMask = U64_MAX ^ pm;
    const nb = this.nbTable;
    this.#entries.forEachSeries(2 ** this.pageShift, (first, count, tce, step) => {
      if (first >= nb) return;
      const inWindow = Math.min(count, nb - first);
      // Each entry of the series is one translate call, as one by one.
      region.translateCount += inWindow;
      const perm = Number(tce & 3n) as IommuPermission;
      if (perm === 0) return;
      const entry: IommuTlbEntry = {
        targetAs: this.targetAs,
        iova: BigInt(first) << shift,
        translatedAddr: tce & pm,
        addrMask,
        perm,
      };
      if (inWindow === 1) n.notify(entry);
      else n.notifySeries!(entry, inWindow, step);
    });
  }

  /**
   * `count` H_PUT_TCEs at once: `tce + k * step` into the k-th entry from `ioba` (page aligned,
   * every entry inside the window; `step` 0 or the page size, the TCEs within 64 bits). When one
   * notifier takes the series whole (or nobody listens) the entries are written in place and
   * notified as one series; otherwise each is written and notified in turn, as `putTce` does.
   */
  putTceSeries(ioba: bigint, tce: bigint, count: number, step: bigint): void {
    const perm = Number(tce & 3n) as IommuPermission;
    const pm = this.pageMask;
    const iova =
      this.iovaConvention === "absolute-live" ? ioba & pm : wrap64(ioba - this.busOffset) & pm;
    const entry: IommuTlbEntry = {
      targetAs: this.targetAs,
      iova,
      translatedAddr: tce & pm,
      addrMask: U64_MAX ^ pm,
      perm,
    };
    const type = perm ? IommuNotifierFlag.map : IommuNotifierFlag.unmap;
    const target = count > 1 ? this.iommu.seriesTarget(0, type, entry, count) : undefined;
    if (target === undefined) {
      const pageSize = 1n << this.#shift;
      let at = ioba;
      let value = tce;
      for (let k = 0; k < count; k++, at += pageSize, value += step) this.putTce(at, value);
      return;
    }
    this.#entries.setSeries(Number(this.indexOf(ioba)), count, tce, step);
    if (target) target.notifySeries?.(entry, count, step);
  }
}
