/**
 * An entry of the event table: a QEMU trace event iova reads, its format (as QEMU 7.2's trace-events
 * declares it), and what it contributes to the rebuilt run. Another guest IOMMU's events (`vtd_*`,
 * `virtio_iommu_*`) join by adding a table beside these; the reader and the rebuild do not change.
 */
import { compileFormat, type TraceFormat, type TraceValue } from "./format.ts";
import type { Rebuild } from "./rebuild.ts";
import type { TraceRecord } from "./record.ts";

/** What an event is for. */
export type EventRole =
  /** The guest did something: it becomes a scenario step. */
  | "guest action"
  /** QEMU's device side reacted: compared, in order, with what the model predicts. */
  | "device side"
  /** Checked against the model's state when it happened (a translation, a read-back). */
  | "checked"
  /** Context the rebuild uses (a table allocated, a device realized). */
  | "context";

/** One event of the table. */
export interface TraceEventDef {
  readonly name: string;
  readonly format: TraceFormat;
  /** Names of the format's arguments, in order. */
  readonly fields: readonly string[];
  readonly role: EventRole;
  /** What it contributes, in a sentence (listed in docs/trace.md). */
  readonly contributes: string;
  /** Adds the event's contribution to the rebuild. */
  readonly apply: (
    record: TraceRecord,
    fields: Readonly<Record<string, TraceValue>>,
    into: Rebuild,
    def: TraceEventDef,
  ) => void;
}

/** Builds a table entry from its format text. */
export function traceEvent(
  name: string,
  format: string,
  fields: readonly string[],
  role: EventRole,
  contributes: string,
  apply: TraceEventDef["apply"],
): TraceEventDef {
  const compiled = compileFormat(format);
  const convs = compiled.pieces.filter((p) => !("literal" in p)).length;
  if (convs !== fields.length)
    throw new Error(`${name}: ${fields.length} fields for ${convs} conversions`);
  return { name, format: compiled, fields, role, contributes, apply };
}

/** A record's values by field name. */
export function fieldsOf(def: TraceEventDef, record: TraceRecord): Record<string, TraceValue> {
  const out: Record<string, TraceValue> = {};
  def.fields.forEach((f, i) => {
    out[f] = record.values[i];
  });
  return out;
}
