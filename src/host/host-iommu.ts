/** What every host IOMMU backend offers to VFIO and to assigned-device DMA. */
import type { IoctlBoundary } from "./ioctl.ts";
import type { HostProcess } from "./process.ts";

/** A mapped host IOMMU page. */
export interface HostEntry {
  readonly iova: bigint;
  readonly pageSize: bigint;
  readonly hva: bigint;
  /** Device's view: `r` may read memory, `w` may write it. */
  readonly perm: "r" | "w" | "rw";
}

/** A host DMA window (sPAPR) or the aperture (type1). */
export interface HostWindow {
  readonly start: bigint;
  readonly size: bigint;
  readonly pageShift: number;
}

/** A host IOMMU container as the kernel keeps it. */
export interface HostIommu {
  readonly backend: "spapr-tce-v2" | "spapr-tce" | "type1" | "iommufd";
  readonly io: IoctlBoundary;
  /** The VMM process whose locked_vm (RLIMIT_MEMLOCK) the container charges. */
  readonly process: HostProcess;
  /**
   * The container's share of the process's locked pages (host PAGE_SIZE): what it charged itself
   * and the preregistered memory it was first to hold.
   */
  readonly lockedPages: bigint;
  /** What the container charged itself, preregistered memory aside. */
  readonly chargedPages: bigint;
  /** What `chargedPages` should be, from the container's state (for the accounting check). */
  expectedChargedPages(): bigint;
  /** Attaches an IOMMU group (VFIO_GROUP_SET_CONTAINER and, for the first, VFIO_SET_IOMMU). */
  attachGroup(group: number, options?: { readonly groupSet?: boolean }): number;
  detachGroup(group: number): void;
  readonly groups: readonly number[];
  /** Every mapped page, in iova order. */
  entries(): HostEntry[];
  windows(): HostWindow[];
  /** The mapped page holding `iova`, for assigned-device DMA. */
  lookup(iova: bigint): HostEntry | undefined;
  /** Drops everything (container closed). */
  release(): void;
}
