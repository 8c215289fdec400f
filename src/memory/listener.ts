/**
 * Memory listeners (QEMU's `MemoryListener`) and the sections they are given. A listener follows
 * one address space; at every topology commit it sees the difference between the old and the new
 * flat view: all deletions (newest listener first) before all additions (oldest first).
 */
import type { AddressSpace } from "./address-space.ts";
import { type FlatRange, type FlatView, flatRangeEqual } from "./flat-view.ts";
import type { MemoryRegion } from "./region.ts";

/** A piece of a region as it appears in an address space (QEMU's `MemoryRegionSection`). */
export interface MemoryRegionSection {
  readonly mr: MemoryRegion;
  readonly addressSpace: AddressSpace;
  readonly offsetWithinRegion: bigint;
  readonly offsetWithinAddressSpace: bigint;
  /** Bytes; may be 2^64. */
  readonly size: bigint;
  readonly readonly: boolean;
  readonly nonvolatile: boolean;
}

/** Callbacks a listener may implement; all optional. */
export interface MemoryListener {
  readonly name?: string;
  /** Lower runs first for additions, last for deletions (QEMU: MIN 0, ACCEL 10). */
  readonly priority?: number;
  begin?(): void;
  commit?(): void;
  regionAdd?(section: MemoryRegionSection): void;
  regionDel?(section: MemoryRegionSection): void;
  regionNop?(section: MemoryRegionSection): void;
  logStart?(section: MemoryRegionSection, oldMask: number, newMask: number): void;
  logStop?(section: MemoryRegionSection, oldMask: number, newMask: number): void;
  logGlobalStart?(): void;
  logGlobalStop?(): void;
}

/** Builds the section for a flat range (QEMU's `section_from_flat_range`). */
export function sectionOf(as: AddressSpace, fr: FlatRange): MemoryRegionSection {
  return {
    mr: fr.mr,
    addressSpace: as,
    offsetWithinRegion: fr.offsetInRegion,
    offsetWithinAddressSpace: fr.start,
    size: fr.end - fr.start,
    readonly: fr.readonly,
    nonvolatile: fr.nonvolatile,
  };
}

/**
 * Sends `listeners` (ascending priority) the difference between two views of `as`
 * (QEMU's two `address_space_update_topology_pass` calls).
 */
export function diffFlatViews(
  as: AddressSpace,
  oldView: FlatView,
  newView: FlatView,
  listeners: readonly MemoryListener[],
): void {
  for (const adding of [false, true]) {
    const olds = oldView.ranges;
    const news = newView.ranges;
    let io = 0;
    let inew = 0;
    while (io < olds.length || inew < news.length) {
      const frOld = olds[io];
      const frNew = news[inew];
      if (
        frOld &&
        (!frNew ||
          frOld.start < frNew.start ||
          (frOld.start === frNew.start && !flatRangeEqual(frOld, frNew)))
      ) {
        if (!adding) {
          const s = sectionOf(as, frOld);
          for (let k = listeners.length - 1; k >= 0; k--) listeners[k].regionDel?.(s);
        }
        io++;
      } else if (frOld && frNew && flatRangeEqual(frOld, frNew)) {
        if (adding) {
          const s = sectionOf(as, frNew);
          for (const l of listeners) l.regionNop?.(s);
          if (frNew.dirtyLogMask & ~frOld.dirtyLogMask) {
            for (const l of listeners) l.logStart?.(s, frOld.dirtyLogMask, frNew.dirtyLogMask);
          }
          if (frOld.dirtyLogMask & ~frNew.dirtyLogMask) {
            for (let k = listeners.length - 1; k >= 0; k--) {
              listeners[k].logStop?.(s, frOld.dirtyLogMask, frNew.dirtyLogMask);
            }
          }
        }
        io++;
        inew++;
      } else {
        if (adding) {
          const s = sectionOf(as, frNew);
          for (const l of listeners) l.regionAdd?.(s);
        }
        inew++;
      }
    }
  }
}
