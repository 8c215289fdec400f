/**
 * Plays a QEMU trace log of a guest driving virtio-iommu (`-trace 'virtio_iommu_*'`) on the
 * model: the guest's requests, resets and the devices' translations drive a q35 machine's
 * `VirtioIommu`; what QEMU did in return (endpoints and domains allocated and freed, address-space
 * switches, mappings an UNMAP removed, where each translation went, faults, PROBE's reserved
 * regions, notifications) must come out of the model the same, in the same order. The
 * configuration the driver read is checked against the model's.
 */
import type { Q35Machine } from "../machine/q35.ts";
import { VIRTIO_IOMMU_ATTACH_F_BYPASS } from "../virtio-iommu/constants.ts";
import type { VirtioIommuMapping } from "../virtio-iommu/virtio-iommu.ts";
import type { TraceEventDef } from "./event-def.ts";
import { printFormat, type TraceValue } from "./format.ts";
import { TraceReader } from "./reader.ts";
import type { TraceRecord } from "./record.ts";
import { virtioIommuEvents, virtioIommuEventUse } from "./virtio-iommu-events.ts";

/** A place where the model and the log disagree. */
export interface PlayDifference {
  /** The log line (0: at the end of the log). */
  readonly line: number;
  readonly log: string;
  readonly model: string;
}

/** What playing a log gave. */
export interface VirtioIommuPlay {
  /** Actions played, by event name. */
  readonly played: Readonly<Record<string, number>>;
  /** Device-side events compared (log and model agreeing or not). */
  readonly compared: number;
  /** The first differences (at most `MAX_DIFFERENCES`). */
  readonly differences: readonly PlayDifference[];
  /** Every difference, counted. */
  readonly differenceCount: number;
  /** The model's mappings at the end, by domain. */
  readonly mappings: ReadonlyMap<number, readonly VirtioIommuMapping[]>;
  /** Events of other sources in the log, skipped, by name. */
  readonly unknown: ReadonlyMap<string, number>;
}

/** Differences kept in full; the rest are counted. */
export const MAX_DIFFERENCES = 50;

const TABLES = {
  "7.2": new Map(virtioIommuEvents("7.2").map((d) => [d.name, d])),
  "10.0": new Map(virtioIommuEvents("10.0").map((d) => [d.name, d])),
};

