/**
 * The q35 machine (QEMU 7.2's `-M q35`): RAM split around the 32-bit PCI hole, the PCI memory
 * space with the BIOS, the MCH's PAM and SMRAM aliases, the legacy I/O ports, the PCIe root bus
 * `pcie.0` with the MCH and the ICH9 functions, `-device` PCI functions, and optionally an
 * intel-iommu that gives every function its own DMA address space. No guest runs: the caller
 * (a scenario, or a qtest transcript) plays the guest's loads, stores and port I/O.
 */
import { AMDVI_BASE_ADDR, AMDVI_IOAPIC_DEVFN, AmdIommu } from "../amdvi/amd-iommu.ts";
import { iommufdObjectRefusal } from "../host/iommufd.ts";
import { GUEST_RAM_HVA, type HostPlatform } from "../host/platform.ts";
import type { MemoryRegionOps } from "../memory/access-types.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import { U64_MAX } from "../memory/int.ts";
import { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import type { VfioBehaviour, VfioContainer } from "../vfio/container.ts";
import { VfioError } from "../vfio/container.ts";
import { VFIO_MESSAGES } from "../vfio/messages.ts";
import { type HostDmaResult, VfioHost } from "../vfio/vfio-host.ts";
import { VIRTIO_IOMMU_PCI, VIRTIO_IOMMU_RESV_MEM_T } from "../virtio-iommu/constants.ts";
import {
  VirtioIommu,
  VirtioIommuError,
  type VirtioIommuGranule,
} from "../virtio-iommu/virtio-iommu.ts";
import { IntelIommu, type IntelIommuOptions } from "../vtd/intel-iommu.ts";
import { edu } from "./edu.ts";
import { ich9UsbEhci1 } from "./ich9-ehci.ts";
import {
  MachineTypeError,
  machineTypeVersion,
  unsupportedMachineTypeMessage,
} from "./machine-type.ts";
import { isPciBridgeDriver, type PciBridgeDriver } from "./pci-bridge.ts";
import { PciBusNode } from "./pci-bus-node.ts";
import { PciDevice, type PciFunctionSpec } from "./pci-device.ts";
import { e1000, e1000e, virtioNetPci } from "./pci-nics.ts";
import { ecamOps, PciTopology } from "./pci-topology.ts";
import {
  addLegacyPorts,
  hpetOwner,
  ich9FunctionOwners,
  initPam,
  MCH,
  type PamSegment,
  type SmramRegions,
  updatePam,
  updateSmram,
} from "./q35-chipset.ts";
import { atLeast, DEFAULT_QEMU_LINE, type QemuLine } from "./qemu-line.ts";
import { qemuXhci } from "./qemu-xhci.ts";

const KiB = 1024n;
const MiB = 1024n * KiB;
const GiB = 1024n * MiB;

/** A bus of the q35 machine (`pcie.0`, a bridge's secondary bus, an expander's bus). */
export type Q35Bus = PciBusNode;

/** A `-device` PCI function on q35. */
export interface Q35DeviceSpec {
  readonly driver: string;
  readonly id?: string;
  /** The bus (QEMU's `bus=`): `pcie.0` (the default) or a bridge's or expander's id. */
  readonly bus?: string;
  /** Slot on its bus (QEMU's `addr=`); default the first free one. */
  readonly slot?: number;
  readonly function?: number;
  /** The device's other properties as on QEMU's command line (`dma_mask=...`). */
  readonly properties?: Readonly<Record<string, string>>;
}

/** A q35 machine description. */
export interface Q35Config {
  /** Which QEMU release the machine models (default 7.2): its machine types and behaviour. */
  readonly qemu?: QemuLine;
  /** `q35` (that release's newest) or `pc-q35-X.Y`; default `q35`. */
  readonly machineType?: string;
  /** RAM in bytes (QEMU's `-m`; 128 MiB by default). */
  readonly memory?: bigint;
  /** Number of CPUs (each has its memory and SMM address spaces). */
  readonly smp?: number;
  /** `-device intel-iommu` with its properties. */
  readonly intelIommu?: IntelIommuOptions;
  /** `-device amd-iommu` (its registers and translation are not modelled). */
  readonly amdIommu?: boolean;
  /** `-device` PCI functions in command-line order. */
  readonly devices?: readonly Q35DeviceSpec[];
  /**
   * The host assigned (`vfio-pci`) devices come from: Linux's type1 IOMMU backend, or iommufd
   * (`-object iommufd` and `vfio-pci,iommufd=`, QEMU 10 only).
   */
  readonly host?: { readonly platform: HostPlatform; readonly backend?: "type1" | "iommufd" };
  /** How the VFIO side behaves (default qemu-7.2). */
  readonly vfioBehaviour?: VfioBehaviour;
}

/** A plug that cannot be done, with QEMU's message. */
export class Q35DeviceError extends Error {
  override name = "Q35DeviceError";
}

/** What an emulated device builder receives. */
export interface DeviceContext {
  readonly system: MemorySystem;
  readonly owner: QomObjectRef;
  readonly properties: Readonly<Record<string, string>>;
  readonly machine: Q35Machine;
  /** The function sits below a PCIe root or downstream port (not on a root bus). */
  readonly onPciePort?: boolean;
}

/** The emulated PCI devices q35 can build, by QEMU's driver name. */
export const Q35_DRIVERS: Record<string, (ctx: DeviceContext) => PciFunctionSpec> = {
  edu,
  e1000: (ctx) => e1000(ctx.system, ctx.owner),
  e1000e: (ctx) => e1000e(ctx.system, ctx.owner),
  "virtio-net-pci": (ctx) => virtioNetPci(ctx.system, ctx.owner, ctx.onPciePort, ctx.machine.qemu),
  "qemu-xhci": (ctx) => qemuXhci(ctx.system, ctx.owner),
  "ich9-usb-ehci1": (ctx) => ich9UsbEhci1(ctx.system, ctx.owner),
};

/** A q35 machine. */
export class Q35Machine {
  /** Which QEMU release this machine models; rules that changed between releases branch on it. */
  readonly qemu: QemuLine;
  /** The versioned machine type built (`q35` under 10.0 is `10.0`). */
  readonly machineVersion: string;
  readonly memory: MemorySystem;
  readonly sysmem: MemoryRegion;
  readonly io: MemoryRegion;
  readonly pci: MemoryRegion;
  readonly ram: MemoryRegion;
  readonly memoryAs: AddressSpace;
  readonly ioAs: AddressSpace;
  readonly cpuAs: AddressSpace[] = [];
  /** RAM below and above 4 GiB, as QEMU 7.2 splits it. */
  readonly belowFourG: bigint;
  readonly aboveFourG: bigint;
  /** The root bus `pcie.0`: PCI memory is the `pci` region, PCI I/O the machine's I/O space. */
  readonly bus: Q35Bus;
  /** The buses below `pcie.0`, with their bridges. */
  readonly topology: PciTopology;
  readonly mch: PciDevice<Q35Bus>;
  /** The functions on `pcie.0` by devfn (each bus has its own `functions`). */
  readonly functions = new Map<number, PciDevice<Q35Bus>>();
  /** `-device` functions by id (anonymous ones get `<driver>#<n>`). */
  readonly devices = new Map<string, PciDevice<Q35Bus>>();
  readonly intelIommu: IntelIommu | undefined;
  readonly amdIommu: AmdIommu | undefined;
  /** The `virtio-iommu-pci` device's IOMMU, once plugged. */
  virtioIommu: VirtioIommu | undefined;
  /** The VFIO host, when the machine has one. */
  readonly vfio: VfioHost | undefined;
  /** Assigned devices by id: host address and container. */
  readonly assigned = new Map<
    string,
    { readonly host: string; readonly container: VfioContainer }
  >();
  /** QEMU's error_report and warn_report lines from device models (virtio-iommu). */
  readonly reports: string[] = [];
  /** Set when QEMU would have aborted (`hw_error`): the message QEMU prints. */
  aborted: string | undefined;
  /** Pending device timers, run by `runTimers` (time passes between guest actions). */
  readonly #timers: (() => void)[] = [];
  #configAddress = 0;
  #mmcfg: MemoryRegion | undefined;
  readonly #pam: PamSegment[] = [];
  readonly #smram: SmramRegions;
  /** The MCH's `smram` container, which each CPU's SMM address space shows over memory. */
  #smramContainer: MemoryRegion | undefined;
  #machineReady = false;
  #anonymous = 0;

  constructor(config: Q35Config = {}) {
    this.qemu = config.qemu ?? DEFAULT_QEMU_LINE;
    const machineType = config.machineType ?? "q35";
    const version = machineTypeVersion("pc-q35", machineType, this.qemu);
    if (version === undefined)
      throw new MachineTypeError(
        `qemu-system-x86_64: ${unsupportedMachineTypeMessage(machineType, this.qemu)}`,
      );
    this.machineVersion = version;
    const ramSize = config.memory ?? 128n * MiB;
    const m = new MemorySystem();
    this.memory = m;
    const unattached: QomObjectRef = { kind: "obj", key: "path", value: "/machine/unattached" };
    const noOwner = { parent: unattached };
    this.sysmem = m.container("system", U64_MAX, noOwner);
    // Unassigned ports read as all ones (QEMU's `unassigned_io_ops`).
    const unassignedIo: MemoryRegionOps = { read: (_o, size) => (1n << BigInt(8 * size)) - 1n };
    this.io = m.io("io", 0x10000n, unassignedIo, noOwner);
    this.memoryAs = m.addressSpace(this.sysmem, "memory");
    this.ioAs = m.addressSpace(this.io, "I/O");

    // pc_q35_init: 2 GiB below 4 GiB once RAM reaches 2.75 GiB, else up to 2.75 GiB.
    const lowmem = ramSize >= 0xb0000000n ? 0x80000000n : 0xb0000000n;
    this.belowFourG = ramSize >= lowmem ? lowmem : ramSize;
    this.aboveFourG = ramSize - this.belowFourG;

    const mchOwner: QomObjectRef = { kind: "dev", key: "path", value: "/machine/q35/mch" };
    m.begin();
    this.ram = m.ram("pc.ram", ramSize, {
      owner: { kind: "obj", key: "path", value: "/objects/pc.ram" },
    });
    this.sysmem.addSubregion(m.alias("ram-below-4g", this.ram, 0n, this.belowFourG, noOwner), 0n);
    if (this.aboveFourG > 0n) {
      this.sysmem.addSubregion(
        m.alias("ram-above-4g", this.ram, this.belowFourG, this.aboveFourG, noOwner),
        4n * GiB,
      );
    }
    this.pci = m.container("pci", U64_MAX, noOwner);
    this.sysmem.addSubregionOverlap(this.pci, 0n, -1);
    const bios = m.rom("pc.bios", 256n * KiB, noOwner);
    this.pci.addSubregion(bios, 4n * GiB - bios.size);
    const isaBios = m.alias("isa-bios", bios, bios.size - 128n * KiB, 128n * KiB, noOwner);
    isaBios.setReadonly(true);
    this.pci.addSubregionOverlap(isaBios, 0x100000n - 128n * KiB, 1);
    this.pci.addSubregionOverlap(m.rom("pc.rom", 128n * KiB, noOwner), 0xc0000n, 1);

    const cpuOwner: QomObjectRef = {
      kind: "dev",
      key: "path",
      value: "/machine/unattached/device[0]",
    };
    const inert: MemoryRegionOps = { read: () => 0n, write: () => 0 };
    this.sysmem.addSubregionOverlap(
      m.io("apic-msi", 0x100000n, inert, {
        owner: { ...cpuOwner, value: `${cpuOwner.value}/lapic` },
      }),
      0xfee00000n,
      4096,
    );
    this.sysmem.addSubregion(
      m.io("ioapic", 0x1000n, inert, { owner: { ...mchOwner, value: "/machine/q35/ioapic" } }),
      0xfec00000n,
    );
    this.sysmem.addSubregion(
      m.io("hpet", 0x400n, inert, { owner: hpetOwner(this.qemu) }),
      0xfed00000n,
    );
    addLegacyPorts(m, this.io, this.qemu);
    const q35Owner: QomObjectRef = { ...mchOwner, value: "/machine/q35" };
    this.io.addSubregion(
      m.io("pci-conf-idx", 4n, this.#configIndexOps(), { owner: q35Owner }),
      0xcf8n,
    );
    this.io.addSubregion(
      m.io("pci-conf-data", 4n, this.#configDataOps(), { owner: q35Owner }),
      0xcfcn,
    );
    this.#smram = this.#initSmram(mchOwner);
    m.commit();

    const smp = config.smp ?? 1;
    for (let i = 0; i < smp; i++) {
      this.cpuAs.push(m.addressSpace(this.sysmem, `cpu-memory-${i}`));
      this.#addSmmAddressSpace(i);
    }

    this.bus = new PciBusNode({
      name: "pcie.0",
      kind: "root",
      pciMemory: this.pci,
      pciIo: this.io,
      express: true,
    });
    this.topology = new PciTopology(m, this.bus, (message) => new Q35DeviceError(message), {
      bridgeAddressSpaces: atLeast(this.qemu, "10.0"),
    });
    const root = this.bus;
    this.mch = this.#addFunction(root, 0, mchSpec(this), mchOwner);
    this.#addFunction(root, 0x1f << 3, ich9Function("ICH9-LPC", 0x2918, 0x060100), UNATTACHED(2));
    const ich9 = ich9FunctionOwners(this.qemu);
    const ahci = ich9Function("ich9-ahci", 0x2922, 0x010601);
    this.#addFunction(root, (0x1f << 3) | 2, ahci, ich9.ahci);
    const smbus = ich9Function("ICH9-SMB", 0x2930, 0x0c0500);
    this.#addFunction(root, (0x1f << 3) | 3, smbus, ich9.smbus);

    if (config.intelIommu) {
      // hw_compat_9_1 keeps aw-bits at 39 on machine types up to pc-q35-9.1 (10.0's default is 48).
      const [major, minor] = this.machineVersion.split(".").map(Number);
      const compat39 = major < 9 || (major === 9 && minor < 2);
      const options = {
        qemu: this.qemu,
        ...(compat39 ? { awBits: 39 } : {}),
        ...config.intelIommu,
        onAbort: (message: string) => this.abort(message),
      };
      this.intelIommu = new IntelIommu(m, this.memoryAs, options, {
        kind: "dev",
        key: "path",
        value: `/machine/peripheral-anon/device[${this.#anonymous++}]`,
      });
      this.sysmem.addSubregion(this.intelIommu.mmio, 0xfed90000n);
      // vtd_realize gives the IOAPIC a pseudo address space on the root bus at devfn 0: that is
      // why `vtd-00.0` exists before any -device function's bus-master address space.
      this.intelIommu.addressSpaceOf(0, 0);
    }
    if (config.host) {
      // QEMU 7.2 has no iommufd object (the backend came with 9.0): `-object iommufd` stops it.
      const refused =
        config.host.backend === "iommufd"
          ? iommufdObjectRefusal(this.qemu, "x86_64", "iommufd0")
          : undefined;
      if (refused) throw new Q35DeviceError(refused);
      this.vfio = new VfioHost(
        config.host.platform,
        config.host.backend ?? "type1",
        config.vfioBehaviour ?? "qemu-7.2",
        this.memoryAs,
        this.#ramHva(),
        { qemu: this.qemu },
      );
    }
    if (config.amdIommu) {
      if (this.intelIommu) throw new Q35DeviceError("there can be only one IOMMU on q35");
      this.amdIommu = new AmdIommu(
        m,
        this.memoryAs,
        {
          kind: "dev",
          key: "path",
          value: `/machine/peripheral-anon/device[${this.#anonymous++}]`,
        },
        (message) => this.abort(message),
        this.qemu,
      );
      this.sysmem.addSubregion(this.amdIommu.mmio, AMDVI_BASE_ADDR);
      // amdvi_sysbus_realize: the IOMMU's own PCI function takes the first free slot, then the
      // IOAPIC gets its pseudo address space.
      this.#addFunction(
        this.bus,
        this.topology.devfnFor("AMDVI-PCI", this.bus),
        amdviPciSpec(),
        // 10.0 numbers /machine/unattached three lower (the ISA DMA and RTC moved under ICH9-LPC).
        UNATTACHED(atLeast(this.qemu, "10.0") ? 22 : 25),
      );
      this.amdIommu.addressSpaceOf(0, AMDVI_IOAPIC_DEVFN);
      this.amdIommu.realize();
    }
    for (const d of config.devices ?? []) this.plug(d);
    // Machine ready: bus-master aliases for the cold-plugged functions.
    this.#machineReady = true;
    for (const f of this.topology.machineDoneOrder())
      f.initBusMaster(this.#dmaRoot(f.phb, f.devfn));
    // PHASE_MACHINE_READY follows the machine-done notifiers: virtio-iommu's mask is frozen.
    this.virtioIommu?.machineDone();
    this.reset();
  }

  /** What the first CPU's loads and stores see. */
  get cpuMemory(): AddressSpace {
    return this.cpuAs[0];
  }

  /** System reset: every function's PCI reset, the MCH's registers, the IOMMU's. */
  reset(): void {
    this.memory.transaction(() => {
      for (const f of this.topology.functions()) f.reset();
      this.intelIommu?.reset();
      // qemu_register_reset's handler (config.bypass back to boot-bypass), then the virtio reset.
      this.virtioIommu?.systemReset();
      this.virtioIommu?.deviceReset();
    });
  }

  /**
   * The slot and QOM owner a new function takes: its id, or the next anonymous peripheral path
   * (refused when the id is taken, before anything is created).
   */
  #claim(spec: Q35DeviceSpec): { bus: Q35Bus; devfn: number; owner: QomObjectRef } {
    if (spec.id !== undefined && this.devices.has(spec.id)) {
      throw new Q35DeviceError(`Duplicate device ID '${spec.id}' for device`);
    }
    const bus = this.topology.busFor(spec.bus);
    const devfn = this.topology.devfnFor(spec.driver, bus, spec.slot, spec.function);
    const owner: QomObjectRef =
      spec.id !== undefined
        ? { kind: "dev", key: "id", value: spec.id }
        : {
            kind: "dev",
            key: "path",
            value: `/machine/peripheral-anon/device[${this.#anonymous++}]`,
          };
    return { bus, devfn, owner };
  }

  /** Every bus by id, `pcie.0` first, then in creation order. */
  get buses(): ReadonlyMap<string, Q35Bus> {
    return this.topology.buses;
  }

  /** Plugs a PCI function (cold before the machine is ready, hot after). */
  plug(spec: Q35DeviceSpec): PciDevice<Q35Bus> {
    if (spec.driver === "vfio-pci") return this.#plugVfio(spec);
    if (isPciBridgeDriver(spec.driver)) return this.#plugBridge(spec, spec.driver);
    if (spec.driver === "pxb-pcie") return this.#plugExpander(spec);
    if (spec.driver === "virtio-iommu-pci") return this.#plugVirtioIommu(spec);
    const build = Q35_DRIVERS[spec.driver];
    if (!build) throw new Q35DeviceError(`'${spec.driver}' is not a valid device model name`);
    const { bus, devfn, owner } = this.#claim(spec);
    const fn = build({
      system: this.memory,
      owner,
      properties: spec.properties ?? {},
      machine: this,
      onPciePort: bus.kind === "secondary" && bus.express,
    });
    const device = this.#addFunction(bus, devfn, fn, owner);
    return this.#finishPlug(spec, bus, device);
  }

  /** Records a plugged function and, once the machine is ready, gives it its bus master. */
  #finishPlug(spec: Q35DeviceSpec, bus: Q35Bus, device: PciDevice<Q35Bus>): PciDevice<Q35Bus> {
    this.devices.set(spec.id ?? `${spec.driver}#${this.devices.size}`, device);
    if (this.#machineReady) device.initBusMaster(this.#dmaRoot(bus, device.devfn));
    return device;
  }

  /**
   * A root port, switch port or PCI bridge: its function on the parent bus and its secondary
   * bus, named by the bridge's id (QEMU's `pci_bridge_initfn`).
   */
  #plugBridge(spec: Q35DeviceSpec, driver: PciBridgeDriver): PciDevice<Q35Bus> {
    for (const k of Object.keys(spec.properties ?? {})) {
      throw new Q35DeviceError(`${driver} property '${k}' is not modelled`);
    }
    const { bus, devfn, owner } = this.#claim(spec);
    const device = this.topology.addBridge(driver, spec.id, bus, devfn, owner);
    if (bus === this.bus) this.functions.set(devfn, device);
    return this.#finishPlug(spec, bus, device);
  }

  /**
   * `pxb-pcie`: a PCI expander on `pcie.0` whose own root bus (numbered `bus_nr`) shares the
   * machine's PCI memory and I/O spaces; its devices reach the IOMMU of `pcie.0`.
   */
  #plugExpander(spec: Q35DeviceSpec): PciDevice<Q35Bus> {
    const props = spec.properties ?? {};
    for (const k of Object.keys(props)) {
      if (k !== "bus_nr") throw new Q35DeviceError(`pxb-pcie property '${k}' is not modelled`);
    }
    const busNr = Number(props.bus_nr ?? "0");
    if (!/^\d+$/.test(props.bus_nr ?? "0") || busNr > 255) {
      throw new Q35DeviceError(`Parameter 'bus_nr' expects uint8`);
    }
    const { bus, devfn, owner } = this.#claim(spec);
    if (bus !== this.bus) throw new Q35DeviceError("pxb-pcie: only on pcie.0 in iova");
    const fn: PciFunctionSpec = {
      typeName: "pxb-pcie",
      vendorId: 0x1b36,
      deviceId: 0x000b,
      classCode: 0x060000,
      revision: 0,
      bars: [],
    };
    const device = this.#addFunction(bus, devfn, fn, owner);
    this.topology.addExpanderBus(spec.id, device, busNr);
    return this.#finishPlug(spec, bus, device);
  }

  /**
   * A `vfio-pci` function: its group joins or sets up a type1 container on the function's DMA
   * address space (`vtd-root` behind intel-iommu, else system memory).
   */
  #plugVfio(spec: Q35DeviceSpec): PciDevice<Q35Bus> {
    if (this.intelIommu && !this.intelIommu.cachingMode) {
      // QEMU 7.2 exits at machine-done for a cold-plugged one (vtd_machine_done_notify_one) and
      // refuses a hot-plugged one (pc_hotplug_allowed).
      throw new Q35DeviceError(
        this.#machineReady
          ? "Device assignment is not allowed without enabling caching-mode=on for Intel IOMMU."
          : "We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.",
      );
    }
    const vfio = this.vfio;
    if (!vfio) throw new Q35DeviceError("vfio-pci needs a host: describe one (a type1 host)");
    const host = spec.properties?.host;
    if (!host) throw new Q35DeviceError("vfio-pci needs a host device address (host=...)");
    if ([...this.assigned.values()].some((a) => a.host === host)) {
      throw new Q35DeviceError(`vfio ${host}: device is already attached`);
    }
    const { bus, devfn, owner } = this.#claim(spec);
    const fn: PciFunctionSpec = {
      typeName: "vfio-pci",
      vendorId: 0x8086,
      deviceId: 0x10fb,
      classCode: 0x020000,
      revision: 1,
      bars: [],
      express: bus.express,
    };
    const device = new PciDevice<Q35Bus>(this.memory, bus, devfn, fn, owner);
    // vfio_realize asks for the function's address space at once: behind virtio-iommu that
    // creates its region before those of functions initialised at machine-ready.
    const dmaAs = this.#dmaSpace(bus, devfn)?.as ?? this.memoryAs;
    let container: VfioContainer;
    try {
      container = vfio.attach(host, dmaAs);
    } catch (e) {
      device.unrealize();
      if (e instanceof VfioError) throw new Q35DeviceError(e.message);
      throw e;
    }
    // QEMU 10 (since 9.1) gives the vIOMMU the host IOMMU device and intel-iommu refuses a host
    // narrower than its aw-bits (vtd_check_hiod); the device is torn down again.
    if (vfio.qemu === "10.0" && this.intelIommu && this.intelIommu.awBits > container.hostAwBits) {
      const refusal = VFIO_MESSAGES.hostAwBitsTooSmall.render(
        this.intelIommu.awBits,
        container.hostAwBits,
      );
      vfio.detach(host);
      device.unrealize();
      throw new Q35DeviceError(
        VFIO_MESSAGES.devicePrefix.render(host) + VFIO_MESSAGES.setVIommuFailed.render() + refusal,
      );
    }
    // Behind virtio-iommu, QEMU 10 hands over the host's usable IOVA ranges and page sizes
    // (virtio_iommu_set_iommu_device); a refusal tears the device down the same way.
    if (vfio.qemu === "10.0" && this.virtioIommu) {
      const refusal = this.virtioIommu.setIommuDevice(
        this.#virtioIommuKey({ bus, devfn }),
        this.#virtioIommuKey(this.dmaRequester(bus, devfn)),
        { name: host, iovaRanges: container.iovaRanges, pageSizeMask: container.pgsizes },
      );
      if (refusal !== undefined) {
        vfio.detach(host);
        device.unrealize();
        throw new Q35DeviceError(
          VFIO_MESSAGES.devicePrefix.render(host) +
            VFIO_MESSAGES.setVIommuFailed.render() +
            refusal,
        );
      }
    }
    const id = spec.id ?? `vfio-pci#${this.devices.size}`;
    this.assigned.set(id, { host, container });
    if (bus === this.bus) this.functions.set(devfn, device);
    bus.functions.set(devfn, device);
    this.devices.set(id, device);
    if (this.#machineReady) device.initBusMaster(this.#dmaRoot(bus, devfn));
    return device;
  }

  /** The host's page size (QEMU's `qemu_real_host_page_size`), when a host is described. */
  get #hostPageSize(): bigint | undefined {
    return this.vfio?.platform.pageSize;
  }

  /**
   * `virtio-iommu-pci`: a PCI function whose realize makes the virtio-iommu the IOMMU of
   * `pcie.0`. q35's pre-plug hook refuses a second vIOMMU and sets the reserved regions to the
   * MSI window 0xfee00000-0xfeefffff (a `len-reserved-regions` of the user's clashes with it).
   */
  #plugVirtioIommu(spec: Q35DeviceSpec): PciDevice<Q35Bus> {
    if (this.#machineReady) {
      throw new Q35DeviceError("Device 'virtio-iommu-pci' does not support hotplugging");
    }
    if (this.intelIommu || this.amdIommu || this.virtioIommu) {
      throw new Q35DeviceError("QEMU does not support multiple vIOMMUs for x86 yet.");
    }
    const props = { ...(spec.properties ?? {}) };
    let bootBypass = true;
    const v10 = atLeast(this.qemu, "10.0");
    // 10.0's defaults: q35 sets aw-bits 39 (pc_q35_compat_defaults); hw_compat_8_2 brings back
    // 64 and a 4 KiB granule for machine types up to pc-q35-8.2.
    const [major, minor] = this.machineVersion.split(".").map(Number);
    const upTo82 = major < 8 || (major === 8 && minor <= 2);
    let granule: VirtioIommuGranule = upTo82 ? "4k" : "host";
    let awBits = upTo82 ? 64 : 39;
    for (const [k, v] of Object.entries(props)) {
      if (k === "boot-bypass") {
        const b = parseBool(v);
        if (b === undefined) {
          throw new Q35DeviceError(`Parameter 'boot-bypass' expects 'on' or 'off'`);
        }
        bootBypass = b;
      } else if ((k === "granule" || k === "aw-bits") && !v10) {
        throw new Q35DeviceError(`Property 'virtio-iommu-pci.${k}' not found`);
      } else if (k === "granule") {
        if (!["4k", "8k", "16k", "64k", "host"].includes(v)) {
          throw new Q35DeviceError(`Parameter 'granule' does not accept value '${v}'`);
        }
        granule = v as VirtioIommuGranule;
      } else if (k === "aw-bits") {
        if (!/^\d+$/.test(v) || Number(v) > 255) {
          throw new Q35DeviceError(`Parameter 'aw-bits' expects uint8_t`);
        }
        awBits = Number(v);
      } else if (k === "len-reserved-regions") {
        // 10.0's reserved-regions is a list property: the array length property is gone.
        throw new Q35DeviceError(
          v10
            ? "Property 'virtio-iommu-pci.len-reserved-regions' not found"
            : "array size property len-reserved-regions may only be set once",
        );
      } else if (!k.startsWith("reserved-regions[")) {
        throw new Q35DeviceError(`virtio-iommu-pci property '${k}' is not modelled`);
      }
    }
    const { bus, devfn, owner } = this.#claim(spec);
    const backendOwner: QomObjectRef = {
      kind: "dev",
      key: "path",
      value: `${owner.key === "id" ? `/machine/peripheral/${owner.value}` : owner.value}/virtio-backend`,
    };
    const options = {
      bootBypass,
      reservedRegions: [{ low: 0xfee00000n, high: 0xfeefffffn, type: VIRTIO_IOMMU_RESV_MEM_T.MSI }],
      onAbort: (message: string) => this.abort(message),
      onReport: (message: string) => this.reports.push(message),
      qemu: this.qemu,
      ...(v10 ? { granule, awBits, hostPageSize: this.#hostPageSize ?? 0x1000n } : {}),
    };
    try {
      this.virtioIommu = new VirtioIommu(
        this.memory,
        this.memoryAs,
        this.sysmem,
        backendOwner,
        options,
      );
    } catch (e) {
      if (e instanceof VirtioIommuError) throw new Q35DeviceError(e.message);
      throw e;
    }
    const fn: PciFunctionSpec = { typeName: "virtio-iommu-pci", ...VIRTIO_IOMMU_PCI, bars: [] };
    const device = this.#addFunction(bus, devfn, fn, owner);
    this.devices.set(spec.id ?? `${spec.driver}#${this.devices.size}`, device);
    return device;
  }

  /**
   * Unplugs a `-device` function by id (QEMU's device_del, completed): an assigned one leaves its
   * container first (VFIO's listener unmaps what it mirrored). The function's VT-d address space
   * stays, as QEMU keeps it.
   */
  unplug(id: string): void {
    const device = this.devices.get(id);
    if (!device) throw new Q35DeviceError(`Device '${id}' not found`);
    const assigned = this.assigned.get(id);
    if (assigned) {
      // QEMU 10's vfio-pci unrealize first gives the vIOMMU its host IOMMU device back.
      if (this.vfio?.qemu === "10.0" && this.virtioIommu) {
        this.virtioIommu.unsetIommuDevice(
          this.#virtioIommuKey({ bus: device.phb, devfn: device.devfn }),
        );
      }
      this.vfio?.detach(assigned.host);
      this.assigned.delete(id);
    }
    device.unrealize();
    device.phb.functions.delete(device.devfn);
    if (device.phb === this.bus) this.functions.delete(device.devfn);
    this.devices.delete(id);
  }

  /**
   * Where QEMU's RAM blocks sit in its own address space: guest RAM, then the BIOS and option
   * ROM, which VFIO maps too. (An assigned device's DMA into the ROMs is read back as if from
   * RAM: `VfioHost.gpaOf` knows one block per guest-physical range.)
   */
  #ramHva(): Map<MemoryRegion, bigint> {
    const hva = new Map<MemoryRegion, bigint>([[this.ram, GUEST_RAM_HVA]]);
    let next = GUEST_RAM_HVA + ((this.ram.size + 0xfffffn) & ~0xfffffn);
    for (const name of ["pc.bios", "pc.rom"]) {
      const mr = this.pci.subregions.find((r) => r.name === name);
      if (!mr) continue;
      hva.set(mr, next);
      next += (mr.size + 0xfffffn) & ~0xfffffn;
    }
    return hva;
  }

  /** DMA by an assigned device through the host IOMMU; undefined for an unknown id. */
  assignedDma(
    id: string,
    iova: bigint,
    length: number,
    write?: Uint8Array,
  ): HostDmaResult | undefined {
    const a = this.assigned.get(id);
    if (!a || !this.vfio) return undefined;
    return this.vfio.dma(a.container, iova, length, write);
  }

  /** Schedules `fire` for when time next passes (QEMU's virtual-clock timers). */
  schedule(fire: () => void): void {
    this.#timers.push(fire);
  }

  /** Lets time pass: every pending timer fires, oldest first. */
  runTimers(): void {
    while (this.#timers.length > 0 && this.aborted === undefined) this.#timers.shift()!();
  }

  /** Whether a device timer is pending. */
  get timersPending(): boolean {
    return this.#timers.length > 0;
  }

  /** QEMU's `hw_error`: QEMU prints the message and aborts. */
  abort(message: string): void {
    this.aborted ??= message;
  }

  /** How virtio-iommu names a function's bus: the root bus by its number 0, others by object. */
  #virtioIommuKey(at: { readonly bus: Q35Bus; readonly devfn: number }): {
    readonly bus: number | Q35Bus;
    readonly devfn: number;
  } {
    return { bus: at.bus.kind === "root" ? 0 : at.bus, devfn: at.devfn };
  }

  /** The requester an IOMMU on `pcie.0` sees for a function (see `PciTopology`). */
  dmaRequester(bus: Q35Bus, devfn: number): { readonly bus: Q35Bus; readonly devfn: number } {
    return this.topology.dmaRequester(bus, devfn);
  }

  /**
   * The guest IOMMU's address space for the function at `devfn` on `bus` (undefined without
   * one): the IOMMU on `pcie.0` is asked for the requester `dmaRequester` gives.
   */
  #dmaSpace(
    bus: Q35Bus,
    devfn: number,
  ): { readonly root: MemoryRegion; readonly as: AddressSpace } | undefined {
    const r = this.dmaRequester(bus, devfn);
    // VT-d keys its spaces by bus object; pcie.0 is the bus numbered 0 that callers name by 0.
    if (this.intelIommu) {
      return this.intelIommu.addressSpaceOf(r.bus.kind === "root" ? 0 : r.bus, r.devfn);
    }
    // AMD-Vi keys them by the bus number at the time (0 for every bus before firmware runs).
    if (this.amdIommu) return this.amdIommu.addressSpaceOf(r.bus.number, r.devfn);
    // virtio-iommu keys them by bus object, as VT-d does.
    if (this.virtioIommu) {
      const at = this.#virtioIommuKey(r);
      return this.virtioIommu.addressSpaceOf(at.bus, at.devfn);
    }
    return undefined;
  }

  /** The root of the DMA address space of the function at `devfn` on `bus`. */
  #dmaRoot(bus: Q35Bus, devfn: number): MemoryRegion {
    return this.#dmaSpace(bus, devfn)?.root ?? this.sysmem;
  }

  #addFunction(
    bus: Q35Bus,
    devfn: number,
    spec: PciFunctionSpec,
    owner: QomObjectRef,
  ): PciDevice<Q35Bus> {
    const device = this.topology.addFunction(bus, devfn, spec, owner);
    if (bus === this.bus) this.functions.set(devfn, device);
    return device;
  }

  /** The function a configuration cycle for `busNumber`/`devfn` reaches (`pci_find_device`). */
  #configTarget(busNumber: number, devfn: number): PciDevice<Q35Bus> | undefined {
    return this.topology.configTarget(busNumber, devfn);
  }

  /** Port 0xcf8: the configuration address, taken only from aligned 4-byte writes. */
  #configIndexOps(): MemoryRegionOps {
    return {
      read: (offset, size) =>
        offset === 0n && size === 4 ? BigInt(this.#configAddress >>> 0) : 0xffffffffn,
      write: (offset, value, size) => {
        if (offset === 0n && size === 4) this.#configAddress = Number(value & 0xffffffffn);
        return 0;
      },
    };
  }

  /** Port 0xcfc: data of the function the configuration address selects. */
  #configDataOps(): MemoryRegionOps {
    const target = (offset: bigint) => {
      const a = this.#configAddress >>> 0;
      if (!(a & 0x80000000)) return undefined;
      const f = this.#configTarget((a >> 16) & 0xff, (a >> 8) & 0xff);
      return f ? { f, reg: (a & 0xfc) | Number(offset & 3n) } : undefined;
    };
    return {
      read: (offset, size) => {
        const t = target(offset);
        if (!t || t.reg + size > 256) return (1n << BigInt(8 * size)) - 1n;
        return BigInt(t.f.configRead(t.reg, size));
      },
      write: (offset, value, size) => {
        const t = target(offset);
        if (t && t.reg + size <= 256) t.f.configWrite(t.reg, size, Number(value));
        return 0;
      },
    };
  }

  /** The MCH's memory-side realize: PAM segments and the SMRAM/TSEG regions. */
  #initSmram(owner: QomObjectRef): SmramRegions {
    const m = this.memory;
    const o = { owner };
    const smramRegion = m.alias("smram-region", this.pci, 0xa0000n, 0x20000n, o);
    this.sysmem.addSubregionOverlap(smramRegion, 0xa0000n, 1);
    smramRegion.setEnabled(true);
    const openHigh = m.alias("smram-open-high", this.ram, 0xa0000n, 0x20000n, o);
    openHigh.setEnabled(false);
    this.sysmem.addSubregionOverlap(openHigh, 0xfeda0000n, 1);
    this.#pam.push(initPam(m, owner, this.ram, this.sysmem, this.pci, 0xf0000n, 0x10000n));
    for (let i = 0; i < 12; i++) {
      const start = 0xc0000n + BigInt(i) * 0x4000n;
      this.#pam.push(initPam(m, owner, this.ram, this.sysmem, this.pci, start, 0x4000n));
    }
    const smram = m.container("smram", 4n * GiB, o);
    const low = m.alias("smram-low", this.ram, 0xa0000n, 0x20000n, o);
    low.setEnabled(false);
    smram.addSubregion(low, 0xa0000n);
    const high = m.alias("smram-high", this.ram, 0xa0000n, 0x20000n, o);
    high.setEnabled(false);
    smram.addSubregion(high, 0xfeda0000n);
    // TSEG: closed at reset (ESMRAMC.T_EN clear), so both regions are empty and disabled.
    const tsegBlackhole = m.io("tseg-blackhole", 0n, { read: () => 0xffn, write: () => 0 }, o);
    tsegBlackhole.setEnabled(false);
    this.sysmem.addSubregionOverlap(tsegBlackhole, this.belowFourG, 1);
    const tsegWindow = m.alias("tseg-window", this.ram, this.belowFourG, 0n, o);
    tsegWindow.setEnabled(false);
    smram.addSubregion(tsegWindow, this.belowFourG);
    const smbaseBlackhole = m.io("smbase-blackhole", 0x20000n, { read: () => 0xffn }, o);
    smbaseBlackhole.setEnabled(false);
    this.sysmem.addSubregionOverlap(smbaseBlackhole, 0x30000n, 1);
    const smbaseWindow = m.alias("smbase-window", this.ram, 0x30000n, 0x20000n, o);
    smbaseWindow.setEnabled(false);
    smram.addSubregion(smbaseWindow, 0x30000n);
    this.#smramContainer = smram;
    return { smramRegion, openHigh, low, high, tsegBlackhole, tsegWindow };
  }

  /** CPU `i`'s SMM view: SMRAM over system memory. */
  #addSmmAddressSpace(i: number): void {
    const m = this.memory;
    const owner: QomObjectRef = {
      kind: "dev",
      key: "path",
      value: `/machine/unattached/device[${i}]`,
    };
    const root = m.container("memory", U64_MAX, { owner });
    const smram = this.#smramContainer!;
    root.addSubregionOverlap(m.alias("smram", smram, 0n, smram.size, { owner }), 0n, 1);
    root.addSubregion(m.alias("memory", this.sysmem, 0n, U64_MAX, { owner }), 0n);
    m.addressSpace(root, `cpu-smm-${i}`);
  }

  /** MCH register writes: PAM, PCIEXBAR and SMRAM (QEMU's `mch_write_config`). */
  mchConfigWritten(offset: number, size: number): void {
    const overlaps = (at: number, len: number) => offset < at + len && offset + size > at;
    const c = this.mch.config;
    this.memory.transaction(() => {
      if (overlaps(MCH.pam0, 7)) {
        this.#pam.forEach((seg, i) => {
          updatePam(seg, i, c[MCH.pam0 + ((i + 1) >> 1)]);
        });
      }
      if (overlaps(MCH.pciexbar, 8)) this.#updatePciexbar();
      if (overlaps(MCH.smram, 2)) updateSmram(this.#smram, c[MCH.smram], c[MCH.esmramc]);
    });
  }

  /** MCH reset: PCIEXBAR and SMRAM defaults, then every update. */
  mchReset(): void {
    const view = new DataView(this.mch.config.buffer);
    view.setUint32(MCH.pciexbar, MCH.pciexbarDefault, true);
    view.setUint32(MCH.pciexbar + 4, 0, true);
    this.mch.config[MCH.smram] = MCH.smramDefault;
    this.mch.config[MCH.esmramc] = MCH.esmramcDefault;
    this.mchConfigWritten(MCH.pciexbar, 0x40);
  }

  /** QEMU's `mch_update_pciexbar`: map or unmap the MMCONFIG window. */
  #updatePciexbar(): void {
    const view = new DataView(this.mch.config.buffer);
    const low = view.getUint32(MCH.pciexbar, true);
    const high = view.getUint32(MCH.pciexbar + 4, true);
    const enabled = (low & 1) !== 0;
    const lengthBits = (low >> 1) & 3;
    const length = [256n * MiB, 128n * MiB, 64n * MiB][lengthBits];
    if (this.#mmcfg) {
      this.sysmem.removeSubregion(this.#mmcfg);
      this.#mmcfg = undefined;
    }
    if (!enabled || length === undefined) return;
    const mask =
      0xf0000000n | (lengthBits >= 1 ? 0x08000000n : 0n) | (lengthBits === 2 ? 0x04000000n : 0n);
    const addr = ((BigInt(high) << 32n) | BigInt(low)) & ((0x7fn << 32n) | mask);
    this.#mmcfg = this.memory.io(
      "pcie-mmcfg-mmio",
      length,
      ecamOps((bus, devfn) => this.topology.configTarget(bus, devfn)),
      {
        owner: { kind: "dev", key: "path", value: "/machine/q35" },
      },
    );
    this.sysmem.addSubregion(this.#mmcfg, addr);
  }
}

