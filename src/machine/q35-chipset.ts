/**
 * The fixed parts of QEMU's q35 machine (7.2's, with 10.0's QOM owners) that the DMA path does not act on but `info mtree`
 * shows: the legacy I/O ports of the ICH9 south bridge and its neighbours, and the MCH's PAM and
 * SMRAM aliases (`hw/pci-host/q35.c`, `hw/pci-host/pam.c`), with the register logic that enables
 * them.
 */
import type { MemoryRegionOps } from "../memory/access-types.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import { atLeast, type QemuLine } from "./qemu-line.ts";

const dev = (value: string): QomObjectRef => ({ kind: "dev", key: "path", value });
const UNATTACHED_DEVICE = (n: number) => dev(`/machine/unattached/device[${n}]`);

/** Ports that read as zero and ignore writes: the devices behind them are not modelled. */
const INERT: MemoryRegionOps = { read: () => 0n, write: () => 0 };

/** One legacy I/O region: name, port, size, owner (undefined: no owner, as QEMU has it). */
type PortRegion = readonly [string, number, number, QomObjectRef | undefined];

/**
 * The legacy ports in QEMU's creation order (later regions at the same port are listed first,
 * which is what `info mtree` shows). Owners are the QOM paths QEMU 7.2 gives them on q35.
 */
const LEGACY_PORTS: readonly PortRegion[] = [
  ["kvmvapic", 0x7e, 2, UNATTACHED_DEVICE(1)],
  ["acpi-pci-hotplug", 0xcc0, 0x18, UNATTACHED_DEVICE(2)],
  ["acpi-cpu-hotplug", 0xcd8, 0x20, UNATTACHED_DEVICE(2)],
  ["apm-io", 0xb2, 2, UNATTACHED_DEVICE(2)],
  ["dma-chan", 0x0, 8, UNATTACHED_DEVICE(3)],
  ["dma-cont", 0x8, 8, UNATTACHED_DEVICE(3)],
  ["dma-page", 0x81, 3, UNATTACHED_DEVICE(3)],
  ["dma-page", 0x87, 1, UNATTACHED_DEVICE(3)],
  ["dma-chan", 0xc0, 0x10, UNATTACHED_DEVICE(4)],
  ["dma-cont", 0xd0, 0x10, UNATTACHED_DEVICE(4)],
  ["dma-page", 0x89, 3, UNATTACHED_DEVICE(4)],
  ["dma-page", 0x8f, 1, UNATTACHED_DEVICE(4)],
  ["pic", 0x20, 2, UNATTACHED_DEVICE(5)],
  ["elcr", 0x4d0, 1, UNATTACHED_DEVICE(5)],
  ["pic", 0xa0, 2, UNATTACHED_DEVICE(6)],
  ["elcr", 0x4d1, 1, UNATTACHED_DEVICE(6)],
  ["pit", 0x40, 4, UNATTACHED_DEVICE(9)],
  ["pcspk", 0x61, 1, UNATTACHED_DEVICE(10)],
  ["i8042-data", 0x60, 1, UNATTACHED_DEVICE(11)],
  ["i8042-cmd", 0x64, 1, UNATTACHED_DEVICE(11)],
  ["vmport", 0x5658, 1, UNATTACHED_DEVICE(12)],
  ["port92", 0x92, 1, UNATTACHED_DEVICE(14)],
  ["ioport80", 0x80, 1, undefined],
  ["ioportF0", 0xf0, 1, undefined],
  ["fwcfg", 0x510, 2, dev("/machine/fw_cfg")],
  ["fwcfg.dma", 0x514, 8, dev("/machine/fw_cfg")],
];