/** Plays `log` (the whole text, or call with chunks through `push`) on `machine`'s virtio-iommu. */
export function playVirtioIommuLog(log: string, machine: Q35Machine): VirtioIommuPlay {
  const vi = machine.virtioIommu;
  if (!vi) throw new Error("the machine has no virtio-iommu-pci to play the log on");
  // The log is read with the formats of the QEMU the machine models.
  const TABLE = TABLES[machine.qemu];
  const pending: { def: TraceEventDef; text: string }[] = [];
  const differences: PlayDifference[] = [];
  let differenceCount = 0;
  const played: Record<string, number> = {};
  let compared = 0;
  let booted = false;
  const differ = (line: number, logText: string, model: string) => {
    differenceCount++;
    if (differences.length < MAX_DIFFERENCES) differences.push({ line, log: logText, model });
  };
  const render = (def: TraceEventDef, values: readonly TraceValue[]) =>
    `${def.name} ${printFormat(def.format, values)}`;
  const previous = vi.onTrace;
  vi.onTrace = (event, fields) => {
    const def = TABLE.get(event);
    if (!def || virtioIommuEventUse(event) !== "compared") return;
    pending.push({
      def,
      text: render(
        def,
        def.fields.map((f) => {
          const v = fields[f];
          return typeof v === "number" ? BigInt(v) : (v ?? "");
        }),
      ),
    });
  };
  const flush = (line: number) => {
    for (const p of pending.splice(0)) differ(line, "(nothing)", p.text);
  };
  const byName = new Map<string, typeof vi.devices extends Map<number, infer D> ? D : never>();
  const deviceNamed = (name: string) => {
    if (byName.size !== vi.devices.size) {
      for (const d of vi.devices.values()) byName.set(d.root.name, d);
    }
    return byName.get(name);
  };
  const n = (v: TraceValue) => Number(v);
  const b = (v: TraceValue) => BigInt(v);

  /**
   * ATTACH's bypass flag is not traced, but the address-space switch that follows it shows the
   * outcome: the request is held, with the events after it, until that switch (or the next
   * action) says which flag it had.
   */
  let heldAttach:
    | { domain: number; endpoint: number; events: [TraceRecord, TraceEventDef][] }
    | undefined;
  const releaseAttach = (switchedToBypass: boolean | undefined) => {
    const held = heldAttach;
    if (!held) return;
    heldAttach = undefined;
    const existing = vi.domains.get(held.domain);
    const bypass = existing ? existing.bypass : (switchedToBypass ?? false);
    vi.attach(held.domain, held.endpoint, bypass ? VIRTIO_IOMMU_ATTACH_F_BYPASS : 0);
    for (const [r, d] of held.events) onRecord(r, d);
  };

  const onRecord = (rec: TraceRecord, def: TraceEventDef): void => {
    const use = virtioIommuEventUse(rec.name);
    const v = rec.values;
    const text = render(def, v);
    if (heldAttach && use === "compared") {
      heldAttach.events.push([rec, def]);
      if (rec.name === "virtio_iommu_switch_address_space") releaseAttach(n(v[3]) === 0);
      return;
    }
    if (heldAttach && use === "action") releaseAttach(undefined);
    if (use === "compared") {
      if (!booted) return; // realize-time switches, before the machine's first reset
      if (rec.name === "virtio_iommu_fill_resv_property" && pending.length === 0) {
        // A PROBE is traced only through the properties it fills: play it at the first one.
        vi.probe(n(v[0]));
        played.virtio_iommu_probe = (played.virtio_iommu_probe ?? 0) + 1;
      }
      compared++;
      const next = pending.shift();
      if (!next) differ(rec.line, text, "(nothing)");
      else if (next.text !== text) differ(rec.line, text, next.text);
      return;
    }
    if (use === "context") {
      if (rec.name === "virtio_iommu_init_iommu_mr" && !deviceNamed(String(v[0]))) {
        differ(rec.line, text, "(no such region in the model)");
      }
      if (rec.name === "virtio_iommu_get_config" && booted) {
        const c = vi.config;
        const model = `page_size_mask=0x${c.pageSizeMask.toString(16)} input range end=0x${c.inputRange.end.toString(16)} bypass=${c.bypass ? 1 : 0}`;
        if (
          model !==
          `page_size_mask=0x${b(v[0]).toString(16)} input range end=0x${b(v[2]).toString(16)} bypass=${n(v[6])}`
        ) {
          differ(rec.line, text, model);
        }
      }
      if (rec.name === "virtio_iommu_freeze_granule" && b(v[0]) !== vi.granule) {
        differ(rec.line, text, `granule set to 0x${vi.granule.toString(16)}`);
      }
      return;
    }
    // An action: what the model owed the previous one must have been in the log by now.
    flush(rec.line);
    played[rec.name] = (played[rec.name] ?? 0) + 1;
    switch (rec.name) {
      case "virtio_iommu_system_reset":
        booted = true;
        vi.systemReset();
        break;
      case "virtio_iommu_device_reset":
      case "virtio_iommu_device_reset_exit":
        vi.deviceReset();
        break;
      case "virtio_iommu_set_config":
        vi.setConfigBypass(n(v[0]));
        break;
      case "virtio_iommu_attach":
        heldAttach = { domain: n(v[0]), endpoint: n(v[1]), events: [] };
        break;
      case "virtio_iommu_detach":
        vi.detach(n(v[0]), n(v[1]));
        break;
      case "virtio_iommu_map": {
        const status = vi.map(n(v[0]), b(v[1]), b(v[2]), b(v[3]), n(v[4]));
        if (status !== 0) differ(rec.line, text, `MAP refused with status ${status}`);
        break;
      }
      case "virtio_iommu_unmap":
        vi.unmap(n(v[0]), b(v[1]), b(v[2]));
        break;
      case "virtio_iommu_translate": {
        const d = deviceNamed(String(v[0]));
        if (!d) differ(rec.line, text, "(no such region in the model)");
        else d.iommu.translate(b(v[2]), n(v[3]) as 0 | 1 | 2 | 3, 0);
        break;
      }
    }
  };

  const reader = new TraceReader(TABLE, onRecord);
  try {
    reader.push(log);
    reader.end();
    releaseAttach(undefined);
    flush(0);
  } finally {
    vi.onTrace = previous;
  }
  const mappings = new Map<number, readonly VirtioIommuMapping[]>();
  for (const [id, d] of vi.domains) mappings.set(id, [...d.mappings]);
  return {
    played,
    compared,
    differences,
    differenceCount,
    mappings,
    unknown: reader.unknown,
  };
}