const UNATTACHED = (n: number): QomObjectRef => ({
  kind: "dev",
  key: "path",
  value: `/machine/unattached/device[${n}]`,
});

/** The MCH (00.0): the host bridge's PCI face, whose registers drive PAM, SMRAM and MMCONFIG. */
function mchSpec(machine: Q35Machine): PciFunctionSpec {
  return {
    typeName: "mch",
    vendorId: 0x8086,
    deviceId: 0x29c0,
    classCode: 0x060000,
    revision: 0,
    bars: [],
    express: true,
    interruptPin: 0,
    registers: [
      { offset: MCH.pciexbar, size: 4, value: MCH.pciexbarDefault, writable: 0xfc000007 },
      { offset: MCH.pciexbar + 4, size: 4, value: 0, writable: 0x7f },
      ...Array.from({ length: 7 }, (_, i) => ({
        offset: MCH.pam0 + i,
        size: 1 as const,
        value: 0,
        writable: 0xff,
      })),
      { offset: MCH.smram, size: 1, value: MCH.smramDefault, writable: 0x78 },
      { offset: MCH.esmramc, size: 1, value: MCH.esmramcDefault, writable: 0x87 },
    ],
    afterConfigWrite: (_d, offset, size) => machine.mchConfigWritten(offset, size),
    onReset: () => machine.mchReset(),
  };
}

/** amd-iommu's PCI function (its capability block is not modelled). */
function amdviPciSpec(): PciFunctionSpec {
  return {
    typeName: "AMDVI-PCI",
    vendorId: 0x1022,
    deviceId: 0,
    classCode: 0x080600,
    revision: 0,
    bars: [],
  };
}

/** An ICH9 function whose only part on the DMA path is its bus-master address space. */
function ich9Function(typeName: string, deviceId: number, classCode: number): PciFunctionSpec {
  return { typeName, vendorId: 0x8086, deviceId, classCode, revision: 2, bars: [] };
}

/** QEMU's boolean property words. */
function parseBool(v: string): boolean | undefined {
  if (["on", "yes", "true", "y"].includes(v)) return true;
  if (["off", "no", "false", "n"].includes(v)) return false;
  return undefined;
}
