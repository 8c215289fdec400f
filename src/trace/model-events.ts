/**
 * The model's trace events (what `runScenario` reports to its `trace` option) as QEMU's event
 * lines, for the events QEMU traces the same way: VFIO's listener, notifications and host windows.
 */

import type { TraceEventDef } from "./event-def.ts";
import { TRACE_EVENTS } from "./events.ts";
import { printFormat, type TraceValue } from "./format.ts";

const big = (v: unknown): bigint => (typeof v === "bigint" ? v : BigInt(v as string | number));

/** How each model event's fields fill the QEMU event's arguments. */
const FROM_MODEL: Record<string, (e: Record<string, unknown>) => TraceValue[]> = {
  vfio_listener_region_add_iommu: (e) => [big(e.start), big(e.end)],
  vfio_listener_region_add_ram: (e) => [big(e.start), big(e.end), 0n],
  vfio_listener_region_add_skip: (e) => [big(e.start), big(e.end)],
  vfio_listener_region_del: (e) => [big(e.start), big(e.end)],
  vfio_listener_region_del_skip: (e) => [big(e.start), big(e.end)],
  vfio_iommu_map_notify: (e) => [String(e.op), big(e.iova_start), big(e.iova_end)],
  vfio_spapr_create_window: (e) => [
    big(e.page_shift),
    big(e.levels),
    big(e.window_size),
    big(e.start),
  ],
  vfio_spapr_remove_window: (e) => [big(e.start)],
};

/** A model event as a QEMU event (definition and arguments), or undefined if QEMU has no such line. */
export function modelEvent(
  e: Record<string, unknown>,
): { def: TraceEventDef; values: TraceValue[] } | undefined {
  const name = String(e.event);
  const from = FROM_MODEL[name];
  const def = TRACE_EVENTS.get(name);
  if (!from || !def) return undefined;
  return { def, values: from(e) };
}

/** An event as one log line (without a timestamp prefix). */
export function eventLine(def: TraceEventDef, values: readonly TraceValue[]): string {
  // The log backend prints the name, a space, then the format (which may start with a space).
  return `${def.name} ${printFormat(def.format, values)}`;
}

/** The line compared with another: host pointers (which differ run to run) blanked. */
export function comparableLine(
  def: TraceEventDef,
  values: readonly TraceValue[],
  wildOp = false,
): string {
  const masked = values.map((v, i) => {
    const piece = def.format.pieces.filter((p) => !("literal" in p))[i] as { conv: string };
    if (piece.conv === "ptr") return "*";
    if (wildOp && def.fields[i] === "op") return "?";
    return v;
  });
  let out = "";
  let v = 0;
  for (const piece of def.format.pieces) {
    if ("literal" in piece) out += piece.literal;
    else {
      const value = masked[v++];
      out +=
        value === "*" || value === "?"
          ? value
          : printFormat({ text: "", pieces: [piece] }, [value]);
    }
  }
  return `${def.name} ${out}`;
}
