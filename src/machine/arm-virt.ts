/**
 * QEMU 7.2's Arm `-M virt` machine as far as the DMA path needs it: its memory map (flash, the
 * GIC, UART, RTC, fw_cfg, GPIO, 32 virtio-mmio transports, the platform bus, RAM at 1 GiB),
 * the PCIe host bridge GPEX (ECAM, the 32-bit and 64-bit MMIO windows, the I/O window, its root
 * function `gpex-root`) with root ports, switches and bridges below it, and optionally an
 * SMMUv3 (`iommu=smmuv3`) that gives every function its own IOMMU address space. vfio-pci
 * functions attach to a simulated type1 host; behind the SMMUv3 QEMU 7.2 refuses them.
 * Device registers are inert: no guest runs.
 *
 * `qemu: "10.0"` builds the memory map as QEMU 10.0 does (its `info mtree` for the same command
 * line): the SMMUv3's IOMMU regions cover 2^64 bytes, virtio-pci functions have their
 * `virtio-pci-cfg-mem-as`, and VFIO's messages are 10.0's. The SMMUv3 register file stays
 * 7.2's (no 10.0 register recording).
 */
import { GUEST_RAM_HVA, type HostPlatform } from "../host/platform.ts";
import type { MemoryRegionOps } from "../memory/access-types.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import { U64_MAX } from "../memory/int.ts";
import { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import { SMMU_MAX_VA_BITS, SmmuV3 } from "../smmuv3/smmuv3.ts";
import type { VfioBehaviour, VfioContainer } from "../vfio/container.ts";
import { VfioError } from "../vfio/container.ts";
import { type HostDmaResult, VfioHost } from "../vfio/vfio-host.ts";
import { isPciBridgeDriver } from "./pci-bridge.ts";
import { PciBusNode } from "./pci-bus-node.ts";
import type { PciDevice, PciFunctionSpec } from "./pci-device.ts";
import { e1000, e1000e, virtioNetPci } from "./pci-nics.ts";
import { ecamOps, PciTopology } from "./pci-topology.ts";
import { atLeast, type QemuLine } from "./qemu-line.ts";
import { qemuXhci } from "./qemu-xhci.ts";

const KiB = 1024n;
const MiB = 1024n * KiB;
const GiB = 1024n * MiB;

/** A `-device` PCI function on arm virt. */
export interface ArmVirtDeviceSpec {
  readonly driver: string;
  readonly id?: string;
  /** QEMU's `bus=`: `pcie.0` (the default) or a bridge's id. */
  readonly bus?: string;
  readonly slot?: number;
  readonly function?: number;
  readonly properties?: Readonly<Record<string, string>>;
}

/** An arm virt machine description (QEMU's `-M virt,...`, `-m`, `-smp`, `-device`). */
export interface ArmVirtConfig {
  /** RAM in bytes (QEMU's `-m`; 128 MiB by default). */
  readonly memory?: bigint;
  readonly smp?: number;
  /** `gic-version` (2 by default). */
  readonly gicVersion?: 2 | 3;
  /** `highmem` (on by default): the high ECAM and the 64-bit PCIe MMIO window. */
  readonly highmem?: boolean;
  /** `iommu=smmuv3`. */
  readonly iommu?: "smmuv3";
  readonly devices?: readonly ArmVirtDeviceSpec[];
  /** The host assigned (`vfio-pci`) devices come from, with Linux's type1 IOMMU backend. */
  readonly host?: { readonly platform: HostPlatform };
  readonly vfioBehaviour?: VfioBehaviour;
  /** Whose `-M virt` to build: QEMU 7.2's (the default) or 10.0's. */
  readonly qemu?: QemuLine;
}

/** A plug that cannot be done, with QEMU's message. */
export class ArmVirtDeviceError extends Error {
  override name = "ArmVirtDeviceError";
}

/** A machine description QEMU 7.2 refuses (its message), or one iova does not model. */
export class ArmVirtConfigError extends Error {
  override name = "ArmVirtConfigError";
}

/** QEMU 7.2's CPU limits of `-M virt`, with its messages (checked on the real binary). */
function checkCpus(smp: number, gic: 2 | 3, highmem: boolean, qemu: QemuLine): void {
  if (!Number.isInteger(smp) || smp < 1) {
    throw new ArmVirtConfigError(`smp ${smp}: expected a CPU count of at least 1`);
  }
  if (smp > 512) {
    throw new ArmVirtConfigError(
      `Invalid SMP CPUs ${smp}. The max CPUs supported by machine 'virt-${qemu}' is 512`,
    );
  }
  if (gic === 2 && smp > 8) {
    throw new ArmVirtConfigError(
      `Number of SMP CPUs requested (${smp}) exceeds max CPUs supported by machine 'mach-virt' (8)`,
    );
  }
  // The first redistributor region holds 123 CPUs; more need the second one above RAM.
  if (gic === 3 && smp > 123) {
    throw new ArmVirtConfigError(
      highmem
        ? `${smp} CPUs need a second GICv3 redistributor region, which iova does not model`
        : `Capacity of the redist regions(123) does not match the number of vcpus(${smp})`,
    );
  }
}

/** The emulated PCI functions arm virt can build, by QEMU's driver name. */
const DRIVERS: Record<
  string,
  (
    system: MemorySystem,
    owner: QomObjectRef,
    onPciePort: boolean,
    qemu: QemuLine,
  ) => PciFunctionSpec
> = {
  e1000: (s, o) => e1000(s, o),
  e1000e: (s, o) => e1000e(s, o),
  "virtio-net-pci": (s, o, port, qemu) => virtioNetPci(s, o, port, qemu),
  "qemu-xhci": (s, o) => qemuXhci(s, o),
};

/** QEMU 7.2's `base_memmap` (hw/arm/virt.c), the parts iova builds. */
export const VIRT_MEMMAP = {
  flash: 0n,
  flashSize: 0x08000000n,
  gicDist: 0x08000000n,
  gicCpu: 0x08010000n,
  gicV2m: 0x08020000n,
  gicIts: 0x08080000n,
  gicRedist: 0x080a0000n,
  uart: 0x09000000n,
  rtc: 0x09010000n,
  fwCfg: 0x09020000n,
  gpio: 0x09030000n,
  smmu: 0x09050000n,
  mmio: 0x0a000000n,
  platformBus: 0x0c000000n,
  platformBusSize: 0x02000000n,
  pcieMmio: 0x10000000n,
  pcieMmioSize: 0x2eff0000n,
  pciePio: 0x3eff0000n,
  pcieEcam: 0x3f000000n,
  pcieEcamSize: 0x01000000n,
  mem: 0x40000000n,
} as const;

/** `extended_memmap`: the regions above RAM, in order, with their sizes (and alignments). */
const HIGH_GIC_REDIST2_SIZE = 64n * MiB;
const HIGH_PCIE_ECAM_SIZE = 256n * MiB;
const HIGH_PCIE_MMIO_SIZE = 512n * GiB;
/** The high regions never start below 256 GiB (`LEGACY_RAMLIMIT_BYTES` above RAM's base). */
const LEGACY_RAMLIMIT = 255n * GiB;
/** cortex-a57's physical address size (44 bits); `highmem=off` limits it to 32. */
const PA_BITS = 44n;

/** An arm virt machine. */
export class ArmVirtMachine {
  readonly memory: MemorySystem;
  readonly sysmem: MemoryRegion;
  readonly io: MemoryRegion;
  readonly ram: MemoryRegion;
  readonly memoryAs: AddressSpace;
  readonly cpuAs: AddressSpace[] = [];
  /** The GPEX root bus `pcie.0` (PCI memory `gpex_mmio`, PCI I/O `gpex_ioport`). */
  readonly bus: PciBusNode;
  readonly topology: PciTopology;
  /** Where configuration space is (the high ECAM, or the low one with `highmem=off`). */
  readonly ecamBase: bigint;
  readonly smmu: SmmuV3 | undefined;
  readonly vfio: VfioHost | undefined;
  /** `-device` functions by id (anonymous ones `<driver>#<n>`). */
  readonly devices = new Map<string, PciDevice<PciBusNode>>();
  readonly assigned = new Map<
    string,
    { readonly host: string; readonly container: VfioContainer }
  >();
  /** Set when QEMU would have stopped: the message it prints. */
  aborted: string | undefined;
  /** Whose `-M virt` this is. */
  readonly qemu: QemuLine;
  #machineReady = false;
  #anonymous = 0;

  constructor(config: ArmVirtConfig = {}) {
    const ramSize = config.memory ?? 128n * MiB;
    const smp = config.smp ?? 1;
    const gic = config.gicVersion ?? 2;
    const highmem = config.highmem ?? true;
    this.qemu = config.qemu ?? "7.2";
    checkCpus(smp, gic, highmem, this.qemu);
    // virt_set_memmap: RAM (rounded up to 1 GiB) must end inside the physical address space.
    const memtop = ((VIRT_MEMMAP.mem + ramSize + GiB - 1n) / GiB) * GiB;
    const paLimit = 1n << (highmem ? PA_BITS : 32n);
    if (memtop > paLimit) {
      throw new ArmVirtConfigError(
        `Addressing limited to ${highmem ? PA_BITS : 32n} bits, but memory exceeds it by ${memtop - paLimit} bytes`,
      );
    }
    const m = new MemorySystem();
    this.memory = m;
    const unattachedObj: QomObjectRef = { kind: "obj", key: "path", value: "/machine/unattached" };
    this.sysmem = m.container("system", U64_MAX, { parent: unattachedObj });
    const unassigned: MemoryRegionOps = { read: () => 0n, write: () => 0 };
    this.io = m.io("io", 0x10000n, unassigned, { parent: unattachedObj });
    this.memoryAs = m.addressSpace(this.sysmem, "memory");
    m.addressSpace(this.io, "I/O");

    // QOM numbering of /machine/unattached/device[N]: the CPUs first, then in creation order.
    let next = smp;
    const unattached = (): QomObjectRef => ({
      kind: "dev",
      key: "path",
      value: `/machine/unattached/device[${next++}]`,
    });
    const dev = (value: string): QomObjectRef => ({ kind: "dev", key: "path", value });
    const inert = (name: string, size: bigint, owner: QomObjectRef) =>
      m.io(name, size, unassigned, { owner });

    m.begin();
    for (const i of [0, 1]) {
      const flash = m.romDevice(`virt.flash${i}`, VIRT_MEMMAP.flashSize / 2n, unassigned, {
        owner: dev(`/machine/virt.flash${i}`),
      });
      flash.setRomdMode(true);
      this.sysmem.addSubregion(flash, VIRT_MEMMAP.flash + BigInt(i) * (VIRT_MEMMAP.flashSize / 2n));
    }
    this.ram = m.ram("mach-virt.ram", ramSize, {
      owner: { kind: "obj", key: "path", value: "/objects/mach-virt.ram" },
    });
    this.sysmem.addSubregion(this.ram, VIRT_MEMMAP.mem);
    m.commit();
    for (let i = 0; i < smp; i++) this.cpuAs.push(m.addressSpace(this.sysmem, `cpu-memory-${i}`));

    m.begin();
    if (gic === 2) {
      const gicOwner = unattached();
      this.sysmem.addSubregion(inert("gic_dist", 0x1000n, gicOwner), VIRT_MEMMAP.gicDist);
      this.sysmem.addSubregion(inert("gic_cpu", 0x2000n, gicOwner), VIRT_MEMMAP.gicCpu);
      this.sysmem.addSubregion(inert("gicv2m", 0x1000n, unattached()), VIRT_MEMMAP.gicV2m);
    } else {
      const gicOwner = unattached();
      this.sysmem.addSubregion(inert("gicv3_dist", 0x10000n, gicOwner), VIRT_MEMMAP.gicDist);
      const redist = inert("gicv3_redist_region[0]", BigInt(smp) * 0x20000n, gicOwner);
      this.sysmem.addSubregion(redist, VIRT_MEMMAP.gicRedist);
      const itsOwner = unattached();
      const its = m.container("gicv3_its", 0x20000n, { owner: itsOwner });
      its.addSubregion(inert("control", 0x10000n, itsOwner), 0n);
      its.addSubregion(inert("translation", 0x10000n, itsOwner), 0x10000n);
      this.sysmem.addSubregion(its, VIRT_MEMMAP.gicIts);
      // The ITS reads its tables through its own view of system memory.
      m.addressSpace(this.sysmem, "gicv3-its-sysmem");
    }
    this.sysmem.addSubregion(inert("pl011", 0x1000n, unattached()), VIRT_MEMMAP.uart);
    this.sysmem.addSubregion(inert("pl031", 0x1000n, unattached()), VIRT_MEMMAP.rtc);
    const fwCfg = dev("/machine/fw_cfg");
    this.sysmem.addSubregion(inert("fwcfg.data", 8n, fwCfg), VIRT_MEMMAP.fwCfg);
    this.sysmem.addSubregion(inert("fwcfg.ctl", 2n, fwCfg), VIRT_MEMMAP.fwCfg + 8n);
    this.sysmem.addSubregion(inert("fwcfg.dma", 8n, fwCfg), VIRT_MEMMAP.fwCfg + 0x10n);
    m.commit();

    // create_pcie: the GPEX host bridge and its windows.
    const gpexOwner = unattached();
    const go = { owner: gpexOwner };
    const ecamSpace = m.io(
      "pcie-mmcfg-mmio",
      256n * MiB,
      ecamOps((bus, devfn) => this.topology.configTarget(bus, devfn)),
      go,
    );
    const pciMemory = m.container("gpex_mmio", U64_MAX, go);
    const pciIo = m.container("gpex_ioport", 0x10000n, go);
    const mmioWindow = m.io("gpex_mmio_window", U64_MAX, unassigned, go);
    const ioWindow = m.io("gpex_ioport_window", 0x10000n, unassigned, go);
    this.bus = new PciBusNode({
      name: "pcie.0",
      kind: "root",
      pciMemory,
      pciIo,
      express: true,
      allowZeroAddress: true,
    });
    this.topology = new PciTopology(m, this.bus, (message) => new ArmVirtDeviceError(message), {
      bridgeAddressSpaces: false,
    });
    const high = highRegions(ramSize, highmem);
    m.transaction(() => {
      mmioWindow.addSubregion(pciMemory, 0n);
      ioWindow.addSubregion(pciIo, 0n);
      const ecamSize = high ? HIGH_PCIE_ECAM_SIZE : VIRT_MEMMAP.pcieEcamSize;
      const ecamAlias = m.alias("pcie-ecam", ecamSpace, 0n, ecamSize, go);
      this.sysmem.addSubregion(ecamAlias, high ? high.ecam : VIRT_MEMMAP.pcieEcam);
      const mmio = m.alias(
        "pcie-mmio",
        mmioWindow,
        VIRT_MEMMAP.pcieMmio,
        VIRT_MEMMAP.pcieMmioSize,
        go,
      );
      this.sysmem.addSubregion(mmio, VIRT_MEMMAP.pcieMmio);
      if (high) {
        const mmioHigh = m.alias("pcie-mmio-high", mmioWindow, high.mmio, HIGH_PCIE_MMIO_SIZE, go);
        this.sysmem.addSubregion(mmioHigh, high.mmio);
      }
      this.sysmem.addSubregion(ioWindow, VIRT_MEMMAP.pciePio);
    });
    this.ecamBase = high ? high.ecam : VIRT_MEMMAP.pcieEcam;
    this.topology.addFunction(this.bus, 0, gpexRootSpec(), {
      kind: "dev",
      key: "path",
      value: `${gpexOwner.value}/gpex_root`,
    });

    if (config.iommu === "smmuv3") {
      this.smmu = new SmmuV3(m, this.memoryAs, unattached(), (message) => this.abort(message), {
        // QEMU 8.0 made the regions cover all 64 bits (addresses for TTB1 have the top bits set).
        iommuRegionSize: atLeast(this.qemu, "10.0") ? 1n << 64n : 1n << SMMU_MAX_VA_BITS,
      });
      this.sysmem.addSubregion(this.smmu.mmio, VIRT_MEMMAP.smmu);
    }
    m.transaction(() => {
      this.sysmem.addSubregion(inert("pl061", 0x1000n, unattached()), VIRT_MEMMAP.gpio);
      next++; // gpio-key: no region
      for (let i = 0; i < 32; i++) {
        const transport = inert("virtio-mmio", 0x200n, unattached());
        this.sysmem.addSubregion(transport, VIRT_MEMMAP.mmio + BigInt(i) * 0x200n);
      }
      this.sysmem.addSubregion(
        m.container("platform bus", VIRT_MEMMAP.platformBusSize, {
          owner: { kind: "dev", key: "id", value: "platform-bus-device" },
        }),
        VIRT_MEMMAP.platformBus,
      );
    });

    if (config.host) {
      this.vfio = new VfioHost(
        config.host.platform,
        "type1",
        config.vfioBehaviour ?? "qemu-7.2",
        this.memoryAs,
        new Map([[this.ram, GUEST_RAM_HVA]]),
        { qemu: this.qemu },
      );
    }
    for (const d of config.devices ?? []) this.plug(d);
    this.#machineReady = true;
    for (const f of this.topology.machineDoneOrder())
      f.initBusMaster(this.#dmaRoot(f.phb, f.devfn));
    this.reset();
  }

  /** What the first CPU's loads and stores see. */
  get cpuMemory(): AddressSpace {
    return this.cpuAs[0];
  }

  /** System reset: every function's PCI reset, the SMMU's. */
  reset(): void {
    this.memory.transaction(() => {
      for (const f of this.topology.functions()) f.reset();
      this.smmu?.reset();
    });
  }

  /** QEMU stops with `message`. */
  abort(message: string): void {
    this.aborted ??= message;
  }

  /** Plugs a PCI function (cold before the machine is ready, hot after). */
  plug(spec: ArmVirtDeviceSpec): PciDevice<PciBusNode> {
    if (spec.id !== undefined && this.devices.has(spec.id)) {
      throw new ArmVirtDeviceError(`Duplicate device ID '${spec.id}' for device`);
    }
    const bus = this.topology.busFor(spec.bus);
    const driver = spec.driver;
    if (driver === "vfio-pci") return this.#plugVfio(spec, bus);
    const build = DRIVERS[driver];
    if (!build && !isPciBridgeDriver(driver)) {
      throw new ArmVirtDeviceError(`'${driver}' is not a valid device model name`);
    }
    if (isPciBridgeDriver(driver)) {
      for (const k of Object.keys(spec.properties ?? {})) {
        throw new ArmVirtDeviceError(`${driver} property '${k}' is not modelled`);
      }
    }
    const devfn = this.topology.devfnFor(driver, bus, spec.slot, spec.function);
    const owner = this.#owner(spec);
    const device = isPciBridgeDriver(driver)
      ? this.topology.addBridge(driver, spec.id, bus, devfn, owner)
      : this.topology.addFunction(
          bus,
          devfn,
          build(this.memory, owner, bus.kind === "secondary" && bus.express, this.qemu),
          owner,
        );
    return this.#finishPlug(spec, bus, device);
  }

  #finishPlug(
    spec: ArmVirtDeviceSpec,
    bus: PciBusNode,
    device: PciDevice<PciBusNode>,
  ): PciDevice<PciBusNode> {
    this.devices.set(spec.id ?? `${spec.driver}#${this.devices.size}`, device);
    if (this.#machineReady) device.initBusMaster(this.#dmaRoot(bus, device.devfn));
    return device;
  }

  #owner(spec: ArmVirtDeviceSpec): QomObjectRef {
    return spec.id !== undefined
      ? { kind: "dev", key: "id", value: spec.id }
      : {
          kind: "dev",
          key: "path",
          value: `/machine/peripheral-anon/device[${this.#anonymous++}]`,
        };
  }

  /**
   * `vfio-pci`: its group joins or sets up a type1 container on the function's DMA address
   * space. Behind the SMMUv3 the container's memory listener meets the IOMMU region, whose
   * refusal of MAP notifiers fails the device as QEMU 7.2's `vfio_realize` does.
   */
  #plugVfio(spec: ArmVirtDeviceSpec, bus: PciBusNode): PciDevice<PciBusNode> {
    const vfio = this.vfio;
    if (!vfio) throw new ArmVirtDeviceError("vfio-pci needs a host: describe one (a type1 host)");
    const host = spec.properties?.host;
    if (!host) throw new ArmVirtDeviceError("vfio-pci needs a host device address (host=...)");
    if ([...this.assigned.values()].some((a) => a.host === host)) {
      throw new ArmVirtDeviceError(`vfio ${host}: device is already attached`);
    }
    const devfn = this.topology.devfnFor("vfio-pci", bus, spec.slot, spec.function);
    const owner = this.#owner(spec);
    const fn: PciFunctionSpec = {
      typeName: "vfio-pci",
      vendorId: 0x8086,
      deviceId: 0x10fb,
      classCode: 0x020000,
      revision: 1,
      bars: [],
      express: true,
    };
    const device = this.topology.addFunction(bus, devfn, fn, owner);
    const dmaAs = this.#smmuDevice(bus, devfn)?.as ?? this.memoryAs;
    let container: VfioContainer;
    try {
      container = vfio.attach(host, dmaAs);
    } catch (e) {
      bus.functions.delete(devfn);
      device.unrealize();
      if (e instanceof VfioError) throw new ArmVirtDeviceError(e.message);
      throw e;
    }
    const id = spec.id ?? `vfio-pci#${this.devices.size}`;
    this.assigned.set(id, { host, container });
    return this.#finishPlug({ ...spec, id }, bus, device);
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

  /** The SMMU's address space for a function (its requester after bridge aliasing). */
  #smmuDevice(bus: PciBusNode, devfn: number) {
    if (!this.smmu) return undefined;
    const r = this.topology.dmaRequester(bus, devfn);
    return this.smmu.addressSpaceOf(r.bus, r.devfn);
  }

  #dmaRoot(bus: PciBusNode, devfn: number): MemoryRegion {
    return this.#smmuDevice(bus, devfn)?.iommu.region ?? this.sysmem;
  }
}