/** The ICH9 power-management block (disabled until the guest sets PMBASE). */
const ICH9_PM: readonly PortRegion[] = [
  ["acpi-evt", 0x0, 4, UNATTACHED_DEVICE(2)],
  ["acpi-cnt", 0x4, 2, UNATTACHED_DEVICE(2)],
  ["acpi-tmr", 0x8, 4, UNATTACHED_DEVICE(2)],
  ["acpi-gpe0", 0x20, 0x10, UNATTACHED_DEVICE(2)],
  ["acpi-smi", 0x30, 8, UNATTACHED_DEVICE(2)],
  ["sm-tco", 0x60, 0x20, UNATTACHED_DEVICE(2)],
];

/**
 * Where QEMU 10.0 puts the owners QEMU 7.2 numbered differently: the ISA DMA controllers and the
 * RTC became children of the ICH9-LPC function (device[2]), so the devices after them in
 * /machine/unattached moved down, and a port list's regions are owned by the list itself with
 * the device as their parent (`dma-page`).
 */
const QEMU_10_OWNERS: Readonly<Record<string, QomObjectRef>> = {
  "/machine/unattached/device[3]": dev("/machine/unattached/device[2]/dma[0]"),
  "/machine/unattached/device[4]": dev("/machine/unattached/device[2]/dma[1]"),
  "/machine/unattached/device[5]": UNATTACHED_DEVICE(3),
  "/machine/unattached/device[6]": UNATTACHED_DEVICE(4),
  "/machine/unattached/device[8]": dev("/machine/unattached/device[2]/rtc"),
  "/machine/unattached/device[9]": UNATTACHED_DEVICE(6),
  "/machine/unattached/device[10]": UNATTACHED_DEVICE(7),
  "/machine/unattached/device[11]": UNATTACHED_DEVICE(8),
  "/machine/unattached/device[12]": UNATTACHED_DEVICE(9),
  "/machine/unattached/device[14]": UNATTACHED_DEVICE(11),
};

/** A port list's region under QEMU 10.0: owned by the list, the device as its QOM parent. */
const PORTIO_LIST_OWNER: QomObjectRef = {
  kind: "obj",
  key: "type",
  value: "memory-region-portio-list",
};

/** A legacy region's ownership under a release (7.2's table, renumbered for 10.0). */
function ownership(
  name: string,
  owner: QomObjectRef | undefined,
  qemu: QemuLine,
): { owner?: QomObjectRef; parent?: QomObjectRef } {
  if (!owner) return {};
  if (!atLeast(qemu, "10.0")) return { owner };
  const moved = QEMU_10_OWNERS[owner.value] ?? owner;
  return name === "dma-page" ? { owner: PORTIO_LIST_OWNER, parent: moved } : { owner: moved };
}

/** The QOM path QEMU gives the HPET on q35 (7.2: device[7], 10.0: device[5]). */
export function hpetOwner(qemu: QemuLine): QomObjectRef {
  return UNATTACHED_DEVICE(atLeast(qemu, "10.0") ? 5 : 7);
}

/** The QOM paths of the ich9-ahci and ICH9-SMB functions (7.2: device[15], [16]; 10.0: [12], [13]). */
export function ich9FunctionOwners(qemu: QemuLine): { ahci: QomObjectRef; smbus: QomObjectRef } {
  const first = atLeast(qemu, "10.0") ? 12 : 15;
  return { ahci: UNATTACHED_DEVICE(first), smbus: UNATTACHED_DEVICE(first + 1) };
}

/** Adds the legacy ports, the RTC and the ICH9 PM block to the I/O space. */
export function addLegacyPorts(m: MemorySystem, io: MemoryRegion, qemu: QemuLine = "7.2"): void {
  const region = ([name, , size, owner]: PortRegion) =>
    m.io(name, BigInt(size), INERT, ownership(name, owner, qemu));
  for (const p of LEGACY_PORTS) io.addSubregion(region(p), BigInt(p[1]));
  const rtcOwner = ownership("rtc", UNATTACHED_DEVICE(8), qemu);
  const rtc = m.io("rtc", 2n, INERT, rtcOwner);
  rtc.addSubregion(m.io("rtc-index", 1n, INERT, rtcOwner), 0n);
  io.addSubregion(rtc, 0x70n);
  const pm = m.container("ich9-pm", 0x80n, { owner: UNATTACHED_DEVICE(2) });
  for (const p of ICH9_PM) pm.addSubregion(region(p), BigInt(p[1]));
  pm.setEnabled(false);
  io.addSubregion(pm, 0n);
  io.addSubregionOverlap(
    m.io("lpc-reset-control", 1n, INERT, { owner: UNATTACHED_DEVICE(2) }),
    0xcf9n,
    1,
  );
}

