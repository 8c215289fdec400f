/** Small helpers shared by the memory tests. */

import type { MemoryRegionOps } from "../../src/memory/access-types.ts";
import type { AddressSpace } from "../../src/memory/address-space.ts";
import type { FlatRange } from "../../src/memory/flat-view.ts";
import type { MemoryListener, MemoryRegionSection } from "../../src/memory/listener.ts";
import type { MemoryRegion } from "../../src/memory/region.ts";

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

/** Whether `from` reaches `to` through subregion and alias edges. */
export function reaches(
  from: MemoryRegion,
  to: MemoryRegion,
  seen = new Set<MemoryRegion>(),
): boolean {
  if (from === to) return true;
  if (seen.has(from)) return false;
  seen.add(from);
  if (from.alias && reaches(from.alias, to, seen)) return true;
  return from.subregions.some((s) => reaches(s, to, seen));
}

/**
 * A listener that records every callback as a line `TAG what SECTION` in `log`. `nop: false`
 * leaves region_nop out, as most listeners do; `globalLog` records global dirty-log start/stop.
 */
export function recordingListener(
  tag: string,
  log: string[],
  describe: (s: MemoryRegionSection) => string,
  options: { priority?: number; nop?: boolean; globalLog?: boolean } = {},
): MemoryListener {
  const rec = (what: string) => (s: MemoryRegionSection) =>
    log.push(`${tag} ${what} ${describe(s)}`);
  return {
    name: tag,
    priority: options.priority ?? 0,
    begin: () => log.push(`${tag} begin`),
    commit: () => log.push(`${tag} commit`),
    regionAdd: rec("add"),
    regionDel: rec("del"),
    regionNop: options.nop === false ? undefined : rec("nop"),
    logStart: (s, o, n) => log.push(`${tag} log_start ${describe(s)} ${o}->${n}`),
    logStop: (s, o, n) => log.push(`${tag} log_stop ${describe(s)} ${o}->${n}`),
    ...(options.globalLog
      ? {
          logGlobalStart: () => log.push(`${tag} log_global_start`),
          logGlobalStop: () => log.push(`${tag} log_global_stop`),
        }
      : {}),
  };
}
