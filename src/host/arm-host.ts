/**
 * An Arm64 host with an SMMUv3 (type1-class: VFIO type1 and iommufd both serve it): 4 KiB pages,
 * 4 KiB / 2 MiB / 1 GiB IOMMU pages over a 48-bit IOVA space, and the software MSI window the
 * SMMUv3 driver reserves in every group (IOMMU_RESV_SW_MSI at MSI_IOVA_BASE 0x8000000, 1 MiB,
 * drivers/iommu/arm/arm-smmu-v3), where the kernel maps the guest's MSI doorbell itself.
 */
import type { HostPlatform } from "./platform.ts";
import { X86_HOST } from "./x86-host.ts";

/** The software MSI window of Linux's SMMUv3 driver (both ends included). */
export const ARM_SW_MSI_WINDOW: readonly [bigint, bigint] = [0x8000000n, 0x80fffffn];

/** The Arm64 reference host. */
export const ARM64_HOST: HostPlatform = {
  ...X86_HOST,
  reservedIova: [ARM_SW_MSI_WINDOW],
};
