/**
 * What QEMU 7.2's device models are known to create, for rebuilding flat views from the tree
 * text alone (no `info mtree -f` hint): which `i/o` regions are pure containers although they
 * have no subregions, which render their gaps although they have subregions, which aliases are
 * read-only, and the order in which address spaces are created. Each entry names the QEMU code
 * that creates the region.
 */

/**
 * Childless `i/o` regions that are pure containers (`memory_region_init` without ops): a
 * rendering leaf of the same name would cover whole windows.
 */
const CONTAINER_NAMES = new Set([
  "pci_bridge_pci", // hw/pci/pci_bridge.c: a bridge's secondary memory space
  "pci_bridge_io", // ... and its secondary I/O space
  "gpex_mmio", // hw/pci-host/gpex.c: the root bus's spaces behind the windows
  "gpex_ioport",
  "platform bus", // hw/core/platform-bus.c
  "device-memory", // hw/mem/memory-device.c: hot-pluggable memory area
  "e1000e-flash", // hw/net/e1000e.c: the dummy flash BAR, memory_region_init without ops
  "memhp container", // hw/acpi/memory_hotplug.c
  "isa-mem", // hw/ppc/pnv_lpc.c
  "pci-memory", // hw/pci-host/raven.c
  "pci-mmio", // hw/pci-host/grackle.c
  "pci-pio", // hw/pci-host/ppce500.c
  "pci bus memory", // hw/ppc/ppc440_pcix.c
  "pci.mem", // hw/pci-host/bonito.c
  "pci0-io", // hw/pci-host/mv64361.c
  "pci0-mem",
  "pci1-io",
  "pci1-mem",
  "pci_io", // hw/pci-host/versatile.c
  "pci_mem",
  "unin-pci-mmio", // hw/pci-host/uninorth.c
  "xive-vc-end", // hw/intc/pnv_xive.c: END and IPI ESB windows are containers
  "xive-vc-ipi",
]);

/** Name patterns of childless pure containers: sPAPR PHB windows and empty TCE roots. */
const CONTAINER_PATTERNS: readonly ((name: string) => boolean)[] = [
  // hw/ppc/spapr_pci.c: the PHB's memory and I/O spaces behind its window aliases
  (n) => n.startsWith("pci@") && (n.endsWith(".mmio") || n.endsWith(".io")),
  // hw/ppc/spapr_iommu.c: the root a DMA window's IOMMU region is mapped into
  (n) => n.startsWith("tce-root-"),
];

/** `i/o` regions with subregions that are MMIO or port I/O themselves and fill their gaps. */
const RENDERING_PARENTS = new Set([
  "io", // softmmu/physmem.c: the I/O space root has unassigned-access ops
  "rtc", // hw/rtc/mc146818rtc.c: the CMOS ports, with the coalesced index port inside
  "vga.mmio", // hw/display/vga-pci.c: the MMIO BAR, with its sub-windows
  "gpex_mmio_window", // hw/pci-host/gpex.c: windows with unassigned-access ops
  "gpex_ioport_window",
  "iocsr", // hw/loongarch/virt.c
  "sabre-config", // hw/pci-host/sabre.c
  "via-pm", // hw/isa/vt82c686.c
  "aspeed.i2c", // hw/i2c/aspeed_i2c.c
  "aspeed.sdhci", // hw/sd/aspeed_sdhci.c
  "aspeed.smc.flash", // hw/ssi/aspeed_smc.c
  "xlnx-zynmp.rtc",
  "xlnx.csu_dma",
  "xlnx.zynqmp-can",
  "xlnx.zynqmp_ipi",
]);

/** Does an `i/o` region (not an alias) render itself, judging by its name and shape? */
export function knownToRender(
  name: string,
  hasChildren: boolean,
): { renders: boolean; known: boolean } {
  if (hasChildren)
    return { renders: RENDERING_PARENTS.has(name), known: RENDERING_PARENTS.has(name) };
  const container = CONTAINER_NAMES.has(name) || CONTAINER_PATTERNS.some((p) => p(name));
  return { renders: !container, known: container };
}

/** Aliases QEMU always makes read-only (hw/pci-host/pam.c: the PAM "read from ROM" window). */
export function knownReadonlyAlias(name: string): boolean {
  return name === "pam-rom";
}

