/**
 * IOMMU memory regions (QEMU's `IOMMUMemoryRegion`): a region whose accesses are translated, with
 * the notifiers that consumers register, notification with range cropping, and replay.
 *
 * The convention (settled in 2016, QEMU commit d78c19b5cf): the `iova` of a translation result or a
 * notification is an offset within the IOMMU region, the domain `translate` and replay work in. A
 * consumer that needs a bus address adds the section's offset (offset within the address space
 * minus offset within the region) itself, as VFIO does.
 */
import type { MemTxAttrs } from "../memory/access-types.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import { maxBig, minBig, U64_MAX } from "../memory/int.ts";
import type { IommuPermission, IommuTlbEntry, IommuTranslator } from "../memory/iommu-types.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, RegionOptions } from "../memory/region.ts";
import {
  type IommuNotifier,
  IommuNotifierError,
  IommuNotifierFlag,
  type IommuTlbEvent,
} from "./notifier.ts";

/** What an IOMMU model implements (QEMU's `IOMMUMemoryRegionClass`). */
export interface IommuModel {
  /** Translates `addr` (an offset within the region); `flag` none asks for every permission. */
  translate(addr: bigint, flag: IommuPermission, iommuIdx: number): IommuTlbEntry;
  /** Smallest page the IOMMU maps; default 4 KiB (the target page). */
  minPageSize?(): bigint;
  /** Told when the union of notifier flags changes; a returned error refuses the notifier. */
  notifyFlagChanged?(oldFlags: number, newFlags: number): IommuNotifierError | undefined;
  /** Replays current mappings to a new notifier; default: a walk at the minimum page size. */
  replay?(region: IommuRegion, notifier: IommuNotifier): void;
  /**
   * The walk at a caller's granularity (QEMU before 2017, `memory_region_iommu_replay` with a
   * granularity argument) done faster: it must notify exactly what the walk would.
   */
  replayWalk?(region: IommuRegion, notifier: IommuNotifier, granularity: bigint): void;
  /**
   * Told the page sizes a consumer (VFIO) can map (QEMU's `iommu_set_page_size_mask`); returns
   * the error text of a refusal. Models without it accept any mask.
   */
  setPageSizeMask?(mask: bigint): string | undefined;
  /**
   * Every valid translation now, read from the guest's tables without touching the model's
   * caches or what its notifiers were told (for invariant checks and reports). Models without
   * it are read through `replay`, which must then have no side effects.
   */
  mappings?(visit: (entry: IommuTlbEntry) => void): void;
  /** The IOMMU index for a transaction's attributes; default 0. */
  attrsToIndex?(attrs: MemTxAttrs): number;
  /** How many IOMMU indexes exist; default 1. */
  numIndexes?(): number;
}

/** Options for an IOMMU region. */
export interface IommuRegionOptions extends RegionOptions {
  /**
   * The most translate calls the default replay may make before it gives up with an error
   * (QEMU would keep going and freeze the guest, the SMMUv3 bug of 2019). Default 2^24.
   */
  readonly replayLimit?: number;
}

/** An IOMMU region and its notifiers. */
export class IommuRegion implements IommuTranslator {
  /** The memory region that places this IOMMU in an address space. */
  readonly region: MemoryRegion;
  readonly model: IommuModel;
  /** Translate calls so far: for tests and benchmarks of replay cost. */
  translateCount = 0;
  /** Observes every notification sent (for tracing); does not change delivery. */
  onNotify: ((iommuIdx: number, event: IommuTlbEvent) => void) | undefined;
  readonly #notifiers: IommuNotifier[] = [];
  #flags = 0;
  readonly #replayLimit: number;

  constructor(
    system: MemorySystem,
    name: string,
    size: bigint,
    model: IommuModel,
    options: IommuRegionOptions = {},
  ) {
    this.model = model;
    this.#replayLimit = options.replayLimit ?? 2 ** 24;
    this.region = system.iommu(name, size, this, options);
  }

  /** The IOMMU region behind a memory region, if it is one. */
  static of(mr: MemoryRegion): IommuRegion | undefined {
    const target = mr.resolveAlias();
    return target.iommu instanceof IommuRegion ? target.iommu : undefined;
  }

  translate(addr: bigint, flag: IommuPermission, iommuIdx: number): IommuTlbEntry {
    this.translateCount++;
    return this.model.translate(addr, flag, iommuIdx);
  }

  attrsToIndex(attrs: MemTxAttrs): number {
    return this.model.attrsToIndex?.(attrs) ?? 0;
  }

  get numIndexes(): number {
    return this.model.numIndexes?.() ?? 1;
  }

  get minPageSize(): bigint {
    return this.model.minPageSize?.() ?? 0x1000n;
  }

  /** QEMU's `memory_region_iommu_set_page_size_mask`: the model's answer, or none. */
  setPageSizeMask(mask: bigint): string | undefined {
    return this.model.setPageSizeMask?.(mask);
  }

  /** Registered notifiers, newest first. */
  get notifiers(): readonly IommuNotifier[] {
    return this.#notifiers;
  }

  /** The union of the notifiers' flags. */
  get notifierFlags(): number {
    return this.#flags;
  }

