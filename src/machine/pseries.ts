/**
 * The pseries machine (QEMU's `-M pseries`): system memory with RAM and the device-memory area,
 * the XIVE interrupt controller's regions, one address space per CPU, PCI host bridges with their
 * windows, and PCI devices, cold- and hot-plugged. No guest runs: scenario steps play the guest.
 */

import { iommufdObjectRefusal } from "../host/iommufd.ts";
import { GUEST_RAM_HVA, type HostPlatform, POWER9_HOST } from "../host/platform.ts";
import { RawIoctlHost } from "../host/raw-ioctl.ts";
import { DEFAULT_MATERIALISED_ENTRY_LIMIT, formatBytes } from "../iommu/limits.ts";
import { type AddressSpace, MemorySystem } from "../memory/index.ts";
import { U64_MAX } from "../memory/int.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import type { TceHost } from "../spapr/hcalls.ts";
import { PHB_DEFAULTS, type PhbConfig, type PhbPlacement, SpaprPhb } from "../spapr/phb.ts";
import type { RtasHost } from "../spapr/rtas.ts";
import type { TceTable } from "../spapr/tce-table.ts";
import { type CheckResult, runCheck } from "../vfio/checks.ts";
import type { VfioContainer } from "../vfio/container.ts";
import { VfioError } from "../vfio/container.ts";
import { VFIO_MESSAGES as M } from "../vfio/messages.ts";
import { type HostDmaResult, VfioHost } from "../vfio/vfio-host.ts";
import type { Behaviour } from "./behaviour.ts";
import {
  MachineTypeError,
  type PseriesCompat,
  pseriesCompat,
  unsupportedMachineTypeMessage,
} from "./machine-type.ts";
import { PciDevice, type PciFunctionSpec } from "./pci-device.ts";
import { atLeast, DEFAULT_QEMU_LINE, type QemuLine } from "./qemu-line.ts";
import { qemuXhci } from "./qemu-xhci.ts";

/** A PHB as the machine description gives it; index 0 is the machine's default PHB. */
export interface PhbSpec extends Partial<Omit<PhbConfig, "index">> {
  readonly index: number;
}

/** A PCI device to plug: emulated, or `vfio-pci` with the host device it passes through. */
export interface DeviceSpec {
  readonly id?: string;
  readonly driver: string;
  /** vfio-pci: the host PCI address, e.g. `0001:01:00.0`. */
  readonly host?: string;
  /** PHB index (QEMU's `bus=pci.N`); default 0. */
  readonly bus?: number;
  /** Slot; default the first free one. */
  readonly slot?: number;
}

/** A pseries machine description. */
export interface PseriesConfig {
  /** Which QEMU release the machine models (default 7.2): its machine types and behaviour. */
  readonly qemu?: QemuLine;
  /** `pseries` (that release's newest) or `pseries-X.Y`. */
  readonly machineType?: string;
  /** RAM in bytes. */
  readonly memory: bigint;
  /** With memory hot-plug: the most RAM the guest may have (QEMU's `maxmem`). */
  readonly maxMemory?: bigint;
  readonly smp?: number;
  /** PHB settings; PHB 0 always exists. */
  readonly phbs?: readonly PhbSpec[];
  /** Settings for every PHB (QEMU's `-global spapr-pci-host-bridge.X=Y`). */
  readonly phbGlobals?: Partial<Omit<PhbConfig, "index">>;
  readonly devices?: readonly DeviceSpec[];
  /** The host assigned devices come from; needed for vfio-pci. */
  readonly host?: {
    readonly platform: HostPlatform;
    /** `iommufd`: QEMU's iommufd backend, which no pseries QEMU has (the machine does not start). */
    readonly backend: "spapr-tce-v2" | "spapr-tce" | "type1" | "iommufd";
  };
  /**
   * Which QEMU the machine behaves like (default qemu-7.2): `qemu-2016-prefix` sets both the TCE
   * tables' notifications and the VFIO side to the 2016 code (see BEHAVIOUR_HELP).
   */
  readonly behaviour?: Behaviour;
  /**
   * Most entries one step may make iova mirror one by one into a host (H_STUFF_TCE notified per
   * entry, a hot-plug replaying every valid TCE); default `DEFAULT_MATERIALISED_ENTRY_LIMIT`.
   */
  readonly materialisedEntryLimit?: number;
}

