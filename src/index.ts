/**
 * iova: an executable model of a virtual machine's DMA path as QEMU builds it.
 * This is the public library API; the `iova` command uses nothing else.
 */

export * from "./amdvi/index.ts";
export * from "./iommu/index.ts";
export * from "./machine/index.ts";
export * from "./memory/index.ts";
export * from "./qemu/index.ts";
export * from "./qtest/index.ts";
export * from "./scenario/index.ts";
export * from "./smmuv3/index.ts";
export * from "./spapr/index.ts";
export * from "./trace/index.ts";
export * from "./view/index.ts";
export * from "./vtd/index.ts";
