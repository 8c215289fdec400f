/**
 * A PCI bus in a machine's hierarchy: the host bridge's root bus (`pcie.0`), a bridge's
 * secondary bus, or a PCI expander's root bus (`pxb-pcie`). It knows where its functions' BARs appear, its number as
 * QEMU's `pci_bus_num` computes it (live: the parent bridge's secondary-bus register), and how
 * its topology shapes the requester id an IOMMU sees.
 */
import type { MemoryRegion } from "../memory/region.ts";
import { BRIDGE_CTL_BUS_RESET, BRIDGE_REG } from "./pci-bridge.ts";
import type { PciBus, PciDevice } from "./pci-device.ts";

/** What kind of bus this is. */
export type PciBusKind = "root" | "secondary" | "expander";

/** A bus of a machine. */
export class PciBusNode implements PciBus {
  /** QEMU's bus id: `pcie.0`, or the bridge's id for its secondary bus. */
  readonly name: string;
  readonly kind: PciBusKind;
  readonly pciMemory: MemoryRegion;
  readonly pciIo: MemoryRegion;
  readonly functions: Map<number, PciDevice<PciBusNode>> = new Map();
  /** PCI Express (else conventional PCI). */
  readonly express: boolean;
  /** The bridge or expander device whose bus this is (none for `pcie.0`). */
  readonly parentDevice: PciDevice<PciBusNode> | undefined;
  /** Only slot 0 may be used (the link below a root or downstream port). */
  readonly slotZeroOnly: boolean;
  /** The parent bridge is a PCI Express to PCI bridge (requester ids become secondary-bus 00.0). */
  readonly behindPcieToPciBridge: boolean;
  readonly allowZeroAddress: boolean;
  /** Buses below this one, newest first (QEMU inserts at the head of `child`). */
  readonly children: PciBusNode[] = [];
  readonly #expanderNumber: number;

  constructor(options: {
    name: string;
    kind: PciBusKind;
    pciMemory: MemoryRegion;
    pciIo: MemoryRegion;
    express: boolean;
    parentDevice?: PciDevice<PciBusNode>;
    slotZeroOnly?: boolean;
    behindPcieToPciBridge?: boolean;
    expanderNumber?: number;
    allowZeroAddress?: boolean;
  }) {
    this.name = options.name;
    this.kind = options.kind;
    this.pciMemory = options.pciMemory;
    this.pciIo = options.pciIo;
    this.express = options.express;
    this.parentDevice = options.parentDevice;
    this.slotZeroOnly = options.slotZeroOnly ?? false;
    this.behindPcieToPciBridge = options.behindPcieToPciBridge ?? false;
    this.#expanderNumber = options.expanderNumber ?? 0;
    this.allowZeroAddress = options.allowZeroAddress ?? false;
  }

  /** The bus the parent device sits on. */
  get parentBus(): PciBusNode | undefined {
    return this.parentDevice?.phb;
  }

  /** QEMU's `pci_bus_num`: 0 for `pcie.0`, `bus_nr` for an expander, else the bridge's register. */
  get number(): number {
    if (this.kind === "root") return 0;
    if (this.kind === "expander") return this.#expanderNumber;
    return this.parentDevice!.config[BRIDGE_REG.secondaryBus];
  }

  /** The last bus number this bus routes to (the subordinate register; an expander's own). */
  get subordinate(): number {
    if (this.kind === "secondary") return this.parentDevice!.config[BRIDGE_REG.subordinateBus];
    return this.number;
  }

  /**
   * Whether configuration cycles for `bus` go down through this bus's bridge (QEMU's
   * `pci_secondary_bus_in_range`; a bus held in reset forwards nothing).
   */
  routes(bus: number): boolean {
    // An expander's root bus routes what one of its bridges routes (`pci_root_bus_in_range`).
    if (this.kind === "expander") return this.children.some((c) => c.routes(bus));
    if (this.kind === "root") return this.number === bus;
    const c = this.parentDevice!.config;
    const control = c[BRIDGE_REG.control] | (c[BRIDGE_REG.control + 1] << 8);
    if (control & BRIDGE_CTL_BUS_RESET) return false;
    return this.number <= bus && bus <= this.subordinate;
  }

  /** QEMU's `pci_find_bus_nr` from this bus: the bus numbered `bus` below it, if any. */
  find(bus: number): PciBusNode | undefined {
    if (this.number === bus) return this;
    if (this.kind === "secondary" && !this.routes(bus)) return undefined;
    let current: PciBusNode | undefined = this;
    while (current) {
      let next: PciBusNode | undefined;
      for (const child of current.children) {
        if (child.number === bus) return child;
        if (child.routes(bus)) {
          next = child;
          break;
        }
      }
      current = next;
    }
    return undefined;
  }
}
