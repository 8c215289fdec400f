/**
 * A PCI function: configuration space with QEMU's writable masks, BARs that appear in the PHB's
 * PCI memory or I/O space when the guest programs them and enables decoding, and the bus-master
 * address space that the command register's master bit turns on.
 */
import type { AddressSpace } from "../memory/address-space.ts";
import { U64_MAX } from "../memory/int.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import type { PciConfigTarget, SpaprPhb } from "../spapr/phb.ts";

/** The bus a function sits on: where its BARs appear and which functions share it. */
export interface PciBus {
  /** PCI memory space, where memory BARs are mapped. */
  readonly pciMemory: MemoryRegion;
  /** PCI I/O space, where I/O BARs are mapped. */
  readonly pciIo: MemoryRegion;
  /** Functions on the bus by devfn. */
  readonly functions: Map<number, PciConfigTarget>;
  /** A BAR at address 0 is mapped (the machine's `pci_allow_0_address`: arm virt, not x86). */
  readonly allowZeroAddress?: boolean;
}

/** Command register bits. */
export const PCI_COMMAND = { io: 0x1, memory: 0x2, master: 0x4 } as const;

/** A BAR: its region and how it decodes. */
export interface BarSpec {
  readonly region: MemoryRegion;
  readonly kind: "mem32" | "mem64" | "io";
  readonly prefetchable?: boolean;
}

/** Identity and layout of a function. */
export interface PciFunctionSpec {
  /** QEMU's type name; also the bus-master address space's name. */
  readonly typeName: string;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly classCode: number;
  readonly revision: number;
  readonly bars: readonly (BarSpec | undefined)[];
  readonly interruptPin?: number;
  /** PCI Express: 4 KiB of configuration space instead of 256 bytes. */
  readonly express?: boolean;
  /** Device-specific configuration registers: initial value and writable bits. */
  readonly registers?: readonly ConfigRegister[];
  /** Called after a configuration write (QEMU's device `config_write` hooks). */
  readonly afterConfigWrite?: (device: PciDevice<PciBus>, offset: number, size: number) => void;
  /** Called once the function exists (QEMU's `realize`), before its bus master is set up. */
  readonly onRealize?: (device: PciDevice<PciBus>) => void;
  /** Called on device reset, after the generic PCI reset. */
  readonly onReset?: (device: PciDevice<PciBus>) => void;
}

/** A device-specific configuration register. */
export interface ConfigRegister {
  readonly offset: number;
  readonly size: 1 | 2 | 4;
  readonly value: number;
  readonly writable: number;
}

/** Where the device-specific part of config space starts (after the standard header). */
const PCI_CONFIG_HEADER_SIZE = 0x40;

const UNMAPPED = -1n;

/**
 * A PCI function on a bus (a PHB's root bus on pseries, `pcie.0` on q35). The bus-master
 * address space is created with the function; the alias that the master bit enables is created
 * by `initBusMaster`, which QEMU 7.2 defers until the machine is ready for cold-plugged devices.
 */
export class PciDevice<B extends PciBus = SpaprPhb> implements PciConfigTarget {
  readonly configSize: number;
  readonly config: Uint8Array;
  readonly #wmask: Uint8Array;
  readonly spec: PciFunctionSpec;
  /** The bus (historically named for pseries' PHB). */
  readonly phb: B;
  readonly devfn: number;
  /** Where each BAR is mapped in PCI space (-1: not mapped). */
  readonly barAddress: bigint[] = [UNMAPPED, UNMAPPED, UNMAPPED, UNMAPPED, UNMAPPED, UNMAPPED];
  /** The container the device does DMA through, and the address space over it. */
  readonly busMasterContainer: MemoryRegion;
  readonly busMasterAs: AddressSpace;
  readonly owner: QomObjectRef;
  #busMasterAlias: MemoryRegion | undefined;
  readonly #system: MemorySystem;

