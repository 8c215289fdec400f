/** The simulated host kernel: sPAPR TCE (v1, v2), type1 and iommufd IOMMU backends behind recorded ioctls. */
export * from "./container.ts";
export * from "./errno.ts";
export * from "./fold.ts";
export * from "./host-iommu.ts";
export * from "./ioctl.ts";
export * from "./iommufd.ts";
export * from "./platform.ts";
export * from "./process.ts";
export * from "./raw-ioctl.ts";
export * from "./spapr-tce.ts";
export * from "./type1.ts";