const DEVFN = /^(.{0,200}?)([0-9a-f]{2})\.([0-7])$/;

/** A sort key: compared element by element, numbers before strings. */
export type Rank = (number | string)[];

/** Compares two ranks; strings compare with their digit runs as numbers (`rp2` < `rp10`). */
export function compareRanks(x: Rank, y: Rank): number {
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const a = x[i];
    const b = y[i];
    if (a === b) continue;
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (typeof a === "number") return -1;
    if (typeof b === "number") return 1;
    // PCI addresses (`vtd-02.0`, `vtd-1f.0`) are hexadecimal device numbers.
    const da = DEVFN.exec(a);
    const db = DEVFN.exec(b);
    if (da && db && da[1] === db[1]) {
      return (
        Number.parseInt(da[2], 16) - Number.parseInt(db[2], 16) || Number(da[3]) - Number(db[3])
      );
    }
    return a.localeCompare(b, "en", { numeric: true });
  }
  return x.length - y.length;
}

/**
 * A sort key for address-space creation order: `memory` and `I/O` first (memory_map_init), then
 * the CPUs' spaces CPU by CPU (each CPU's realize creates, in order, the secure, normal, tag
 * and SMM spaces), then devices. With `-o` owners: parts of the machine (`/machine/q35/mch`),
 * then machine-created devices (`/machine/unattached/device[N]`, in creation order), then
 * devices with an id (bridges and ports come before what is plugged into them; ids in natural
 * order, `hot0` before `hot1`), then anonymous command-line devices
 * (`/machine/peripheral-anon/device[N]`). Same names (one per IOMMU endpoint) follow their
 * roots' names in natural order (`vtd-00.0`, `vtd-01.0`; endpoints are created in bus order).
 */
export function addressSpaceRank(
  name: string,
  owner: { key: string; value: string } | undefined,
  rootName: string,
  machineDevices: Map<string, number>,
): Rank {
  if (name === "memory") return [0];
  if (name === "I/O") return [1];
  const cpu = /^cpu-(secure-memory|memory|secure-tag-memory|tag-memory|smm)-(\d{1,6})$/.exec(name);
  if (cpu) {
    const kinds = ["secure-memory", "memory", "secure-tag-memory", "tag-memory", "smm"];
    return [2, Number(cpu[2]), kinds.indexOf(cpu[1])];
  }
  // Owners order devices; names order what owners leave tied (the parts of one device).
  // Bridges and ports before what is plugged into them, then ids in natural order.
  const device = owner
    ? [
        ...deviceRank(owner),
        ...deviceRankByName(name, machineDevices),
        owner.key === "id" ? owner.value : "",
      ]
    : deviceRankByName(name, machineDevices);
  return [3, ...device, rootName];
}

/**
 * Without owners: the devices a machine creates itself, in the order its init creates them,
 * then bridges and ports (a device plugged into one is created after it), then the rest in the
 * text's order. A machine is recognized by its host bridge's function: a name such as
 * `ich9-ahci` or `PIIX4_PM` is machine-created only on a machine that creates it.
 */
const MACHINE_DEVICES: readonly { readonly host: string; readonly devices: readonly string[] }[] = [
  // hw/i386/pc_piix.c: the i440FX host, the PIIX3 and its IDE, then the ACPI function
  { host: "i440FX", devices: ["i440FX", "PIIX3", "piix3-ide", "PIIX4_PM"] },
  // hw/i386/pc_q35.c: the MCH, then the ICH9's LPC, AHCI and SMBus functions
  { host: "mch", devices: ["mch", "ICH9-LPC", "ich9-ahci", "ICH9-SMB"] },
  { host: "gpex-root", devices: ["gpex-root"] }, // hw/pci-host/gpex.c
  // hw/pci-host/gt64120.c creates its PCI memory space, then its PCI function; hw/mips/malta.c
  // then the PIIX4 (hw/isa/piix4.c: ISA, IDE, USB, PM)
  {
    host: "gt64120_pci",
    devices: ["pci0-mem", "gt64120_pci", "piix4-isa", "piix4-ide", "piix4-usb-uhci", "PIIX4_PM"],
  },
  // hw/mips/fuloong2e.c: the Bonito north bridge, then the VIA south bridge, whose ISA function
  // realizes the others in this order (hw/isa/vt82c686.c)
  {
    host: "Bonito",
    devices: [
      "Bonito",
      "vt82c686b-isa",
      "via-ide",
      "vt82c686b-usb-uhci",
      "vt82c686b-pm",
      "via-ac97",
      "via-mc97",
    ],
  },
  // hw/ppc/pegasos2.c: the MV64361's two PCI hosts, then the VT8231 south bridge
  {
    host: "mv64361-pcibridge",
    devices: [
      "mv64361-pcibridge",
      "vt8231-isa",
      "via-ide",
      "vt82c686b-usb-uhci",
      "vt8231-pm",
      "via-ac97",
      "via-mc97",
    ],
  },
  // hw/ppc/mac_newworld.c: the UniNorth AGP, internal and main PCI hosts, then the MacIO
  {
    host: "uni-north-pci",
    devices: ["uni-north-agp", "uni-north-internal-pci", "uni-north-pci", "macio-newworld"],
  },
  // hw/sparc64/sun4u.c: the Sabre host (hw/pci-host/sabre.c creates it and its two Simba
  // bridges), then the EBus and the on-board CMD646 IDE
  { host: "sabre-pci", devices: ["sabre-pci", "pbm-bridge", "ebus", "cmd646-ide"] },
];