/**
 * Where the high ECAM and the 64-bit MMIO window go (`virt_set_memmap`): above RAM and the
 * device-memory area rounded to 1 GiB, never below 256 GiB, each region aligned to its size;
 * none when they do not fit the physical address size (`highmem=off` makes it 32 bits).
 */
function highRegions(
  ramSize: bigint,
  highmem: boolean,
): { ecam: bigint; mmio: bigint } | undefined {
  const paBits = highmem ? PA_BITS : 32n;
  const roundUp = (v: bigint, a: bigint) => ((v + a - 1n) / a) * a;
  let base = roundUp(VIRT_MEMMAP.mem + ramSize, GiB);
  if (base < VIRT_MEMMAP.mem + LEGACY_RAMLIMIT) base = VIRT_MEMMAP.mem + LEGACY_RAMLIMIT;
  base = roundUp(base, HIGH_GIC_REDIST2_SIZE) + HIGH_GIC_REDIST2_SIZE;
  const ecam = roundUp(base, HIGH_PCIE_ECAM_SIZE);
  const mmio = roundUp(ecam + HIGH_PCIE_ECAM_SIZE, HIGH_PCIE_MMIO_SIZE);
  const limit = 1n << paBits;
  if (ecam + HIGH_PCIE_ECAM_SIZE > limit || mmio + HIGH_PCIE_MMIO_SIZE > limit) return undefined;
  return { ecam, mmio };
}

/** The GPEX's root function (`gpex-root`, a host bridge). */
function gpexRootSpec(): PciFunctionSpec {
  return {
    typeName: "gpex-root",
    vendorId: 0x1b36,
    deviceId: 0x0008,
    classCode: 0x060000,
    revision: 0,
    bars: [],
  };
}
