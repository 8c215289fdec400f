/**
 * The event table: every QEMU trace event iova reads, by name. Another guest IOMMU's events
 * (`vtd_*`, `virtio_iommu_*`) join by adding their table here; the reader and the rebuild stay.
 */
import type { TraceEventDef } from "./event-def.ts";
import { SPAPR_EVENTS } from "./spapr-events.ts";
import { VFIO_EVENTS } from "./vfio-events.ts";
import { VIRTIO_IOMMU_EVENTS } from "./virtio-iommu-events.ts";

export type { EventRole, TraceEventDef } from "./event-def.ts";

/** Every event iova reads, by name. */
export const TRACE_EVENTS: ReadonlyMap<string, TraceEventDef> = new Map(
  [...SPAPR_EVENTS, ...VFIO_EVENTS, ...VIRTIO_IOMMU_EVENTS].map((d) => [d.name, d]),
);
