/** Small helpers shared by the memory tests. */

import type { MemoryRegionOps } from "../../src/memory/access-types.ts";
import type { AddressSpace } from "../../src/memory/address-space.ts";
import type { FlatRange } from "../../src/memory/flat-view.ts";

/** A flat range as `start-end name@offset[ ro]`, hex without padding. */
export function describeRange(fr: FlatRange): string {
  const ro = fr.readonly ? " ro" : "";
  return `${fr.start.toString(16)}-${(fr.end - 1n).toString(16)} ${fr.mr.name}@${fr.offsetInRegion.toString(16)}${ro}`;
}

/** The current flat view of `as`, described range by range. */
export function flatOf(as: AddressSpace): string[] {
  return as.view.ranges.map(describeRange);
}

/** Callbacks that do nothing: the region renders and accepts accesses. */
export const NOOP_OPS: MemoryRegionOps = { read: () => 0n, write: () => 0 };
