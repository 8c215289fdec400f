/**
 * QEMU 10.0's per-function reserved regions of virtio-iommu (since 9.1): the host's reserved
 * IOVA ranges (the complement of the usable ranges the assigned device's container reports),
 * all of type RESERVED, overlaid by the machine's `reserved-regions` (on q35 the MSI window),
 * which win where they overlap. The list stays sorted and disjoint, as QEMU's
 * `resv_region_list_insert` keeps it.
 */
import { U64_MAX } from "../memory/int.ts";
import type { ReservedRegion } from "./virtio-iommu.ts";

/** A closed range [start, last]. */
export interface ClosedRange {
  readonly start: bigint;
  readonly last: bigint;
}

/**
 * Inserts `region` into a sorted list of disjoint regions: the parts of the existing regions it
 * overlaps go (a region it cuts in two leaves both ends), then it takes its place in order.
 * Returns a new list; the input is left as it was.
 */
export function insertReservedRegion(
  list: readonly ReservedRegion[],
  region: ReservedRegion,
): ReservedRegion[] {
  const out: ReservedRegion[] = [];
  for (const r of list) {
    if (r.high < region.low || r.low > region.high) {
      out.push(r);
      continue;
    }
    if (r.low < region.low) out.push({ low: r.low, high: region.low - 1n, type: r.type });
    if (r.high > region.high) out.push({ low: region.high + 1n, high: r.high, type: r.type });
  }
  const at = out.findIndex((r) => r.low > region.high);
  out.splice(at < 0 ? out.length : at, 0, region);
  return out;
}

/**
 * The gaps of sorted usable ranges within [0, 2^64 - 1] (QEMU's `range_inverse_array`): what a
 * device behind the host IOMMU cannot use.
 */
export function complementRanges(usable: readonly ClosedRange[]): ClosedRange[] {
  const sorted = [...usable].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const gaps: ClosedRange[] = [];
  let next = 0n;
  let covered = false; // whether the ranges reached 2^64 - 1
  for (const r of sorted) {
    if (r.start > next) gaps.push({ start: next, last: r.start - 1n });
    if (r.last >= next) {
      if (r.last === U64_MAX) {
        covered = true;
        break;
      }
      next = r.last + 1n;
    }
  }
  if (!covered) gaps.push({ start: next, last: U64_MAX });
  return gaps;
}
