/**
 * A machine's PCI hierarchy below one host bridge (q35's `pcie.0`, arm virt's GPEX): buses by
 * id, slots, bridges and expanders, the requester an IOMMU sees for a function, how a
 * configuration cycle finds its function by bus number, and the order QEMU 7.2 gives
 * cold-plugged functions their bus masters at machine-done.
 */
import type { MemoryRegionOps } from "../memory/access-types.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { QomObjectRef } from "../memory/region.ts";
import {
  PCI_BRIDGE_MODELS,
  type PciBridgeDriver,
  PciBridgeWindows,
  pciBridgeSpec,
} from "./pci-bridge.ts";
import { PciBusNode } from "./pci-bus-node.ts";
import { PciDevice, type PciFunctionSpec } from "./pci-device.ts";

/** Makes the machine's own error type from QEMU's message. */
export type PlugErrorFactory = (message: string) => Error;

/** The buses and functions below one host bridge. */
export class PciTopology {
  readonly root: PciBusNode;
  /** Every bus by id, the root first, then in creation order. */
  readonly buses = new Map<string, PciBusNode>();
  readonly #system: MemorySystem;
  readonly #fail: PlugErrorFactory;

  readonly #bridgeAddressSpaces: boolean;

  constructor(
    system: MemorySystem,
    root: PciBusNode,
    fail: PlugErrorFactory,
    options: { readonly bridgeAddressSpaces?: boolean } = {},
  ) {
    this.#system = system;
    this.root = root;
    this.#fail = fail;
    this.#bridgeAddressSpaces = options.bridgeAddressSpaces ?? false;
    this.buses.set(root.name, root);
  }

  /** The bus named by QEMU's `bus=` (the root when absent). */
  busFor(name: string | undefined): PciBusNode {
    if (name === undefined) return this.root;
    const bus = this.buses.get(name);
    if (!bus) throw this.#fail(`Bus '${name}' not found`);
    return bus;
  }

