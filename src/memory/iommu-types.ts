/**
 * The IOMMU interface the memory core needs to translate accesses (QEMU's
 * `IOMMUMemoryRegionClass.translate`). Notifiers and replay live in the `iommu` layer.
 */
import type { MemTxAttrs } from "./access-types.ts";
import type { AddressSpace } from "./address-space.ts";

/** Access permissions of an IOTLB entry (QEMU's `IOMMUAccessFlags`). */
export const IommuPerm = {
  none: 0,
  /** The device may read memory. */
  ro: 1,
  /** The device may write memory. */
  wo: 2,
  rw: 3,
} as const;

/** One of `IommuPerm`'s values. */
export type IommuPermission = 0 | 1 | 2 | 3;

/**
 * A translation (QEMU's `IOMMUTLBEntry`). `iova` is relative to the IOMMU region that produced it;
 * `addrMask` is the page size minus one; `translatedAddr` is an address in `targetAs`.
 */
export interface IommuTlbEntry {
  readonly targetAs: AddressSpace | null;
  readonly iova: bigint;
  readonly translatedAddr: bigint;
  readonly addrMask: bigint;
  readonly perm: IommuPermission;
}

/** What an IOMMU region provides to the access path. */
export interface IommuTranslator {
  /** Translates `addr`, an offset within the IOMMU region. `flag` none asks for all permissions. */
  translate(addr: bigint, flag: IommuPermission, iommuIdx: number): IommuTlbEntry;
  /** Chooses the IOMMU index for a transaction (default 0). */
  attrsToIndex?(attrs: MemTxAttrs): number;
}
