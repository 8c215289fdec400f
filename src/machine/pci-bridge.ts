/**
 * PCI-to-PCI bridges as QEMU 7.2 builds them (`hw/pci/pci_bridge.c` and the port devices in
 * `hw/pci-bridge/`): the type-1 header with its writable masks, the secondary bus with its own
 * memory (`pci_bridge_pci`) and I/O (`pci_bridge_io`) containers, and the three windows
 * (`pci_bridge_pref_mem`, `pci_bridge_mem`, `pci_bridge_io`) that alias them into the parent
 * bus's spaces at priority 1. The windows are rebuilt from the base/limit registers whenever
 * the command, base/limit or bridge-control registers are written (QEMU's
 * `pci_bridge_update_mappings`); a reset changes the registers but not the windows.
 */
import { U64_MAX } from "../memory/int.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import { PCI_COMMAND, type PciBus, type PciDevice, type PciFunctionSpec } from "./pci-device.ts";

/** The bridge devices iova builds, by QEMU's driver name. */
export type PciBridgeDriver =
  | "pcie-root-port"
  | "x3130-upstream"
  | "xio3130-downstream"
  | "pcie-pci-bridge"
  | "pci-bridge";

/** What distinguishes one bridge device from another on the DMA path. */
export interface PciBridgeModel {
  readonly vendorId: number;
  readonly deviceId: number;
  readonly revision: number;
  /** The bridge is itself a PCI Express function (4 KiB configuration space). */
  readonly express: boolean;
  /**
   * Its PCI Express capability says "PCI Express to PCI bridge": devices behind it reach an
   * IOMMU as (secondary bus, 00.0) (QEMU's `pci_device_iommu_address_space`).
   */
  readonly pcieToPci: boolean;
  /** The secondary bus is PCI Express. */
  readonly secondaryExpress: boolean;
  /** Only slot 0 may be used on the secondary bus (a root or downstream port's link). */
  readonly slotZeroOnly: boolean;
  /** The reset closes the windows with base above limit (QEMU's `pci_bridge_disable_base_limit`). */
  readonly disableBaseLimitOnReset: boolean;
}

/** The models, from QEMU 7.2's device definitions. */
export const PCI_BRIDGE_MODELS: Record<PciBridgeDriver, PciBridgeModel> = {
  "pcie-root-port": {
    vendorId: 0x1b36,
    deviceId: 0x000c,
    revision: 0,
    express: true,
    pcieToPci: false,
    secondaryExpress: true,
    slotZeroOnly: true,
    disableBaseLimitOnReset: true,
  },
  "x3130-upstream": {
    vendorId: 0x104c,
    deviceId: 0x8232,
    revision: 2,
    express: true,
    pcieToPci: false,
    secondaryExpress: true,
    slotZeroOnly: false,
    disableBaseLimitOnReset: false,
  },
  "xio3130-downstream": {
    vendorId: 0x104c,
    deviceId: 0x8233,
    revision: 1,
    express: true,
    pcieToPci: false,
    secondaryExpress: true,
    slotZeroOnly: true,
    disableBaseLimitOnReset: false,
  },
  "pcie-pci-bridge": {
    vendorId: 0x1b36,
    deviceId: 0x000e,
    revision: 0,
    express: true,
    pcieToPci: true,
    secondaryExpress: false,
    slotZeroOnly: false,
    disableBaseLimitOnReset: false,
  },
  "pci-bridge": {
    vendorId: 0x1b36,
    deviceId: 0x0001,
    revision: 0,
    express: false,
    pcieToPci: false,
    secondaryExpress: false,
    slotZeroOnly: false,
    disableBaseLimitOnReset: false,
  },
};

/** Whether a driver name is one of the bridges. */
export function isPciBridgeDriver(driver: string): driver is PciBridgeDriver {
  return Object.hasOwn(PCI_BRIDGE_MODELS, driver);
}