  /** The devfn a function takes: `addr=` checked, else the first free slot. */
  devfnFor(driver: string, bus: PciBusNode, slot?: number, fn?: number): number {
    if (slot !== undefined) {
      const f = fn ?? 0;
      if (slot < 0 || slot > 31 || f < 0 || f > 7) {
        throw this.#fail(`Property 'addr' out of range: ${slot}.${f}`);
      }
      const devfn = (slot << 3) | f;
      const taken = bus.functions.get(devfn);
      if (taken) {
        throw this.#fail(
          `PCI: slot ${slot} function ${f} not available for ${driver}, in use by ${taken.spec.typeName}`,
        );
      }
      if (bus.slotZeroOnly && slot !== 0) {
        throw this.#fail(
          `PCI: slot ${slot} is not valid for ${driver}, parent device only allows plugging into slot 0.`,
        );
      }
      return devfn;
    }
    for (let s = 0; s < 32; s++) if (!bus.functions.has(s << 3)) return s << 3;
    throw this.#fail(`PCI: no slot/function available for ${driver}, all in use`);
  }

  /** Realizes a function on `bus` (conventional on a conventional bus). */
  addFunction(
    bus: PciBusNode,
    devfn: number,
    spec: PciFunctionSpec,
    owner: QomObjectRef,
  ): PciDevice<PciBusNode> {
    // A PCI Express function on a conventional bus loses its capability: 256 bytes of config.
    const onBus = spec.express && !bus.express ? { ...spec, express: false } : spec;
    const device = new PciDevice<PciBusNode>(this.#system, bus, devfn, onBus, owner);
    bus.functions.set(devfn, device);
    return device;
  }

  /**
   * A root port, switch port or PCI bridge: its function on `bus` and its secondary bus, named
   * by the bridge's id (QEMU's `pci_bridge_initfn`). Properties other than slot numbering are
   * refused by the caller.
   */
  addBridge(
    driver: PciBridgeDriver,
    id: string | undefined,
    bus: PciBusNode,
    devfn: number,
    owner: QomObjectRef,
  ): PciDevice<PciBusNode> {
    const model = PCI_BRIDGE_MODELS[driver];
    const windows = new PciBridgeWindows(this.#system, bus, owner);
    // QEMU 10.0's pci_bridge_initfn also makes an address space over each secondary-bus space
    // (`pci_bridge_pci_mem`, `pci_bridge_pci_io`); 7.2 has none (recorded: x86_64-q35-bridges).
    if (this.#bridgeAddressSpaces) {
      this.#system.addressSpace(windows.spaces.memory, "pci_bridge_pci_mem");
      this.#system.addressSpace(windows.spaces.io, "pci_bridge_pci_io");
    }
    let secondaryBus: PciBusNode | undefined;
    const resetBelow = () => {
      // qbus_reset_all: every function on the secondary bus and on the buses below it.
      this.#system.transaction(() => {
        for (const f of this.#functionsBelow(secondaryBus!)) f.reset();
      });
    };
    const spec = pciBridgeSpec(driver, windows, !bus.express, this.#system, owner, resetBelow);
    const device = this.addFunction(bus, devfn, spec, owner);
    const secondary = new PciBusNode({
      name: id ?? `${driver}.${this.buses.size}`,
      kind: "secondary",
      pciMemory: windows.spaces.memory,
      pciIo: windows.spaces.io,
      express: model.secondaryExpress,
      parentDevice: device,
      slotZeroOnly: model.slotZeroOnly,
      behindPcieToPciBridge: model.pcieToPci,
      allowZeroAddress: this.root.allowZeroAddress,
    });
    secondaryBus = secondary;
    bus.children.unshift(secondary);
    this.buses.set(secondary.name, secondary);
    return device;
  }

  /** The functions on `bus` and on every bus below it. */
  #functionsBelow(bus: PciBusNode): PciDevice<PciBusNode>[] {
    const out: PciDevice<PciBusNode>[] = [];
    const stack = [bus];
    for (let b = stack.pop(); b; b = stack.pop()) {
      out.push(...b.functions.values());
      stack.push(...b.children);
    }
    return out;
  }

  /** A PCI expander's root bus numbered `busNr`, sharing the host bridge's spaces. */
  addExpanderBus(id: string | undefined, device: PciDevice<PciBusNode>, busNr: number): PciBusNode {
    const expander = new PciBusNode({
      name: id ?? `${device.spec.typeName}.${this.buses.size}`,
      kind: "expander",
      pciMemory: this.root.pciMemory,
      pciIo: this.root.pciIo,
      express: true,
      parentDevice: device,
      expanderNumber: busNr,
      allowZeroAddress: this.root.allowZeroAddress,
    });
    this.root.children.unshift(expander);
    this.buses.set(expander.name, expander);
    return expander;
  }

  /**
   * The requester an IOMMU on the root bus sees for the function at `devfn` on `bus` (QEMU
   * 7.2's `pci_device_iommu_address_space`): walking up, a conventional bus replaces the
   * requester by its bridge's alias: (secondary bus, 00.0) behind a PCI Express to PCI bridge,
   * else the bridge itself on its parent bus. PCI Express buses keep the requester.
   */
  dmaRequester(
    bus: PciBusNode,
    devfn: number,
  ): { readonly bus: PciBusNode; readonly devfn: number } {
    let requesterBus = bus;
    let requesterDevfn = devfn;
    for (let walk = bus; walk.parentDevice; walk = walk.parentDevice.phb) {
      if (walk.express) continue;
      const parent = walk.parentDevice;
      if (walk.behindPcieToPciBridge && parent.phb.express) {
        requesterBus = walk;
        requesterDevfn = 0;
      } else {
        requesterBus = parent.phb;
        requesterDevfn = parent.devfn;
      }
    }
    return { bus: requesterBus, devfn: requesterDevfn };
  }

  /** The function a configuration cycle for `busNumber`/`devfn` reaches (`pci_find_device`). */
  configTarget(busNumber: number, devfn: number): PciDevice<PciBusNode> | undefined {
    return this.root.find(busNumber)?.functions.get(devfn);
  }

  /**
   * Cold-plugged functions in the order QEMU 7.2 gives them bus masters: each bus registered
   * its machine-done notifier when it was made and QEMU runs them newest first; a bus takes
   * its functions in devfn order (`pcibus_machine_done`).
   */
  machineDoneOrder(): PciDevice<PciBusNode>[] {
    const out: PciDevice<PciBusNode>[] = [];
    for (const bus of [...this.buses.values()].reverse()) {
      for (const devfn of [...bus.functions.keys()].sort((a, b) => a - b)) {
        out.push(bus.functions.get(devfn)!);
      }
    }
    return out;
  }

  /** Every function, bus by bus. */
  *functions(): Iterable<PciDevice<PciBusNode>> {
    for (const bus of this.buses.values()) yield* bus.functions.values();
  }
}

/**
 * ECAM (`pcie_mmcfg_data_read`/`write`): bus, devfn and register from the offset; a cycle that
 * reaches no function, or runs past its configuration space, reads all ones and writes nothing.
 * `configTarget` is asked at each access (the machine's topology may be made after the region).
 */
export function ecamOps(
  configTarget: (busNumber: number, devfn: number) => PciDevice<PciBusNode> | undefined,
): MemoryRegionOps {
  const target = (offset: bigint) => {
    const f = configTarget(Number((offset >> 20n) & 0xffn), Number((offset >> 12n) & 0xffn));
    return f ? { f, reg: Number(offset & 0xfffn) } : undefined;
  };
  return {
    read: (offset, size) => {
      const t = target(offset);
      if (!t || t.reg + size > t.f.configSize) return (1n << BigInt(8 * size)) - 1n;
      return BigInt(t.f.configRead(t.reg, size));
    },
    write: (offset, value, size) => {
      const t = target(offset);
      if (t && t.reg + size <= t.f.configSize) t.f.configWrite(t.reg, size, Number(value));
      return 0;
    },
  };
}