  /**
   * Registers `n` (QEMU's `memory_region_register_iommu_notifier`): newest first; if the union of
   * flags changes, the model is told and may refuse, in which case nothing is registered.
   */
  registerNotifier(n: IommuNotifier): void {
    if (n.flags === IommuNotifierFlag.none) throw new IommuNotifierError("notifier with no flags");
    if (n.start > n.end) throw new IommuNotifierError("notifier range starts after it ends");
    if (n.iommuIdx < 0 || n.iommuIdx >= this.numIndexes) {
      throw new IommuNotifierError(`IOMMU index ${n.iommuIdx} out of range`);
    }
    this.#notifiers.unshift(n);
    const error = this.#updateFlags();
    if (error) {
      this.#notifiers.shift();
      this.#flags = this.#union();
      throw error;
    }
  }

  /** Removes `n`; the model hears of the new flag union (and cannot refuse). */
  unregisterNotifier(n: IommuNotifier): void {
    const at = this.#notifiers.indexOf(n);
    if (at < 0) return;
    this.#notifiers.splice(at, 1);
    this.#updateFlags();
  }

  /** Delivers an event to every notifier of index `iommuIdx` (QEMU's `memory_region_notify_iommu`). */
  notify(iommuIdx: number, event: IommuTlbEvent): void {
    this.onNotify?.(iommuIdx, event);
    for (const n of this.#notifiers.slice()) {
      if (n.iommuIdx === iommuIdx) notifyOne(n, event);
    }
  }

  /**
   * Who hears `count` events of `type` for consecutive pages from `entry` (see
   * `IommuNotifier.notifySeries`), when they can go as one series: null when nobody would hear
   * them, the one notifier that takes them whole, or undefined when they must go one by one (an
   * observer, several notifiers, one without series, or a range that crops them).
   */
  seriesTarget(
    iommuIdx: number,
    type: 1 | 2,
    entry: IommuTlbEntry,
    count: number,
  ): IommuNotifier | null | undefined {
    if (this.onNotify) return undefined;
    let target: IommuNotifier | null = null;
    for (const n of this.#notifiers) {
      if (n.iommuIdx !== iommuIdx) continue;
      if (target) return undefined;
      target = n;
    }
    if (!target || !(type & target.flags)) return null;
    if (type === IommuNotifierFlag.unmap && entry.perm !== 0) return undefined;
    const last = entry.iova + BigInt(count) * (entry.addrMask + 1n) - 1n;
    if (target.start > last || target.end < entry.iova) return null;
    if (target.start > entry.iova || target.end < last) return undefined;
    return target.notifySeries ? target : undefined;
  }

  /**
   * Sends `n` an UNMAP of its whole range (QEMU's `memory_region_unmap_iommu_notifier_range`),
   * naming `targetAs` (QEMU names system memory) as the target.
   */
  unmapNotifierRange(n: IommuNotifier, targetAs: AddressSpace): void {
    notifyOne(n, {
      type: IommuNotifierFlag.unmap,
      entry: {
        targetAs,
        iova: n.start,
        translatedAddr: 0n,
        addrMask: n.end - n.start,
        perm: 0,
      },
    });
  }

  /**
   * Replays current mappings to `n`: the model's own replay if it has one, else QEMU's walk of the
   * whole region at the minimum page size, notifying every entry with a permission (no cropping,
   * no flag filtering).
   */
  replay(n: IommuNotifier): void {
    if (this.model.replay) this.model.replay(this, n);
    else this.#walk(n, this.minPageSize);
  }

  /**
   * QEMU 2016's replay (`memory_region_iommu_replay(mr, n, granularity, false)`): translate every
   * `granularity` bytes of the whole region, notify each translation with a permission, with no
   * model hook (a page bigger than the granularity is notified once per step it covers).
   */
  replayWalk(n: IommuNotifier, granularity: bigint): void {
    if (this.model.replayWalk) this.model.replayWalk(this, n, granularity);
    else this.#walk(n, granularity);
  }

  /** QEMU's generic walk: translate every `granularity` bytes of the region, notify what maps. */
  #walk(n: IommuNotifier, granularity: bigint): void {
    const size = this.region.size === 1n << 64n ? U64_MAX : this.region.size;
    const calls = size / granularity + 1n;
    if (calls > BigInt(this.#replayLimit)) {
      throw new IommuNotifierError(
        `replay of ${this.region.name} would translate ${calls} pages (limit ${this.#replayLimit}): QEMU would stall here`,
      );
    }
    for (let addr = 0n; addr < size; addr += granularity) {
      const entry = this.translate(addr, 0, n.iommuIdx);
      if (entry.perm !== 0) n.notify(entry);
      if (addr + granularity > U64_MAX) break;
    }
  }

  #union(): number {
    return this.#notifiers.reduce((flags, n) => flags | n.flags, 0);
  }

  #updateFlags(): IommuNotifierError | undefined {
    const next = this.#union();
    const old = this.#flags;
    if (next === old) return undefined;
    const error = this.model.notifyFlagChanged?.(old, next);
    if (!error) this.#flags = next;
    return error;
  }
}

/**
 * QEMU's `memory_region_notify_iommu_one`: skip a notifier whose range misses the entry, crop iova
 * and mask to the range (the translated address is left alone), and deliver only subscribed kinds.
 */
export function notifyOne(n: IommuNotifier, event: IommuTlbEvent): void {
  const { entry } = event;
  if (event.type === IommuNotifierFlag.unmap && entry.perm !== 0) {
    throw new IommuNotifierError("an UNMAP event must carry no permission");
  }
  const end = entry.iova + entry.addrMask;
  if (n.start > end || n.end < entry.iova) return;
  if (!(event.type & n.flags)) return;
  const iova = maxBig(entry.iova, n.start);
  const last = minBig(end, n.end);
  n.notify({ ...entry, iova, addrMask: last - iova });
}
