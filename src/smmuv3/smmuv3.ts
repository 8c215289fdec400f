/**
 * QEMU 7.2's SMMUv3 (`hw/arm/smmuv3.c`, `hw/arm/smmu-common.c`) as far as iova models it: the
 * register window `arm-smmuv3` (the register file as 7.2 answers it: ID registers, CR0 and its
 * acknowledgement, the stream-table and queue registers kept as written; page 1 mirrors page 0),
 * and for each PCI function the IOMMU region
 * `smmuv3-iommu-memory-region-<devfn>-<n>` (2^48 bytes, `n` counting every region made so far)
 * that is the root of the function's DMA address space of the same name. With SMMU_CR0.SMMUEN
 * clear, DMA passes untranslated in 4 KiB pages (`SMMU_TRANS_DISABLE`). QEMU 7.2 refuses MAP
 * notifiers (it has no caching mode), so a vfio-pci device behind it fails with QEMU's message.
 * Stage-1 translation (stream table, context descriptors, page tables) and the command queue
 * are not modelled: a DMA with the SMMU enabled, or commands to consume, end the machine with a
 * message saying so.
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

/** Register offsets in page 0 (page 1 at 0x10000 mirrors it, as in QEMU 7.2). */
export const SMMU_REG = {
  idr0: 0x00,
  idr1: 0x04,
  idr2: 0x08,
  idr3: 0x0c,
  idr4: 0x10,
  idr5: 0x14,
  iidr: 0x18,
  aidr: 0x1c,
  cr0: 0x20,
  cr0ack: 0x24,
  cr1: 0x28,
  cr2: 0x2c,
  irqCtrl: 0x50,
  irqCtrlAck: 0x54,
  gerror: 0x60,
  gerrorn: 0x64,
  gerrorIrqCfg0: 0x68,
  gerrorIrqCfg1: 0x70,
  gerrorIrqCfg2: 0x74,
  strtabBase: 0x80,
  strtabBaseCfg: 0x88,
  cmdqBase: 0x90,
  cmdqProd: 0x98,
  cmdqCons: 0x9c,
  eventqBase: 0xa0,
  eventqProd: 0xa8,
  eventqCons: 0xac,
} as const;

/** ID register values of QEMU 7.2's SMMUv3 (read from the real device over qtest). */
const IDR: Record<number, bigint> = {
  [SMMU_REG.idr0]: 0x0d40101an, // S1P, AArch64 tables, coherent, 16-bit ASID, 2-level tables
  [SMMU_REG.idr1]: 0x02730010n, // 16-bit stream ids, 2^19-entry command and event queues
  [SMMU_REG.idr3]: 0x1404n,
  [SMMU_REG.idr5]: 0x74n, // 4K, 16K and 64K granules, 44-bit output addresses
  [SMMU_REG.aidr]: 0x1n,
};

/** The CoreSight identification registers at 0xfd0..0xffc. */
const ID_REGS = [0x04, 0, 0, 0, 0x84, 0xb4, 0xf0, 0x10, 0x0d, 0xf0, 0x05, 0xb1];