/** An assigned device: its host address and container. */
export interface AssignedDevice {
  readonly host: string;
  readonly container: VfioContainer;
}

/** Device drivers the machine can build, by QEMU's name. */
export const EMULATED_DRIVERS: Record<
  string,
  (system: MemorySystem, owner: QomObjectRef) => PciFunctionSpec
> = {
  "qemu-xhci": qemuXhci,
};

/** A plug or unplug that cannot be done, with QEMU's message. */
export class DeviceError extends Error {
  override name = "DeviceError";
}

const GiB = 1n << 30n;
const TiB = 1n << 40n;
const SPAPR_PCI_BASE = 1n << 45n;

/** A pseries machine. */
export class PseriesMachine implements TceHost, RtasHost {
  /** Which QEMU release this machine models; rules that changed between releases branch on it. */
  readonly qemu: QemuLine;
  readonly compat: PseriesCompat;
  readonly memory: MemorySystem;
  readonly sysmem: MemoryRegion;
  readonly ram: MemoryRegion;
  readonly memoryAs: AddressSpace;
  readonly ioAs: AddressSpace;
  readonly cpuAs: AddressSpace[] = [];
  readonly phbs: SpaprPhb[] = [];
  /** Plugged devices by id (anonymous ones get `<driver>#<n>`). */
  readonly devices = new Map<string, PciDevice>();
  /** Assigned (vfio-pci) devices by id. */
  readonly assigned = new Map<string, AssignedDevice>();
  /** The VFIO host, when the machine has one. */
  readonly vfio: VfioHost | undefined;
  /** Which QEMU the machine behaves like. */
  readonly behaviour: Behaviour;
  /** Why real QEMU would not have started (a cold-plugged device failed to realize). */
  startupError: string | undefined;
  readonly #config: PseriesConfig;
  #anonymous = 0;
  #rawIoctls: RawIoctlHost | undefined;

