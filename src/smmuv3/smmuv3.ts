/**
 * QEMU 7.2's SMMUv3 (`hw/arm/smmuv3.c`, `hw/arm/smmu-common.c`) as far as iova models it: the
 * register window `arm-smmuv3`, and for each PCI function the IOMMU region
 * `smmuv3-iommu-memory-region-<devfn>-<n>` (2^48 bytes, `n` counting every region made so far)
 * that is the root of the function's DMA address space of the same name. With SMMU_CR0.SMMUEN
 * clear, DMA passes untranslated in 4 KiB pages (`SMMU_TRANS_DISABLE`). QEMU 7.2 refuses MAP
 * notifiers (it has no caching mode), so a vfio-pci device behind it fails with QEMU's message.
 * Stage-1 translation (stream table, context descriptors, page tables) is not modelled: a DMA
 * with the SMMU enabled ends the machine with a message saying so.
 */
import { IommuRegion } from "../iommu/iommu-region.ts";
import { IommuNotifierError, IommuNotifierFlag } from "../iommu/notifier.ts";
import type { MemoryRegionOps } from "../memory/access-types.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";

/** The register window's size (two 64 KiB pages). */
export const SMMUV3_MMIO_SIZE = 0x20000n;
/** The input address space of every stream (QEMU's `SMMU_MAX_VA_BITS`). */
export const SMMU_MAX_VA_BITS = 48n;

/** Registers iova models (offsets in page 0). */
export const SMMU_REG = {
  cr0: 0x20,
  cr0ack: 0x24,
} as const;

/** A PCI bus as the SMMU sees it: its identity and its number now (`pci_bus_num`). */
export interface SmmuBus {
  readonly number: number;
}

/** One function's SMMUv3 address space (QEMU's `SMMUDevice`). */
export interface SmmuDevice {
  readonly bus: SmmuBus;
  readonly devfn: number;
  readonly iommu: IommuRegion;
  readonly as: AddressSpace;
}

/** An SMMUv3 on a machine's PCIe root bus. */
export class SmmuV3 {
  /** `arm-smmuv3`: the register window. */
  readonly mmio: MemoryRegion;
  /** Every function's address space, in creation order. */
  readonly devices: SmmuDevice[] = [];
  readonly #byBus = new Map<SmmuBus, Map<number, SmmuDevice>>();
  readonly #system: MemorySystem;
  readonly #memoryAs: AddressSpace;
  readonly #owner: QomObjectRef;
  readonly #onAbort: (message: string) => void;
  #cr0 = 0;

  constructor(
    system: MemorySystem,
    memoryAs: AddressSpace,
    owner: QomObjectRef,
    onAbort: (message: string) => void,
  ) {
    this.#system = system;
    this.#memoryAs = memoryAs;
    this.#owner = owner;
    this.#onAbort = onAbort;
    this.mmio = system.io("arm-smmuv3", SMMUV3_MMIO_SIZE, this.#ops(), { owner });
  }

  /** Whether SMMU_CR0.SMMUEN is set. */
  get enabled(): boolean {
    return (this.#cr0 & 1) !== 0;
  }

  /** Device reset (`smmuv3_reset`): the SMMU disabled. */
  reset(): void {
    this.#cr0 = 0;
  }

  /**
   * The function's address space, created on first use (QEMU's `smmu_find_add_as`): keyed by
   * bus object and devfn, named by devfn and a counter over every SMMU region made so far.
   */
  addressSpaceOf(bus: SmmuBus, devfn: number): SmmuDevice {
    let onBus = this.#byBus.get(bus);
    if (!onBus) {
      onBus = new Map();
      this.#byBus.set(bus, onBus);
    }
    const existing = onBus.get(devfn);
    if (existing) return existing;
    const name = `smmuv3-iommu-memory-region-${devfn}-${this.devices.length}`;
    const iommu = new IommuRegion(
      this.#system,
      name,
      1n << SMMU_MAX_VA_BITS,
      {
        translate: (addr, flag) => {
          if (this.enabled) {
            this.#onAbort("smmuv3: stage-1 translation is not modelled by iova");
            return {
              targetAs: this.#memoryAs,
              iova: addr,
              translatedAddr: 0n,
              addrMask: 0n,
              perm: 0,
            };
          }
          // SMMU_TRANS_DISABLE: the address as it is, in target pages, with the access asked.
          return {
            targetAs: this.#memoryAs,
            iova: addr & ~0xfffn,
            translatedAddr: addr & ~0xfffn,
            addrMask: 0xfffn,
            perm: flag === 0 ? 3 : flag,
          };
        },
        notifyFlagChanged: (_old, next) => {
          if (next & IommuNotifierFlag.devIotlbUnmap) {
            return new IommuNotifierError("SMMUv3 does not support dev-iotlb yet");
          }
          if (next & IommuNotifierFlag.map) {
            const where = `${hex2(bus.number)}.${hex2(devfn >> 3)}.${devfn & 7}`;
            return new IommuNotifierError(
              `device ${where} requires iommu MAP notifier which is not currently supported`,
            );
          }
          return undefined;
        },
      },
      { owner: this.#owner },
    );
    const as = this.#system.addressSpace(iommu.region, name);
    const device = { bus, devfn, iommu, as };
    this.devices.push(device);
    onBus.set(devfn, device);
    return device;
  }

  /** CR0 and its acknowledgement; any other register ends the machine (not modelled). */
  #ops(): MemoryRegionOps {
    const refuse = (offset: bigint) => {
      this.#onAbort(`smmuv3: register 0x${offset.toString(16)} is not modelled by iova`);
      return 0n;
    };
    return {
      read: (offset) => {
        if (offset === BigInt(SMMU_REG.cr0) || offset === BigInt(SMMU_REG.cr0ack)) {
          return BigInt(this.#cr0);
        }
        return refuse(offset);
      },
      write: (offset, value) => {
        if (offset === BigInt(SMMU_REG.cr0)) {
          // smmu_writel: CR0 is acknowledged at once in CR0ACK.
          this.#cr0 = Number(value & 0xffffffffn);
          return 0;
        }
        refuse(offset);
        return 0;
      },
    };
  }
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}
