/** The VFIO layer: containers mirroring guest IOMMUs into the host IOMMU, and assigned-device DMA. */
export * from "./checks.ts";
export * from "./container.ts";
export * from "./vfio-host.ts";