  /**
   * Containers opened by ioctls made directly (a host driver script) in the VMM's process, whose
   * only user memory is guest RAM; created on first use.
   */
  get rawIoctls(): RawIoctlHost {
    this.#rawIoctls ??= new RawIoctlHost(
      this.vfio?.platform ?? this.#config.host?.platform ?? POWER9_HOST,
      [{ start: GUEST_RAM_HVA, size: this.ram.size }],
    );
    return this.#rawIoctls;
  }

  /** Checks an invariant on VFIO's containers and on the raw ones. */
  check(name: CheckResult["name"]): CheckResult {
    return runCheck(this.vfio, name, this.#rawIoctls);
  }

  constructor(config: PseriesConfig) {
    this.qemu = config.qemu ?? DEFAULT_QEMU_LINE;
    const machineType = config.machineType ?? "pseries";
    const compat = pseriesCompat(machineType, this.qemu);
    if (!compat)
      throw new MachineTypeError(
        `qemu-system-ppc64: ${unsupportedMachineTypeMessage(machineType, this.qemu)}`,
      );
    this.compat = compat;
    this.#config = config;
    const m = new MemorySystem();
    this.memory = m;
    const unattached: QomObjectRef = { kind: "obj", key: "path", value: "/machine/unattached" };
    this.sysmem = m.container("system", U64_MAX, { parent: unattached });
    const io = m.reservation("io", 0x10000n, { parent: unattached });
    this.memoryAs = m.addressSpace(this.sysmem, "memory");
    this.ioAs = m.addressSpace(io, "I/O");
    const smp = config.smp ?? 1;
    m.begin();
    this.ram = m.ram("ppc_spapr.ram", config.memory, {
      owner: { kind: "obj", key: "path", value: "/objects/ppc_spapr.ram" },
    });
    this.sysmem.addSubregion(this.ram, 0n);
    let deviceMemory: MemoryRegion | undefined;
    if (config.maxMemory !== undefined && config.maxMemory > config.memory) {
      const base = (config.memory + GiB - 1n) & ~(GiB - 1n);
      deviceMemory = m.container("device-memory", config.maxMemory - config.memory);
      this.sysmem.addSubregion(deviceMemory, base);
    }
    if (compat.xive) this.#addXive();
    m.commit();
    // QEMU 10.0, unlike 7.2, gives the device-memory area an address space of its own
    // (machine_memory_devices_init), which `info mtree` lists.
    if (deviceMemory && atLeast(this.qemu, "10.0")) m.addressSpace(deviceMemory, "device-memory");
    for (let i = 0; i < smp; i++) this.cpuAs.push(m.addressSpace(this.sysmem, `cpu-memory-${i}`));

    const devicesBefore = (compat.xive ? 3 : 2) + smp;
    const phb0Owner: QomObjectRef = {
      kind: "dev",
      key: "path",
      value: `/machine/unattached/device[${devicesBefore}]`,
    };
    this.#addPhb(0, phb0Owner);
    for (const spec of config.phbs ?? []) {
      if (spec.index !== 0) this.#addPhb(spec.index, this.#peripheralOwner(undefined));
    }
    this.behaviour = config.behaviour ?? "qemu-7.2";
    // Before the 2016 fix, live H_PUT_TCE notified absolute bus addresses.
    if (this.behaviour === "qemu-2016-prefix")
      for (const t of this.tables) t.iovaConvention = "absolute-live";
    if (config.host?.backend === "iommufd") {
      // `-object iommufd`: 7.2 has no such object, 10.0's ppc64 build registers none (Linux's
      // sPAPR TCE IOMMU gives no paging domain either, see host/iommufd.ts).
      this.startupError = iommufdObjectRefusal(this.qemu, "ppc64", "iommufd0");
    } else if (config.host) {
      const hva = new Map([[this.ram, GUEST_RAM_HVA]]);
      this.vfio = new VfioHost(
        config.host.platform,
        config.host.backend,
        this.behaviour,
        this.memoryAs,
        hva,
        { qemu: this.qemu },
      );
    }
    // Devices are realized before the first system reset, which enables the default windows.
    // A device that cannot be realized stops QEMU from starting; the machine stays consistent
    // without it and says why.
    for (const d of config.devices ?? []) {
      try {
        this.plug(d);
      } catch (e) {
        if (!(e instanceof DeviceError)) throw e;
        this.startupError ??= `-device ${d.driver}${d.id ? `,id=${d.id}` : ""}${d.host ? `,host=${d.host}` : ""}: ${e.message}`;
      }
    }
    this.reset();
    // An abort while booting (a cold-plugged device's window failing at reset) kills QEMU too.
    const bootAbort = this.vfio?.events.aborts[0];
    if (bootAbort !== undefined) this.startupError ??= `aborted during reset: ${bootAbort}`;
  }

  /** Address space of the first CPU: what the guest's loads and stores see. */
  get cpuMemory(): AddressSpace {
    return this.cpuAs[0];
  }

  /** The TCE table with this LIOBN on any PHB. */
  findTable(liobn: bigint): TceTable | undefined {
    for (const phb of this.phbs) {
      const t = phb.tables.find((x) => BigInt(x.liobn) === liobn);
      if (t) return t;
    }
    return undefined;
  }

  /** Every TCE table. */
  get tables(): TceTable[] {
    return this.phbs.flatMap((p) => [...p.tables]);
  }

  /** The ceiling on entries one step may mirror one by one (see `PseriesConfig`). */
  get materialisedEntryLimit(): number {
    return this.#config.materialisedEntryLimit ?? DEFAULT_MATERIALISED_ENTRY_LIMIT;
  }

  /** Machine reset at boot: every PHB's DMA reset. */
  reset(): void {
    for (const phb of this.phbs) phb.reset();
  }

  /** A system reset while running: PCI devices reset (decoding and bus mastering off), then every PHB. */
  systemReset(): void {
    for (const d of this.devices.values()) d.reset();
    this.reset();
  }

  /** Plugs an emulated PCI device (cold or hot); throws `DeviceError` with QEMU's wording. */
  plug(spec: DeviceSpec): PciDevice {
    if (spec.driver === "vfio-pci") return this.#plugVfio(spec);
    const build = EMULATED_DRIVERS[spec.driver];
    if (!build) throw new DeviceError(`'${spec.driver}' is not a valid device model name`);
    const id = spec.id ?? `${spec.driver}#${this.#anonymous}`;
    if (spec.id !== undefined && this.devices.has(spec.id)) {
      throw new DeviceError(`Duplicate device ID '${spec.id}' for device`);
    }
    const phb = this.phbs.find((p) => p.config.index === (spec.bus ?? 0));
    if (!phb) throw new DeviceError(`Bus 'pci.${spec.bus}' not found`);
    const devfn = this.#devfnFor(phb, spec.slot);
    const owner = this.#peripheralOwner(spec.id);
    const device = new PciDevice(
      this.memory,
      phb,
      devfn,
      build(this.memory, owner),
      owner,
      phb.dmaAddressSpace.root,
    );
    phb.functions.set(devfn, device);
    this.devices.set(id, device);
    return device;
  }

  /** Unplugs a device by id. */
  unplug(id: string): void {
    const device = this.devices.get(id);
    if (!device) throw new DeviceError(`Device '${id}' not found`);
    const assigned = this.assigned.get(id);
    if (assigned) {
      this.vfio?.detach(assigned.host);
      this.assigned.delete(id);
    }
    device.unrealize();
    device.phb.functions.delete(device.devfn);
    this.devices.delete(id);
  }

  /**
   * A new container replays every valid TCE of the PHB's windows into the host, entry by entry:
   * refuse (before changing anything) when that is more than the materialised-entry limit.
   */
  #checkReplayCost(phb: SpaprPhb, host: string): void {
    if (this.vfio?.containers.some((c) => c.dmaAs === phb.dmaAddressSpace)) return;
    const entries = phb.tables.reduce((n, t) => n + (t.enabled ? t.validEntryCount : 0), 0);
    const limit = this.materialisedEntryLimit;
    if (entries <= limit) return;
    throw new DeviceError(
      `vfio ${host}: attaching replays ${entries} valid TCEs into the host one by one: real QEMU 7.2 makes ${entries} VFIO_IOMMU_MAP_DMA ioctls and the host's TCE tables hold ${entries} entries (${formatBytes(entries * 8)}, and as much again for their shadow of user addresses); iova materialises at most ${limit} entries per step (the materialised-entry limit). Nothing was changed.`,
    );
  }

  /** A vfio-pci device: a PCI function whose group joins or sets up a VFIO container. */
  #plugVfio(spec: DeviceSpec): PciDevice {
    const vfio = this.vfio;
    if (!vfio)
      throw new DeviceError("vfio-pci needs a host: describe one in the scenario's host section");
    if (!spec.host) throw new DeviceError("vfio-pci needs a host device address");
    if ([...this.assigned.values()].some((a) => a.host === spec.host)) {
      throw new DeviceError(M.devicePrefix.render(spec.host) + M.deviceAlreadyAttached.render());
    }
    const id = spec.id ?? `vfio-pci#${this.#anonymous}`;
    if (spec.id !== undefined && this.devices.has(spec.id))
      throw new DeviceError(`Duplicate device ID '${spec.id}' for device`);
    const phb = this.phbs.find((p) => p.config.index === (spec.bus ?? 0));
    if (!phb) throw new DeviceError(`Bus 'pci.${spec.bus}' not found`);
    this.#checkReplayCost(phb, spec.host);
    const devfn = this.#devfnFor(phb, spec.slot);
    const owner = this.#peripheralOwner(spec.id);
    const fn: PciFunctionSpec = {
      typeName: "vfio-pci",
      vendorId: 0x1014,
      deviceId: 0x034a,
      classCode: 0x020000,
      revision: 0,
      bars: [],
      // The modelled host function is a PCI Express adapter: 4 KiB of config space.
      express: true,
    };
    const device = new PciDevice(this.memory, phb, devfn, fn, owner, phb.dmaAddressSpace.root);
    try {
      const container = vfio.attach(spec.host, phb.dmaAddressSpace);
      this.assigned.set(id, { host: spec.host, container });
    } catch (e) {
      device.unrealize();
      if (e instanceof VfioError) throw new DeviceError(e.message);
      throw e;
    }
    phb.functions.set(devfn, device);
    this.devices.set(id, device);
    return device;
  }

  /** DMA by an assigned device through the host IOMMU. */
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

  #devfnFor(phb: SpaprPhb, slot: number | undefined): number {
    if (slot !== undefined) {
      if (slot < 0 || slot > 31)
        throw new DeviceError(`Property 'addr' out of range: slot ${slot}`);
      const devfn = slot << 3;
      if (phb.functions.has(devfn)) {
        throw new DeviceError(`PCI: slot ${slot} function 0 not available for device, in use`);
      }
      return devfn;
    }
    for (let s = 0; s < 32; s++) if (!phb.functions.has(s << 3)) return s << 3;
    throw new DeviceError(`PCI: no slot/function available for device, all in use`);
  }

  #peripheralOwner(id: string | undefined): QomObjectRef {
    if (id !== undefined) return { kind: "dev", key: "id", value: id };
    return {
      kind: "dev",
      key: "path",
      value: `/machine/peripheral-anon/device[${this.#anonymous++}]`,
    };
  }

  #addPhb(index: number, owner: QomObjectRef): void {
    const spec = (this.#config.phbs ?? []).find((p) => p.index === index);
    const config: PhbConfig = {
      ...PHB_DEFAULTS,
      ...this.compat.phb,
      ...this.#config.phbGlobals,
      ...spec,
      index,
    };
    const phb = new SpaprPhb(
      this.memory,
      this.sysmem,
      this.memoryAs,
      config,
      this.#placement(index),
      owner,
    );
    for (const t of phb.tables) t.materialisedEntryLimit = this.materialisedEntryLimit;
    this.phbs.push(phb);
  }

  /** QEMU's `spapr_phb_placement` (2.8 and later) and its legacy form. */
  #placement(index: number): PhbPlacement {
    const i = BigInt(index);
    if (!this.compat.legacyPlacement) {
      return {
        pio: SPAPR_PCI_BASE + i * 0x10000n,
        mmio32: SPAPR_PCI_BASE + (i + 1n) * 0x80000000n,
        mmio32Size: 0x80000000n,
        mmio64: {
          addr: SPAPR_PCI_BASE + (i + 1n) * 0x10000000000n,
          size: 0x10000000000n,
          pciAddr: SPAPR_PCI_BASE + (i + 1n) * 0x10000000000n,
        },
      };
    }
    const config = this.#config;
    let ramTop = config.memory;
    if (config.maxMemory !== undefined && config.maxMemory > config.memory) {
      ramTop = ((config.memory + GiB - 1n) & ~(GiB - 1n)) + (config.maxMemory - config.memory);
    }
    const base = ((ramTop + TiB - 1n) & ~(TiB - 1n)) + i * 0x1000000000n;
    const window = this.compat.legacyMemWindow;
    const mmio32 = base + 0xa0000000n;
    if (window <= 0x80000000n) return { pio: base + 0x80000000n, mmio32, mmio32Size: window };
    return {
      pio: base + 0x80000000n,
      mmio32,
      mmio32Size: 0x80000000n,
      mmio64: { addr: mmio32 + 0x80000000n, size: window - 0x80000000n, pciAddr: 0x100000000n },
    };
  }

  #addXive(): void {
    const m = this.memory;
    const ic: QomObjectRef = { kind: "dev", key: "path", value: "/machine/unattached/device[0]" };
    const sub = (suffix: string): QomObjectRef => ({ ...ic, value: `${ic.value}/${suffix}` });
    const regs = { read: () => 0n, write: () => 0 };
    const esb = m.container("xive.esb", 0x40000000n, { owner: sub("source") });
    esb.addSubregion(m.io("xive.esb-emulated", 0x40000000n, regs, { owner: sub("source") }), 0n);
    this.sysmem.addSubregion(esb, 0x6010000000000n);
    this.sysmem.addSubregion(
      m.io("xive.end", 0x40000000n, regs, { owner: sub("end_source") }),
      0x6010040000000n,
    );
    this.sysmem.addSubregion(m.io("xive.tima", 0x40000n, regs, { owner: ic }), 0x6030203180000n);
  }
}