  /**
   * `dmaRoot` is the root of the address space the device's DMA goes to; without it the alias
   * waits for `initBusMaster`.
   */
  constructor(
    system: MemorySystem,
    phb: B,
    devfn: number,
    spec: PciFunctionSpec,
    owner: QomObjectRef,
    dmaRoot?: MemoryRegion,
  ) {
    this.#system = system;
    this.spec = spec;
    this.phb = phb;
    this.devfn = devfn;
    this.owner = owner;
    this.configSize = spec.express ? 4096 : 256;
    this.config = new Uint8Array(this.configSize);
    this.#wmask = new Uint8Array(this.configSize);
    // QEMU's pci_init_wmask: everything after the header is writable (capability structures,
    // which would take bytes back, are not modelled); device registers below narrow it.
    this.#wmask.fill(0xff, PCI_CONFIG_HEADER_SIZE);
    const c = new DataView(this.config.buffer);
    c.setUint16(0x00, spec.vendorId, true);
    c.setUint16(0x02, spec.deviceId, true);
    c.setUint8(0x08, spec.revision);
    c.setUint8(0x09, spec.classCode & 0xff);
    c.setUint16(0x0a, spec.classCode >>> 8, true);
    c.setUint8(0x3d, spec.interruptPin ?? 1);
    new DataView(this.#wmask.buffer).setUint16(0x04, 0x0547, true);
    this.#wmask[0x0c] = 0xff; // cache line size
    this.#wmask[0x0d] = 0xff; // latency timer
    this.#wmask[0x3c] = 0xff; // interrupt line
    spec.bars.forEach((bar, i) => {
      if (!bar) return;
      const reg = 0x10 + 4 * i;
      const size = bar.region.size;
      const flags =
        bar.kind === "io" ? 0x1 : (bar.kind === "mem64" ? 0x4 : 0) | (bar.prefetchable ? 0x8 : 0);
      c.setUint32(reg, flags, true);
      const mask = BigInt.asUintN(64, ~(size - 1n)) & ~BigInt(bar.kind === "io" ? 0x3 : 0xf);
      new DataView(this.#wmask.buffer).setUint32(reg, Number(mask & 0xffffffffn), true);
      if (bar.kind === "mem64") {
        new DataView(this.#wmask.buffer).setUint32(reg + 4, Number(mask >> 32n), true);
      }
    });
    const w = new DataView(this.#wmask.buffer);
    for (const r of spec.registers ?? []) {
      setConfig(c, r.offset, r.size, r.value);
      setConfig(w, r.offset, r.size, r.writable);
    }
    this.busMasterContainer = system.container("bus master container", U64_MAX, { owner });
    this.busMasterAs = system.addressSpace(this.busMasterContainer, spec.typeName);
    spec.onRealize?.(this as PciDevice<PciBus>);
    if (dmaRoot) this.initBusMaster(dmaRoot);
  }

  /** The alias the master bit enables; throws before `initBusMaster`. */
  get busMasterAlias(): MemoryRegion {
    if (!this.#busMasterAlias) throw new Error(`${this.spec.typeName}: bus master not set up yet`);
    return this.#busMasterAlias;
  }

  /** Whether `initBusMaster` has run. */
  get busMasterReady(): boolean {
    return this.#busMasterAlias !== undefined;
  }

  /** QEMU's `pci_init_bus_master`: the `bus master` alias onto the DMA root, on if mastering. */
  initBusMaster(dmaRoot: MemoryRegion): void {
    if (this.#busMasterAlias) return;
    const alias = this.#system.alias("bus master", dmaRoot, 0n, dmaRoot.size, {
      owner: this.owner,
    });
    this.#busMasterAlias = alias;
    this.#system.transaction(() => {
      alias.setEnabled((this.command & PCI_COMMAND.master) !== 0);
      this.busMasterContainer.addSubregion(alias, 0n);
    });
  }

  /** The command register. */
  get command(): number {
    return this.config[4] | (this.config[5] << 8);
  }

  configRead(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.config[offset + i];
    return v;
  }

  /** QEMU's `pci_default_write_config`: masked write, then BAR mappings and bus mastering. */
  configWrite(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      const byte = (value / 256 ** i) & 0xff;
      const m = this.#wmask[offset + i];
      this.config[offset + i] = (this.config[offset + i] & ~m) | (byte & m);
    }
    const end = offset + size;
    const touches = (from: number, to: number) => offset < to && end > from;
    const command = touches(0x04, 0x05);
    if (touches(0x10, 0x28) || command) this.updateMappings();
    if (command) this.#busMasterAlias?.setEnabled((this.command & PCI_COMMAND.master) !== 0);
    this.spec.afterConfigWrite?.(this as PciDevice<PciBus>, offset, size);
  }

  /** Where BAR `i` should be mapped now (QEMU's `pci_bar_address`). */
  barTarget(i: number): bigint {
    const bar = this.spec.bars[i];
    if (!bar) return UNMAPPED;
    const size = bar.region.size;
    const c = new DataView(this.config.buffer);
    const reg = 0x10 + 4 * i;
    if (bar.kind === "io") {
      if (!(this.command & PCI_COMMAND.io)) return UNMAPPED;
      const addr = BigInt(c.getUint32(reg, true)) & ~(size - 1n);
      const last = addr + size - 1n;
      return last <= addr || last >= 0xffffffffn || (addr === 0n && !this.phb.allowZeroAddress)
        ? UNMAPPED
        : addr;
    }
    if (!(this.command & PCI_COMMAND.memory)) return UNMAPPED;
    let addr = BigInt(c.getUint32(reg, true));
    if (bar.kind === "mem64") addr |= BigInt(c.getUint32(reg + 4, true)) << 32n;
    addr &= BigInt.asUintN(64, ~(size - 1n));
    const last = addr + size - 1n;
    if (last <= addr || last === U64_MAX || (addr === 0n && !this.phb.allowZeroAddress)) {
      return UNMAPPED;
    }
    if (bar.kind === "mem32" && last >= 0xffffffffn) return UNMAPPED;
    return addr;
  }

  /** QEMU's `pci_update_mappings`: move BARs whose target changed; mapped at priority 1. */
  updateMappings(): void {
    this.#system.transaction(() => {
      this.spec.bars.forEach((bar, i) => {
        if (!bar) return;
        const target = this.barTarget(i);
        if (target === this.barAddress[i]) return;
        const space = bar.kind === "io" ? this.phb.pciIo : this.phb.pciMemory;
        if (this.barAddress[i] !== UNMAPPED) space.removeSubregion(bar.region);
        this.barAddress[i] = target;
        if (target !== UNMAPPED) space.addSubregionOverlap(bar.region, target, 1);
      });
    });
  }

  /** Device reset (QEMU's `pci_device_reset`): command register and BARs cleared, mappings gone. */
  reset(): void {
    const c = new DataView(this.config.buffer);
    c.setUint16(0x04, 0, true);
    this.spec.bars.forEach((bar, i) => {
      if (!bar) return;
      const reg = 0x10 + 4 * i;
      c.setUint32(reg, c.getUint32(reg, true) & (bar.kind === "io" ? 0x3 : 0xf), true);
      if (bar.kind === "mem64") c.setUint32(reg + 4, 0, true);
    });
    this.updateMappings();
    this.#busMasterAlias?.setEnabled(false);
    this.spec.onReset?.(this as PciDevice<PciBus>);
  }

  /** Unplug: unmap the BARs and drop the bus-master address space. */
  unrealize(): void {
    this.#system.transaction(() => {
      this.spec.bars.forEach((bar, i) => {
        if (!bar || this.barAddress[i] === UNMAPPED) return;
        (bar.kind === "io" ? this.phb.pciIo : this.phb.pciMemory).removeSubregion(bar.region);
        this.barAddress[i] = UNMAPPED;
      });
      this.#busMasterAlias?.setEnabled(false);
    });
    this.#system.destroyAddressSpace(this.busMasterAs);
  }
}

function setConfig(view: DataView, offset: number, size: number, value: number): void {
  if (size === 1) view.setUint8(offset, value);
  else if (size === 2) view.setUint16(offset, value, true);
  else view.setUint32(offset, value >>> 0, true);
}
