/**
 * QEMU 7.2's VFIO trace events (hw/vfio/trace-events) that follow the guest's IOMMU into the host:
 * the memory listener's sections, IOMMU notifications, and the host windows of sPAPR TCE v2. All
 * are device side (compared in order with the model's), except a device's realize, which is a
 * hot-plug once the guest runs.
 */
import { type TraceEventDef, traceEvent } from "./event-def.ts";

const device = (name: string, format: string, fields: string[], contributes: string) =>
  traceEvent(name, format, fields, "device side", contributes, (rec, _f, into, def) =>
    into.observe(rec, def),
  );

/** The VFIO events. */
export const VFIO_EVENTS: readonly TraceEventDef[] = [
  device(
    "vfio_listener_region_add_iommu",
    "region_add [iommu] 0x%lx - 0x%lx",
    ["start", "end"],
    "The VFIO listener took a guest IOMMU window (bus addresses first to last).",
  ),
  device(
    "vfio_listener_region_add_ram",
    "region_add [ram] 0x%lx - 0x%lx [%p]",
    ["start", "end", "vaddr"],
    "The VFIO listener mapped a RAM section one to one (the host pointer is not compared).",
  ),
  device(
    "vfio_listener_region_add_skip",
    "SKIPPING region_add 0x%lx - 0x%lx",
    ["start", "end"],
    "The VFIO listener skipped a section (neither RAM nor an IOMMU).",
  ),
  device(
    "vfio_listener_region_del",
    "region_del 0x%lx - 0x%lx",
    ["start", "end"],
    "The VFIO listener dropped a section (a window removed).",
  ),
  device(
    "vfio_listener_region_del_skip",
    "SKIPPING region_del 0x%lx - 0x%lx",
    ["start", "end"],
    "The VFIO listener skipped a section going away.",
  ),
  device(
    "vfio_iommu_map_notify",
    "iommu %s @ 0x%lx - 0x%lx",
    ["op", "iova_start", "iova_end"],
    "VFIO was notified of a guest TCE change (MAP or UNMAP of a bus address range): the host mapping follows it.",
  ),
  device(
    "vfio_spapr_create_window",
    "pageshift=0x%x levels=%u winsize=0x%lx offset=0x%lx",
    ["page_shift", "levels", "window_size", "start"],
    "A host DMA window created (sPAPR TCE v2).",
  ),
  device(
    "vfio_spapr_remove_window",
    "offset=0x%lx",
    ["start"],
    "A host DMA window removed (sPAPR TCE v2).",
  ),
  traceEvent(
    "vfio_spapr_group_attach",
    "Attached groupfd %d to liobn fd %d",
    ["group_fd", "table_fd"],
    "context",
    "KVM's in-kernel TCE table attached to a group: noted (KVM acceleration is not modelled).",
    (rec, _f, into) =>
      into.note(rec.line, "a group was attached to KVM's in-kernel TCE table (not modelled)"),
  ),
  traceEvent(
    "vfio_realize",
    " (%s) group %d",
    ["host", "group"],
    "guest action",
    "A vfio-pci device realized: a hot-plug (device_add) unless the command line has it.",
    (rec, f, into) => {
      const host = String(f.host);
      // On the command line and realized before the guest ran: cold-plugged, not a step.
      if (!into.started && into.coldPlug(host)) return;
      if (!/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(host)) {
        into.note(rec.line, `vfio-pci ${host}: not a host PCI address; hot-plug not replayed`);
        return;
      }
      into.step(rec, {
        device_add: { id: `vfio-${host.replace(/:/g, "-")}`, driver: "vfio-pci", host },
      });
    },
  ),
];
