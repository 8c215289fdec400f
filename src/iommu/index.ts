/** The IOMMU layer: IOMMU regions, notifiers and replay, and DMA through translations. */
export * from "./dma.ts";
export * from "./iommu-region.ts";
export * from "./notifier.ts";
export * from "./page-table-iommu.ts";
