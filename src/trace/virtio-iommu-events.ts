/**
 * QEMU 7.2's virtio-iommu trace events (hw/virtio/trace-events, `# hw/virtio/virtio-iommu.c`).
 * Field names are the keys the model's own trace sink uses (`VirtioIommu.onTrace`), so a log line
 * and a model event compare by printing both through the same format. A log of a q35 guest with
 * virtio-iommu is played by `playVirtioIommuLog` (trace/virtio-iommu-play.ts); the rebuild into a
 * scenario (pseries today) only notes that such events were there.
 */
import type { QemuLine } from "../machine/qemu-line.ts";
import { type EventRole, type TraceEventDef, traceEvent } from "./event-def.ts";

/** What the pseries rebuild says of a virtio-iommu event (once per log). */
export const VIRTIO_IOMMU_REBUILD_NOTE =
  "virtio-iommu events: not a scenario step yet; `playVirtioIommuLog` plays them on a q35 machine";

/**
 * How the player uses each event: `action` drives the model (a request, a reset, a translation);
 * `compared` is what the model must emit in the same order; `context` is read and not compared.
 */
export type VirtioIommuEventUse = "action" | "compared" | "context";

const USE = new Map<string, VirtioIommuEventUse>();

const event = (
  name: string,
  format: string,
  fields: string[],
  use: VirtioIommuEventUse,
  contributes: string,
): TraceEventDef => {
  USE.set(name, use);
  const role: EventRole =
    use === "action" ? "guest action" : use === "compared" ? "device side" : "context";
  return traceEvent(name, format, fields, role, contributes, (rec, _f, into) => {
    if (!into.notes.some((n) => n.text === VIRTIO_IOMMU_REBUILD_NOTE))
      into.note(rec.line, VIRTIO_IOMMU_REBUILD_NOTE);
  });
};

/** How the player uses an event of the table. */
export function virtioIommuEventUse(name: string): VirtioIommuEventUse | undefined {
  return USE.get(name);
}

const GET_CONFIG_FIELDS = [
  "page_size_mask",
  "input_start",
  "input_end",
  "domain_start",
  "domain_end",
  "probe_size",
  "bypass",
];
const GET_CONFIG_WHY =
  "The driver read the configuration (page-size mask, input range and bypass checked against the model's).";

/**
 * QEMU 10.0's format of `virtio_iommu_get_config`: the domain range as unsigned (9.0, "virtio-iommu:
 * Trace domain range limits as unsigned int"), so its end prints 4294967295 where 7.2 prints -1.
 */
export const VIRTIO_IOMMU_GET_CONFIG_10: TraceEventDef = event(
  "virtio_iommu_get_config",
  "page_size_mask=0x%lx input range start=0x%lx input range end=0x%lx domain range start=%u domain range end=%u probe_size=0x%x bypass=0x%x",
  GET_CONFIG_FIELDS,
  "context",
  GET_CONFIG_WHY,
);

