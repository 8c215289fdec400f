/**
 * An arm64 host running a 64 KiB-page kernel (RHEL's and others' aarch64 default) with an SMMUv3
 * behind type1 VFIO: the IOMMU maps 64 KiB and 512 MiB pages, and Linux reserves its software
 * MSI window at 0x8000000. The host of QEMU's virtio-iommu page-size bugs (docs/known-bugs.md).
 */
import type { HostPlatform } from "./platform.ts";

/** The arm64 64 KiB-page reference host. */
export const ARM64_64K_HOST: HostPlatform = {
  pageSize: 0x10000n,
  pgsizes: 0x20010000n,
  maxLevels: 0,
  tce32Start: 0n,
  tce32Size: 0n,
  windowStarts: [],
  ddw: false,
  dmaEntryLimit: 65535,
  iovaRange: [0n, (1n << 48n) - 1n],
  reservedIova: [[0x8000000n, 0x80fffffn]],
  ramPageSize: 0x10000n,
  faults: [],
};