/** Type-1 header registers. */
export const BRIDGE_REG = {
  primaryBus: 0x18,
  secondaryBus: 0x19,
  subordinateBus: 0x1a,
  ioBase: 0x1c,
  ioLimit: 0x1d,
  memoryBase: 0x20,
  memoryLimit: 0x22,
  prefBase: 0x24,
  prefLimit: 0x26,
  prefBaseUpper: 0x28,
  prefLimitUpper: 0x2c,
  ioBaseUpper: 0x30,
  ioLimitUpper: 0x32,
  control: 0x3e,
} as const;

/** Bridge control: secondary bus reset. */
export const BRIDGE_CTL_BUS_RESET = 0x40;

/** A bridge's secondary bus: its spaces and the functions on it. */
export interface SecondaryBusSpaces {
  /** `pci_bridge_pci`: the secondary bus's memory space. */
  readonly memory: MemoryRegion;
  /** `pci_bridge_io`: the secondary bus's I/O space (4 GiB). */
  readonly io: MemoryRegion;
}

/** The bridge's state beside its function: spaces and current windows. */
export class PciBridgeWindows {
  readonly spaces: SecondaryBusSpaces;
  readonly #system: MemorySystem;
  readonly #owner: QomObjectRef;
  readonly #parent: PciBus;
  #windows: MemoryRegion[] = [];
  /** The bridge-control register before the last write (a reset triggers on 0 -> 1). */
  lastControl = 0;

  constructor(system: MemorySystem, parent: PciBus, owner: QomObjectRef) {
    this.#system = system;
    this.#owner = owner;
    this.#parent = parent;
    const o = { owner };
    this.spaces = {
      memory: system.container("pci_bridge_pci", U64_MAX, o),
      io: system.container("pci_bridge_io", 4n << 30n, o),
    };
  }

