/** intel-iommu (VT-d): registers, tables in guest memory, caches, invalidation, notifications. */
export * from "./constants.ts";
export * from "./intel-iommu.ts";
export * from "./iova-tree.ts";
