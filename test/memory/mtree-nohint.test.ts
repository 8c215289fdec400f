/**
 * Flat views from the tree text alone: machines built through the memory API the way QEMU's
 * device models build them, printed with `-D` or `-o -D`, imported without the `-f` hint, must
 * have the flat views of the original. Each case is one rule of the no-hint inference; the
 * expected flat text is the original model's, not the importer's.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { U64_MAX } from "../../src/memory/int.ts";
import { MemorySystem } from "../../src/memory/memory-system.ts";
import { importMtree } from "../../src/memory/mtree/import.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import type { MemoryRegion, QomObjectRef } from "../../src/memory/region.ts";

/** The flat views as a sorted list of blocks (QEMU's block order carries no meaning). */
function flatBlocks(m: MemorySystem): string[] {
  return formatMtree(m, { flat: true }).split("\n\n").filter(Boolean).sort();
}

function reimported(m: MemorySystem, owners: boolean) {
  return importMtree(formatMtree(m, { disabled: true, owners }));
}

test("a region added inside a larger equal-priority sibling shows through, from -D alone", () => {
  // As on the Mac: the firmware ROM is mapped first, the NVRAM over part of it later.
  const m = new MemorySystem();
  const system = m.container("system", U64_MAX);
  system.addSubregion(m.ram("ram", 0x8000000n), 0n);
  system.addSubregion(m.rom("bios", 0x100000n), 0xfff00000n);
  system.addSubregion(m.reservation("nvram", 0x4000n), 0xfff04000n);
  m.addressSpace(system, "memory");
  const imported = reimported(m, false);
  assert.deepEqual(flatBlocks(imported.system), flatBlocks(m));
  assert.match(flatBlocks(m).join("\n"), /fff04000-00000000fff07fff \(prio 0, i\/o\): nvram/);
  assert.ok(imported.inferred.some((f) => f.kind === "overlap-order" && f.confidence === "guess"));
});

test("a BAR inside a PCI bridge's equal-priority window stays under the window, from -o -D alone", () => {
  // The bridge's window aliases are added again at every window update: the window is on top.
  const m = new MemorySystem();
  const system = m.container("system", U64_MAX);
  const pci = m.container("pci", U64_MAX);
  system.addSubregionOverlap(pci, 0n, -1);
  const owner: QomObjectRef = { kind: "dev", key: "id", value: "br0" };
  const secondary = m.container("pci_bridge_pci", U64_MAX, { owner });
  // A device behind the bridge fills the window, so the window hides the BAR where it is on top.
  secondary.addSubregionOverlap(
    m.reservation("behind-mmio", 0x100000n, { owner: { kind: "dev", key: "id", value: "nic1" } }),
    0xfe000000n,
    1,
  );
  const bar = m.reservation("e1000-mmio", 0x20000n, {
    owner: { kind: "dev", key: "id", value: "nic0" },
  });
  pci.addSubregionOverlap(bar, 0xfe008000n, 1);
  pci.addSubregionOverlap(
    m.alias("pci_bridge_mem", secondary, 0xfe000000n, 0x100000n, { owner }),
    0xfe000000n,
    1,
  );
  m.addressSpace(system, "memory");
  assert.deepEqual(flatBlocks(reimported(m, true).system), flatBlocks(m));
  assert.doesNotMatch(flatBlocks(m).join("\n"), /e1000-mmio/);
});

test("devices seen behind a PCI bridge are created after it: a chain of switches, from -o -D alone", () => {
  // A root port, then an upstream and a downstream port twice, each plugged into the previous:
  // ordering by kind alone would put both upstream ports before both downstream ports.
  const m = new MemorySystem();
  const system = m.container("system", U64_MAX);
  m.addressSpace(system, "memory");
  const chain: [string, string][] = [
    ["pcie-root-port", "rp1"],
    ["x3130-upstream", "up1"],
    ["xio3130-downstream", "dn1"],
    ["x3130-upstream", "up2"],
    ["xio3130-downstream", "dn2"],
  ];
  let bus: MemoryRegion = m.container("pci", U64_MAX);
  system.addSubregionOverlap(bus, 0n, -1);
  for (const [type, id] of chain) {
    const owner: QomObjectRef = { kind: "dev", key: "id", value: id };
    const secondary = m.container("pci_bridge_pci", U64_MAX, { owner });
    const window = m.alias("pci_bridge_mem", secondary, 0n, 0n, { owner });
    window.setEnabled(false);
    bus.addSubregionOverlap(window, 0n, 1);
    // pci_init_bus_master: a disabled alias of the system memory, in the device's container.
    const master = m.container("bus master container", U64_MAX, { owner });
    const enable = m.alias("bus master", system, 0n, U64_MAX, { owner });
    enable.setEnabled(false);
    master.addSubregion(enable, 0n);
    m.addressSpace(master, type);
    bus = secondary;
  }
  const imported = reimported(m, true);
  assert.deepEqual(flatBlocks(imported.system), flatBlocks(m));
  assert.ok(
    imported.inferred.some(
      (f) => f.kind === "address-space-order" && /behind a PCI bridge/.test(f.detail),
    ),
  );
});

test("the ppc440 PCI-X host's pci-bm space follows the host-bridge function it creates, from -o -D alone", () => {
  // The host (QOM index 19) creates its PCI function (index 20) before its own bus-master space.
  const m = new MemorySystem();
  const system = m.container("system", U64_MAX);
  system.addSubregion(m.ram("ram", 0x8000000n), 0n);
  m.addressSpace(system, "memory");
  const host: QomObjectRef = { kind: "dev", key: "path", value: "/machine/unattached/device[19]" };
  const fn: QomObjectRef = { kind: "dev", key: "path", value: "/machine/unattached/device[20]" };
  const bm = m.container("bm-ppc440-pcix", U64_MAX, { owner: host });
  bm.addSubregion(m.container("pci bus memory", U64_MAX, { owner: host }), 0n);
  const master = m.container("bus master container", U64_MAX, { owner: fn });
  const enable = m.alias("bus master", bm, 0n, U64_MAX, { owner: fn });
  enable.setEnabled(false);
  master.addSubregion(enable, 0n);
  m.addressSpace(master, "ppc4xx-host-bridge");
  m.addressSpace(bm, "pci-bm");
  const imported = reimported(m, true);
  assert.deepEqual(flatBlocks(imported.system), flatBlocks(m));
  assert.match(flatBlocks(m).join("\n"), /"ppc4xx-host-bridge".*\n.*"pci-bm"/);
});