/** The machine-created device names among the address spaces, with their creation order. */
export function machineDeviceOrder(names: Iterable<string>): Map<string, number> {
  const present = new Set(names);
  const order = new Map<string, number>();
  MACHINE_DEVICES.forEach((machine, m) => {
    if (!present.has(machine.host)) return;
    machine.devices.forEach((name, i) => {
      if (!order.has(name)) order.set(name, m * 100 + i);
    });
  });
  return order;
}
const BRIDGES = [
  "pxb", // an expander bridge creates its own pci-bridge
  "pxb-pcie",
  "pci-bridge",
  "pcie-root-port",
  "x3130-upstream",
  "xio3130-downstream",
  "pcie-pci-bridge",
];

function deviceRankByName(name: string, machineDevices: Map<string, number>): Rank {
  const machine = machineDevices.get(name);
  if (machine !== undefined) return [0, machine];
  if (name.startsWith("pci@")) return [0, MACHINE_DEVICES.length * 100, name];
  const bridge = BRIDGES.indexOf(name);
  if (bridge >= 0) return [1, bridge];
  const part = DEVICE_PARTS.indexOf(name);
  if (part >= 0) return [2, part];
  return [2];
}

/**
 * The PCI functions a south bridge realizes as its QOM children, in the order its realize
 * creates them, so their bus-master spaces are created in this order: hw/isa/vt82c686.c
 * (`via_isa_realize`: ide, uhci1, uhci2, pm, ac97, mc97, for the VT82C686B and the VT8231) and
 * hw/isa/piix4.c (`piix4_realize`: ide, uhci, pm).
 */
const SOUTH_BRIDGE_FUNCTIONS = ["ide", "uhci", "uhci1", "uhci2", "pm", "ac97", "mc97"];

/**
 * Address spaces one device creates, in the order it creates them, where their names would
 * sort otherwise: hw/intc/pnv_xive.c (`pnv_xive_realize` creates the IPI space, then the END
 * space).
 */
const DEVICE_PARTS = ["xive-vc-ipi", "xive-vc-end"];

function deviceRank(owner: { key: string; value: string }): Rank {
  if (owner.key === "id") return [2];
  const path = owner.value;
  // A machine-created device, or an object inside one (`.../device[12]/gpex_root`).
  const unattached = /^\/machine\/unattached\/device\[(\d{1,9})\](\/(.{0,200}))?$/.exec(path);
  if (unattached) {
    if (unattached[3] === undefined) return [1, Number(unattached[1]), 0];
    const child = SOUTH_BRIDGE_FUNCTIONS.indexOf(unattached[3]);
    return [1, Number(unattached[1]), 1, child >= 0 ? child : SOUTH_BRIDGE_FUNCTIONS.length];
  }
  const anon = /^\/machine\/peripheral-anon\/device\[(\d{1,9})\]/.exec(path);
  if (anon) return [3, Number(anon[1])];
  if (path.startsWith("/machine/peripheral/")) return [2, path];
  // Parts of the machine itself (`/machine/q35/mch`): created before any device.
  if (path.startsWith("/machine/")) return [0];
  return [9];
}