/** The virtio-iommu events (7.2's formats; events new in 10.0 have names of their own). */
export const VIRTIO_IOMMU_EVENTS: readonly TraceEventDef[] = [
  event(
    "virtio_iommu_device_reset_exit",
    "reset!",
    [],
    "action",
    "QEMU 10.0: the device was reset (the Resettable exit phase): every domain and endpoint goes.",
  ),
  event(
    "virtio_iommu_freeze_granule",
    "granule set to 0x%lx",
    ["granule"],
    "context",
    "QEMU 10.0: machine-done froze the page-size mask (the granule is checked against the model's).",
  ),
  event(
    "virtio_iommu_host_resv_regions",
    "mr=%s host-resv-reg[%d] = [0x%lx,0x%lx]",
    ["name", "index", "start", "end"],
    "context",
    "QEMU 10.0: a reserved range of the host's, from an assigned device.",
  ),
  event(
    "virtio_iommu_update_page_size_mask",
    "host iommu device=%s old_mask=0x%lx new_mask=0x%lx",
    ["name", "old", "new"],
    "context",
    "QEMU 10.0: an assigned device gave the host's page sizes.",
  ),
  event(
    "virtio_iommu_detach_endpoint_from_domain",
    "domain=%d endpoint=%d",
    ["domain", "endpoint"],
    "compared",
    "QEMU 10.0: an endpoint leaves its domain.",
  ),
  event(
    "virtio_iommu_device_reset",
    "reset!",
    [],
    "action",
    "The device was reset: every domain and endpoint goes.",
  ),
  event(
    "virtio_iommu_system_reset",
    "system reset!",
    [],
    "action",
    "System reset: config.bypass back to boot-bypass.",
  ),
  event(
    "virtio_iommu_get_features",
    "device supports features=0x%lx",
    ["features"],
    "context",
    "The features the device offers.",
  ),
  event(
    "virtio_iommu_device_status",
    "driver status = %d",
    ["status"],
    "context",
    "The driver's status byte.",
  ),
  event(
    "virtio_iommu_get_config",
    "page_size_mask=0x%lx input range start=0x%lx input range end=0x%lx domain range start=%d domain range end=%d probe_size=0x%x bypass=0x%x",
    GET_CONFIG_FIELDS,
    "context",
    GET_CONFIG_WHY,
  ),
  event(
    "virtio_iommu_set_config",
    "bypass=0x%x",
    ["bypass"],
    "action",
    "The driver wrote config.bypass.",
  ),
  event(
    "virtio_iommu_attach",
    "domain=%d endpoint=%d",
    ["domain", "endpoint"],
    "action",
    "An ATTACH request.",
  ),
  event(
    "virtio_iommu_detach",
    "domain=%d endpoint=%d",
    ["domain", "endpoint"],
    "action",
    "A DETACH request.",
  ),
  event(
    "virtio_iommu_map",
    "domain=%d virt_start=0x%lx virt_end=0x%lx phys_start=0x%lx flags=%d",
    ["domain", "virt_start", "virt_end", "phys_start", "flags"],
    "action",
    "A MAP request that passed its checks (7.2 traces it after them).",
  ),
  event(
    "virtio_iommu_unmap",
    "domain=%d virt_start=0x%lx virt_end=0x%lx",
    ["domain", "virt_start", "virt_end"],
    "action",
    "An UNMAP request.",
  ),
  event(
    "virtio_iommu_unmap_done",
    "domain=%d virt_start=0x%lx virt_end=0x%lx",
    ["domain", "virt_start", "virt_end"],
    "compared",
    "A mapping the UNMAP removed.",
  ),
  event(
    "virtio_iommu_translate",
    "mr=%s rid=%d addr=0x%lx flag=%d",
    ["name", "rid", "addr", "flag"],
    "action",
    "A DMA access translated (replayed on the model's region).",
  ),
  event(
    "virtio_iommu_init_iommu_mr",
    "init %s",
    ["name"],
    "context",
    "A function's IOMMU region created (names checked).",
  ),
  event(
    "virtio_iommu_get_endpoint",
    "Alloc endpoint=%d",
    ["endpoint"],
    "compared",
    "An endpoint created.",
  ),
  event(
    "virtio_iommu_put_endpoint",
    "Free endpoint=%d",
    ["endpoint"],
    "compared",
    "An endpoint freed.",
  ),
  event("virtio_iommu_get_domain", "Alloc domain=%d", ["domain"], "compared", "A domain created."),
  event("virtio_iommu_put_domain", "Free domain=%d", ["domain"], "compared", "A domain freed."),
  event(
    "virtio_iommu_translate_out",
    "0x%lx -> 0x%lx for sid=%d",
    ["virt", "phys", "sid"],
    "compared",
    "Where a translation went.",
  ),
  event(
    "virtio_iommu_report_fault",
    "FAULT reason=%d flags=%d endpoint=%d address =0x%lx",
    ["reason", "flags", "endpoint", "address"],
    "compared",
    "A fault written to the event queue.",
  ),
  event(
    "virtio_iommu_fill_resv_property",
    "dev= %d, type=%d start=0x%lx end=0x%lx",
    ["endpoint", "subtype", "start", "end"],
    "compared",
    "A reserved region in a PROBE reply (a PROBE is played when one arrives unexpected).",
  ),
  event(
    "virtio_iommu_notify_map",
    "mr=%s virt_start=0x%lx virt_end=0x%lx phys_start=0x%lx flags=%d",
    ["name", "virt_start", "virt_end", "phys_start", "flags"],
    "compared",
    "A MAP notification to the region's notifiers (VFIO).",
  ),
  event(
    "virtio_iommu_notify_unmap",
    "mr=%s virt_start=0x%lx virt_end=0x%lx",
    ["name", "virt_start", "virt_end"],
    "compared",
    "An UNMAP notification to the region's notifiers.",
  ),
  event(
    "virtio_iommu_remap",
    "mr=%s virt_start=0x%lx virt_end=0x%lx phys_start=0x%lx",
    ["name", "virt_start", "virt_end", "phys_start"],
    "compared",
    "A mapping replayed to a new notifier.",
  ),
  event(
    "virtio_iommu_set_page_size_mask",
    "mr=%s old_mask=0x%lx new_mask=0x%lx",
    ["name", "old", "new"],
    "context",
    "VFIO gave the host's page sizes.",
  ),
  event(
    "virtio_iommu_notify_flag_add",
    "add notifier to mr %s",
    ["name"],
    "context",
    "A notifier (VFIO) registered.",
  ),
  event(
    "virtio_iommu_notify_flag_del",
    "del notifier from mr %s",
    ["name"],
    "context",
    "The last notifier left.",
  ),
  event(
    "virtio_iommu_switch_address_space",
    "Device %02x:%02x.%x switching address space (iommu enabled=%d)",
    ["bus", "slot", "fn", "on"],
    "compared",
    "A function switched between its IOMMU region and bypass.",
  ),
];

/** The events as a release prints them: 10.0's `virtio_iommu_get_config` differs in format. */
export function virtioIommuEvents(qemu: QemuLine): readonly TraceEventDef[] {
  if (qemu === "7.2") return VIRTIO_IOMMU_EVENTS;
  return VIRTIO_IOMMU_EVENTS.map((d) =>
    d.name === "virtio_iommu_get_config" ? VIRTIO_IOMMU_GET_CONFIG_10 : d,
  );
}
