/**
 * An x86 host for type1 VFIO: 4 KiB pages, an IOMMU that maps 4 KiB, 2 MiB and 1 GiB pages
 * over a 48-bit IOVA space, Linux's default of 65535 mappings per container
 * (`dma_entry_limit`). The IOVA ranges the kernel reserves (the MSI window at 0xfee00000) are
 * not modelled.
 */
import type { HostPlatform } from "./platform.ts";

/** The x86 reference host. */
export const X86_HOST: HostPlatform = {
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