  /**
   * Removes the windows and makes them again from the registers (QEMU's
   * `pci_bridge_region_del`, then `pci_bridge_region_init`): prefetchable memory, memory, I/O.
   */
  update(config: Uint8Array): void {
    const m = this.#system;
    m.transaction(() => {
      for (const w of this.#windows) {
        (w.name === "pci_bridge_io" ? this.#parent.pciIo : this.#parent.pciMemory).removeSubregion(
          w,
        );
      }
      this.#windows = [];
      const command = config[4] | (config[5] << 8);
      const memOn = (command & PCI_COMMAND.memory) !== 0;
      const ioOn = (command & PCI_COMMAND.io) !== 0;
      const add = (
        name: string,
        target: MemoryRegion,
        space: MemoryRegion,
        [base, limit]: readonly [bigint, bigint],
        enabled: boolean,
      ) => {
        // A window with limit below base, or a disabled decoder, is an empty alias at base.
        const size = enabled && limit >= base ? limit + 1n - base : 0n;
        const alias = m.alias(name, target, base, size, { owner: this.#owner });
        space.addSubregionOverlap(alias, base, 1);
        this.#windows.push(alias);
      };
      add(
        "pci_bridge_pref_mem",
        this.spaces.memory,
        this.#parent.pciMemory,
        prefWindow(config),
        memOn,
      );
      add("pci_bridge_mem", this.spaces.memory, this.#parent.pciMemory, memWindow(config), memOn);
      add("pci_bridge_io", this.spaces.io, this.#parent.pciIo, ioWindow(config), ioOn);
    });
  }
}

function word(c: Uint8Array, at: number): number {
  return c[at] | (c[at + 1] << 8);
}

function long(c: Uint8Array, at: number): bigint {
  return BigInt((c[at] | (c[at + 1] << 8) | (c[at + 2] << 16) | (c[at + 3] << 24)) >>> 0);
}

/** Memory window: 1 MiB granules from bits 15:4 of base and limit. */
function memWindow(c: Uint8Array): [bigint, bigint] {
  const base = BigInt(word(c, BRIDGE_REG.memoryBase) & 0xfff0) << 16n;
  const limit = (BigInt(word(c, BRIDGE_REG.memoryLimit) & 0xfff0) << 16n) | 0xfffffn;
  return [base, limit];
}

/** Prefetchable window: as memory, with the upper 32 bits when the 64-bit type bit is set. */
function prefWindow(c: Uint8Array): [bigint, bigint] {
  const part = (reg: number, upper: number) => {
    const w = word(c, reg);
    let v = BigInt(w & 0xfff0) << 16n;
    if (w & 1) v |= long(c, upper) << 32n;
    return v;
  };
  return [
    part(BRIDGE_REG.prefBase, BRIDGE_REG.prefBaseUpper),
    part(BRIDGE_REG.prefLimit, BRIDGE_REG.prefLimitUpper) | 0xfffffn,
  ];
}

/** I/O window: 4 KiB granules, with the upper 16 bits when the 32-bit type bit is set. */
function ioWindow(c: Uint8Array): [bigint, bigint] {
  const part = (reg: number, upper: number) => {
    let v = BigInt(c[reg] & 0xf0) << 8n;
    if (c[reg] & 1) v |= BigInt(word(c, upper)) << 16n;
    return v;
  };
  return [
    part(BRIDGE_REG.ioBase, BRIDGE_REG.ioBaseUpper),
    part(BRIDGE_REG.ioLimit, BRIDGE_REG.ioLimitUpper) | 0xfffn,
  ];
}

/** Whether a configuration write of `size` bytes at `offset` moves the windows. */
export function touchesWindows(offset: number, size: number): boolean {
  const overlaps = (at: number, len: number) => offset < at + len && offset + size > at;
  return (
    overlaps(0x04, 2) ||
    overlaps(BRIDGE_REG.ioBase, 2) ||
    overlaps(BRIDGE_REG.memoryBase, 20) ||
    overlaps(BRIDGE_REG.control, 2)
  );
}

/**
 * The bridge function's identity and header. `windows` is the bridge's window state, made
 * before the function so that the function's hooks can reach it.
 */
export function pciBridgeSpec(
  driver: PciBridgeDriver,
  windows: PciBridgeWindows,
  onlyConventional: boolean,
  system: MemorySystem,
  owner: QomObjectRef,
  onSecondaryBusReset: () => void,
): PciFunctionSpec {
  const model = PCI_BRIDGE_MODELS[driver];
  return {
    typeName: driver,
    vendorId: model.vendorId,
    deviceId: model.deviceId,
    classCode: 0x060400,
    revision: model.revision,
    bars: bridgeBars(driver, system, owner),
    express: model.express && !onlyConventional,
    registers: [
      { offset: 0x0e, size: 1, value: 0x01, writable: 0 },
      // Bus numbers and the secondary latency timer (QEMU 7.2 leaves all four writable).
      { offset: BRIDGE_REG.primaryBus, size: 4, value: 0, writable: 0xffffffff },
      // Base/limit: the low nibbles say 16-bit I/O and 64-bit prefetchable memory.
      { offset: BRIDGE_REG.ioBase, size: 1, value: 0x00, writable: 0xf0 },
      { offset: BRIDGE_REG.ioLimit, size: 1, value: 0x00, writable: 0xf0 },
      { offset: 0x1e, size: 2, value: 0, writable: 0 },
      { offset: BRIDGE_REG.memoryBase, size: 2, value: 0, writable: 0xfff0 },
      { offset: BRIDGE_REG.memoryLimit, size: 2, value: 0, writable: 0xfff0 },
      { offset: BRIDGE_REG.prefBase, size: 2, value: 0x0001, writable: 0xfff0 },
      { offset: BRIDGE_REG.prefLimit, size: 2, value: 0x0001, writable: 0xfff0 },
      { offset: BRIDGE_REG.prefBaseUpper, size: 4, value: 0, writable: 0xffffffff },
      { offset: BRIDGE_REG.prefLimitUpper, size: 4, value: 0, writable: 0xffffffff },
      { offset: BRIDGE_REG.ioBaseUpper, size: 4, value: 0, writable: 0 },
      { offset: 0x34, size: 4, value: 0, writable: 0 },
      { offset: 0x38, size: 4, value: 0, writable: 0 },
      // Bridge control: every bit but the write-1-to-clear discard status (0x400).
      { offset: BRIDGE_REG.control, size: 2, value: 0, writable: 0x0bff },
    ],
    // pci_bridge_initfn makes the windows with the function (all closed: decoders off).
    onRealize: (d) => windows.update(d.config),
    afterConfigWrite: (d, offset, size) => {
      const control = d.config[BRIDGE_REG.control] | (d.config[BRIDGE_REG.control + 1] << 8);
      if (touchesWindows(offset, size)) windows.update(d.config);
      // pci_bridge_write_config: a 0 -> 1 secondary bus reset resets everything below.
      if (~windows.lastControl & control & BRIDGE_CTL_BUS_RESET) onSecondaryBusReset();
      windows.lastControl = control;
    },
    onReset: (d) => {
      bridgeReset(d, model);
      windows.lastControl = 0;
    },
  };
}

/** QEMU's `pci_bridge_reset` (and a root port's `pci_bridge_disable_base_limit`). */
function bridgeReset(d: PciDevice<PciBus>, model: PciBridgeModel): void {
  const c = d.config;
  c.fill(0, BRIDGE_REG.primaryBus, BRIDGE_REG.primaryBus + 4);
  c[BRIDGE_REG.ioBase] &= 0x0f;
  c[BRIDGE_REG.ioLimit] &= 0x0f;
  const clearWord = (at: number) => {
    c[at] &= 0x0f;
    c[at + 1] = 0;
  };
  clearWord(BRIDGE_REG.memoryBase);
  clearWord(BRIDGE_REG.memoryLimit);
  clearWord(BRIDGE_REG.prefBase);
  clearWord(BRIDGE_REG.prefLimit);
  c.fill(0, BRIDGE_REG.prefBaseUpper, BRIDGE_REG.prefBaseUpper + 8);
  c[BRIDGE_REG.control] = 0;
  c[BRIDGE_REG.control + 1] = 0;
  if (model.disableBaseLimitOnReset) {
    c[BRIDGE_REG.ioBase] |= 0xf0;
    c[BRIDGE_REG.memoryBase] |= 0xf0;
    c[BRIDGE_REG.memoryBase + 1] = 0xff;
    c[BRIDGE_REG.prefBase] |= 0xf0;
    c[BRIDGE_REG.prefBase + 1] = 0xff;
  }
}

/** BAR 0 of each bridge: a root port's MSI-X, the PCI bridges' SHPC hot-plug controller. */
function bridgeBars(
  driver: PciBridgeDriver,
  system: MemorySystem,
  owner: QomObjectRef,
): PciFunctionSpec["bars"] {
  if (driver === "pcie-root-port") return [{ region: rootPortMsix(system, owner), kind: "mem32" }];
  if (driver === "pcie-pci-bridge" || driver === "pci-bridge") {
    return [{ region: shpcBar(system, owner), kind: "mem64" }];
  }
  return [];
}

/**
 * The SHPC BAR of `pcie-pci-bridge` and `pci-bridge` (`shpc_init` into a 256-byte 64-bit BAR:
 * `shpc-bar` holding the 0xa0-byte register block `shpc-mmio`, as recorded from QEMU 7.2).
 * The hot-plug controller's registers are not modelled.
 */
function shpcBar(system: MemorySystem, owner: QomObjectRef): MemoryRegion {
  const o = { owner };
  const bar = system.container("shpc-bar", 0x100n, o);
  bar.addSubregion(system.io("shpc-mmio", 0xa0n, { read: () => 0n, write: () => 0 }, o), 0n);
  return bar;
}

/**
 * A root port's MSI-X BAR 0 with one vector (QEMU's `msix_init_exclusive_bar`: 4 KiB, the
 * table at 0, the PBA at half the BAR). The switch ports use MSI, which needs no BAR.
 */
function rootPortMsix(system: MemorySystem, owner: QomObjectRef): MemoryRegion {
  const o = { owner };
  const inert = { read: () => 0n, write: () => 0 };
  const bar = system.container("pcie-root-port-msix", 0x1000n, o);
  bar.addSubregion(system.io("msix-table", 0x10n, inert, o), 0n);
  bar.addSubregion(system.io("msix-pba", 0x8n, inert, o), 0x800n);
  return bar;
}
