/** amd-iommu (AMD-Vi): its address spaces and its refusal of MAP notifiers. */
export * from "./amd-iommu.ts";