/** CR0 bits that CR0ACK reflects. */
const CR0_ACK_MASK = 0x3df;
/** CR0.CMDQEN. */
const CR0_CMDQEN = 0x8;
/** The reset value of the queue base registers (log2 size 19). */
const QUEUE_BASE_RESET = 0x13n;

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
  readonly #iommuRegionSize: bigint;
  readonly #memoryAs: AddressSpace;
  readonly #owner: QomObjectRef;
  readonly #onAbort: (message: string) => void;
  /** 32-bit registers kept as written, by offset. */
  readonly #regs = new Map<number, bigint>();
  /** 64-bit registers kept as written, by offset. */
  readonly #regs64 = new Map<number, bigint>();

  constructor(
    system: MemorySystem,
    memoryAs: AddressSpace,
    owner: QomObjectRef,
    onAbort: (message: string) => void,
    options: {
      /** The size of each function's IOMMU region: 2^48 in QEMU 7.2, 2^64 from 8.0. */
      readonly iommuRegionSize?: bigint;
    } = {},
  ) {
    this.#iommuRegionSize = options.iommuRegionSize ?? 1n << SMMU_MAX_VA_BITS;
    this.#system = system;
    this.#memoryAs = memoryAs;
    this.#owner = owner;
    this.#onAbort = onAbort;
    this.mmio = system.io("arm-smmuv3", SMMUV3_MMIO_SIZE, this.#ops(), { owner });
    this.reset();
  }

  /** Whether SMMU_CR0.SMMUEN is set. */
  get enabled(): boolean {
    return ((this.#regs.get(SMMU_REG.cr0) ?? 0n) & 1n) !== 0n;
  }

  /** Device reset (`smmuv3_reset` and `smmuv3_init_regs`): registers to their reset values. */
  reset(): void {
    this.#regs.clear();
    this.#regs64.clear();
    this.#regs64.set(SMMU_REG.cmdqBase, QUEUE_BASE_RESET);
    this.#regs64.set(SMMU_REG.eventqBase, QUEUE_BASE_RESET);
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
      this.#iommuRegionSize,
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

  /**
   * The register file (`smmu_read_mmio`, `smmu_write_mmio`): 4- and 8-byte accesses; 64-bit
   * registers also by 32-bit halves; other offsets read 0 and ignore writes, as in 7.2.
   */
  #ops(): MemoryRegionOps {
    const is64 = (o: number) =>
      o === SMMU_REG.strtabBase ||
      o === SMMU_REG.cmdqBase ||
      o === SMMU_REG.eventqBase ||
      o === SMMU_REG.gerrorIrqCfg0;
    const stored = new Set<number>([
      SMMU_REG.cr0,
      SMMU_REG.cr1,
      SMMU_REG.cr2,
      SMMU_REG.irqCtrl,
      SMMU_REG.gerrorn,
      SMMU_REG.gerrorIrqCfg1,
      SMMU_REG.gerrorIrqCfg2,
      SMMU_REG.strtabBaseCfg,
      SMMU_REG.cmdqProd,
      SMMU_REG.cmdqCons,
      SMMU_REG.eventqProd,
      SMMU_REG.eventqCons,
    ]);
    const read = (o: number, size: number): bigint => {
      if (size === 8) return is64(o) ? (this.#regs64.get(o) ?? 0n) : 0n;
      if (is64(o)) return (this.#regs64.get(o) ?? 0n) & 0xffffffffn;
      if (is64(o - 4)) return (this.#regs64.get(o - 4) ?? 0n) >> 32n;
      if (o in IDR) return IDR[o];
      if (o >= 0xfd0 && o <= 0xffc && (o & 3) === 0) return BigInt(ID_REGS[(o - 0xfd0) >> 2]);
      if (o === SMMU_REG.cr0ack) return (this.#regs.get(SMMU_REG.cr0) ?? 0n) & BigInt(CR0_ACK_MASK);
      if (o === SMMU_REG.irqCtrlAck) return this.#regs.get(SMMU_REG.irqCtrl) ?? 0n;
      return stored.has(o) ? (this.#regs.get(o) ?? 0n) : 0n;
    };
    const write = (o: number, value: bigint, size: number): void => {
      if (size === 8) {
        if (is64(o)) this.#regs64.set(o, value);
      } else if (is64(o)) {
        const old = this.#regs64.get(o) ?? 0n;
        this.#regs64.set(o, (old & ~0xffffffffn) | value);
      } else if (is64(o - 4)) {
        const old = this.#regs64.get(o - 4) ?? 0n;
        this.#regs64.set(o - 4, (old & 0xffffffffn) | (value << 32n));
      } else if (stored.has(o)) this.#regs.set(o, value);
      if (o === SMMU_REG.cr0 || o === SMMU_REG.cmdqProd || o === SMMU_REG.gerrorn) {
        this.#consumeCommands();
      }
    };
    return {
      valid: { minAccessSize: 4, maxAccessSize: 8 },
      impl: { minAccessSize: 4, maxAccessSize: 8 },
      read: (offset, size) => read(Number(offset & 0xffffn), size),
      write: (offset, value, size) => {
        write(Number(offset & 0xffffn), value, size);
        return 0;
      },
    };
  }

  /** `smmuv3_cmdq_consume`: commands are not modelled, so pending ones end the machine. */
  #consumeCommands(): void {
    const cr0 = this.#regs.get(SMMU_REG.cr0) ?? 0n;
    if (!(cr0 & BigInt(CR0_CMDQEN))) return;
    const prod = this.#regs.get(SMMU_REG.cmdqProd) ?? 0n;
    const cons = this.#regs.get(SMMU_REG.cmdqCons) ?? 0n;
    if (prod !== cons) this.#onAbort("smmuv3: the command queue is not modelled by iova");
  }
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}
