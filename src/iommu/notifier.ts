/**
 * IOMMU notifiers (QEMU's `IOMMUNotifier`): a consumer such as VFIO asks to hear about MAP and/or
 * UNMAP events in a range of an IOMMU region. Ranges and `iova`s are offsets within the region.
 */
import type { IommuTlbEntry } from "../memory/iommu-types.ts";

/** Event kinds a notifier subscribes to (QEMU's `IOMMUNotifierFlag`). */
export const IommuNotifierFlag = {
  none: 0,
  unmap: 1,
  map: 2,
  devIotlbUnmap: 4,
  /** MAP | UNMAP: what VFIO registers for. */
  iotlbEvents: 3,
} as const;

/** An IOTLB event: a MAP (perm not none) or an UNMAP (perm none) of `entry`. */
export interface IommuTlbEvent {
  readonly type: 1 | 2 | 4;
  readonly entry: IommuTlbEntry;
}

/** A registered interest in an IOMMU region's mappings. */
export interface IommuNotifier {
  /** Called with the (cropped) entry; perm none means unmap. */
  notify(entry: IommuTlbEntry): void;
  /**
   * The same as `count` calls of `notify`, the k-th with `iova` advanced k pages (addrMask + 1)
   * and `translatedAddr` advanced k times `translatedStep` (0 or the page size): a notifier that
   * can mirror such a series at once says so by having this (it must keep every effect, in
   * order, that the calls one by one would have). The entries lie within its range.
   */
  notifySeries?(entry: IommuTlbEntry, count: number, translatedStep: bigint): void;
  /** OR of `IommuNotifierFlag` values. */
  readonly flags: number;
  /** First offset within the region of interest. */
  readonly start: bigint;
  /** Last offset within the region of interest (inclusive). */
  readonly end: bigint;
  readonly iommuIdx: number;
}

/** A notifier's refusal (QEMU's `notify_flag_changed` returning an error), or a bad request. */
export class IommuNotifierError extends Error {
  override name = "IommuNotifierError";
}
