/**
 * The IOMMU layer: IOMMU regions, notifiers and replay, DMA through translations, and the sparse
 * entry table IOMMU page tables are kept in.
 */
export * from "./dma.ts";
export * from "./entry-table.ts";
export * from "./iommu-region.ts";
export * from "./limits.ts";
export * from "./notifier.ts";
export * from "./page-table-iommu.ts";
