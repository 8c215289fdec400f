/**
 * The simulated host: page size, IOMMU capabilities, limits, and where the VMM's memory lives.
 */
import type { FaultSpec } from "./ioctl.ts";

/** What the host kernel and its IOMMU offer. */
export interface HostPlatform {
  /** Host PAGE_SIZE (64 KiB on ppc64 distributions). */
  readonly pageSize: bigint;
  /** IOMMU page sizes as a bit mask (bit n: 2^n supported). */
  readonly pgsizes: bigint;
  /** Most TCE table levels the platform allows (powernv: 5). */
  readonly maxLevels: number;
  /** The 32-bit DMA window every group starts with. */
  readonly tce32Start: bigint;
  readonly tce32Size: bigint;
  /** Bus address of each window slot (powernv: 0, then 1<<59); the caller cannot choose. */
  readonly windowStarts: readonly bigint[];
  /** Dynamic windows (powernv IODA2): sPAPR TCE v2 works; without them only v1 does. */
  readonly ddw: boolean;
  /** RLIMIT_MEMLOCK in bytes; undefined: unlimited. */
  readonly memlockLimit?: bigint;
  /** type1: most mappings per container. */
  readonly dmaEntryLimit: number;
  /** type1 and iommufd: the IOVA range the IOMMU can address (its aperture, both ends included). */
  readonly iovaRange: readonly [bigint, bigint];
  /**
   * type1 and iommufd: IOVA ranges the platform reserves in every group (both ends included),
   * which MAP_DMA and IOMMU_IOAS_MAP refuse; default x86's MSI window (see `X86_MSI_WINDOW`).
   */
  readonly reservedIova?: readonly (readonly [bigint, bigint])[];
  /** Smallest page backing guest RAM (QEMU's qemu_minrampagesize; a hugepage size if RAM is on hugepages). */
  readonly ramPageSize: bigint;
  readonly faults: readonly FaultSpec[];
}

/** A POWER9 powernv host with 64 KiB pages: spapr-vfio.md's reference environment R. */
export const POWER9_HOST: HostPlatform = {
  pageSize: 0x10000n,
  pgsizes: 0x40211000n,
  maxLevels: 5,
  tce32Start: 0n,
  tce32Size: 0x80000000n,
  windowStarts: [0n, 1n << 59n],
  ddw: true,
  dmaEntryLimit: 65535,
  iovaRange: [0n, (1n << 48n) - 1n],
  ramPageSize: 0x10000n,
  faults: [],
};

/** Where the VMM (QEMU) mapped guest RAM in its own address space. */
export const GUEST_RAM_HVA = 0x7fff00000000n;