/** MCH configuration registers (`hw/pci-host/q35.h`). */
export const MCH = {
  pciexbar: 0x60,
  pam0: 0x90,
  smram: 0x9d,
  esmramc: 0x9e,
  /** SMRAM: C_BASE_SEG, the only value QEMU's reset leaves. */
  smramDefault: 0x02,
  esmramcDefault: 0x38,
  smramDOpen: 0x40,
  smramDLock: 0x10,
  smramGSmrame: 0x08,
  esmramcHSmrame: 0x80,
  esmramcTEn: 0x01,
  pciexbarDefault: 0xb0000000,
} as const;

/** One PAM segment's four aliases (QEMU's `PAMMemoryRegion`); index = the attribute value. */
export interface PamSegment {
  readonly aliases: readonly MemoryRegion[];
  current: number;
}

/**
 * QEMU's `init_pam`: four disabled aliases at `start` in `system` (0: PCI, 1: ROM, 2: the
 * second `pam-pci`, an alias of RAM, 3: RAM), added in index order.
 */
export function initPam(
  m: MemorySystem,
  owner: QomObjectRef,
  ram: MemoryRegion,
  system: MemoryRegion,
  pci: MemoryRegion,
  start: bigint,
  size: bigint,
): PamSegment {
  const o = { owner };
  const aliases = [
    m.alias("pam-pci", pci, start, size, o),
    m.alias("pam-rom", ram, start, size, o),
    m.alias("pam-pci", ram, start, size, o),
    m.alias("pam-ram", ram, start, size, o),
  ];
  aliases[1].setReadonly(true);
  for (const a of aliases) {
    a.setEnabled(false);
    system.addSubregionOverlap(a, start, 1);
  }
  return { aliases, current: 0 };
}

/** QEMU's `pam_update`: segment `index` takes its attribute from the PAM register byte. */
export function updatePam(segment: PamSegment, index: number, value: number): void {
  segment.aliases[segment.current].setEnabled(false);
  segment.current = (value >> ((index & 1) === 0 ? 4 : 0)) & 3;
  segment.aliases[segment.current].setEnabled(true);
}

/** The SMRAM-related regions of the MCH. */
export interface SmramRegions {
  /** `smram-region`: the VGA window seen from PCI while SMRAM is closed. */
  readonly smramRegion: MemoryRegion;
  readonly openHigh: MemoryRegion;
  readonly low: MemoryRegion;
  readonly high: MemoryRegion;
  readonly tsegBlackhole: MemoryRegion;
  readonly tsegWindow: MemoryRegion;
}

/** QEMU's `mch_update_smram` for the SMRAM and ESMRAMC register values (TSEG left closed). */
export function updateSmram(r: SmramRegions, smram: number, esmramc: number): void {
  const hSmrame = (esmramc & MCH.esmramcHSmrame) !== 0;
  if (smram & MCH.smramDOpen) {
    r.smramRegion.setEnabled(hSmrame);
    r.openHigh.setEnabled(hSmrame);
  } else {
    r.smramRegion.setEnabled(true);
    r.openHigh.setEnabled(false);
  }
  const global = (smram & MCH.smramGSmrame) !== 0;
  r.low.setEnabled(global && !hSmrame);
  r.high.setEnabled(global && hSmrame);
}
