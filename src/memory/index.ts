/**
 * The memory layer: QEMU's memory API (regions, flat views, address spaces, listeners,
 * transactions, accesses) and `info mtree` printing and importing.
 */
export * from "./access.ts";
export * from "./access-types.ts";
export * from "./address-space.ts";
export * from "./flat-view.ts";
export * from "./int.ts";
export * from "./iommu-types.ts";
export * from "./listener.ts";
export * from "./map.ts";
export * from "./memory-system.ts";
export * from "./mtree/diff.ts";
export * from "./mtree/import.ts";
export * from "./mtree/parse.ts";
export * from "./mtree/print.ts";
export * from "./ram.ts";
export * from "./region.ts";
export * from "./render.ts";
