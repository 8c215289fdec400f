/**
 * An arm64 host for type1 VFIO (its SMMU with a 4 KiB granule): 4 KiB pages, IOMMU pages of
 * 4 KiB, 2 MiB and 1 GiB over a 48-bit IOVA space, Linux's default of 65535 mappings per
 * container. The IOVA ranges the kernel reserves (the software MSI window at 0x8000000) are
 * not modelled.
 */
import type { HostPlatform } from "./platform.ts";

/** The arm64 reference host. */
export const ARM64_HOST: HostPlatform = {
  pageSize: 0x1000n,
  pgsizes: 0x40201000n,
  maxLevels: 0,
  tce32Start: 0n,
  tce32Size: 0n,
  windowStarts: [],
  ddw: false,
  dmaEntryLimit: 65535,
  iovaRange: [0n, (1n << 48n) - 1n],
  ramPageSize: 0x1000n,
  faults: [],
};
