/**
 * q35 topology: root ports, switches and bridges. Which requester an IOMMU sees for a function
 * behind them (QEMU 7.2's `pci_device_iommu_address_space`), how configuration cycles find a
 * bus by the numbers firmware programs, and the plugging rules of ports. The `info mtree` of
 * such machines is held to QEMU's recorded text in test/conformance/q35-machines.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Q35DeviceError, Q35Machine } from "../../src/machine/q35.ts";
import { QtestSession } from "../../src/qtest/protocol.ts";

/** Writes and reads configuration space through ports 0xcf8/0xcfc, as a guest does. */
function config(m: Q35Machine) {
  const qtest = new QtestSession(m);
  const address = (bus: number, devfn: number, reg: number) =>
    `0x${((0x80000000 | (bus << 16) | (devfn << 8) | (reg & 0xfc)) >>> 0).toString(16)}`;
  const run = (line: string) => {
    const r = qtest.execute(line);
    assert.ok("reply" in r, line);
    return r.reply;
  };
  return {
    read16(bus: number, devfn: number, reg: number): number {
      run(`outl 0xcf8 ${address(bus, devfn, reg)}`);
      return Number(run(`inw 0x${(0xcfc + (reg & 3)).toString(16)}`).replace(/^OK /, ""));
    },
    write8(bus: number, devfn: number, reg: number, value: number): void {
      run(`outl 0xcf8 ${address(bus, devfn, reg)}`);
      run(`outb 0x${(0xcfc + (reg & 3)).toString(16)} 0x${value.toString(16)}`);
    },
  };
}

test("behind a PCIe-to-PCI bridge every function reaches VT-d as (secondary bus, 00.0)", () => {
  const m = new Q35Machine({
    intelIommu: {},
    devices: [
      { driver: "pcie-root-port", id: "rp1", slot: 3 },
      { driver: "pcie-pci-bridge", id: "pb1", bus: "rp1" },
      { driver: "e1000", id: "nic", bus: "pb1", slot: 1 },
      { driver: "edu", id: "edu", bus: "pb1", slot: 2 },
    ],
  });
  const pb1 = m.buses.get("pb1")!;
  const vtd = m.intelIommu!;
  const alias = vtd.addressSpaceOf(pb1, 0);
  assert.equal(m.devices.get("nic")!.busMasterAlias.alias, alias.root);
  assert.equal(m.devices.get("edu")!.busMasterAlias.alias, alias.root);
  assert.equal(alias.root.name, "vtd-00.0");
  // Firmware numbers the buses: rp1's secondary is 1, pb1's is 2; the requester id follows.
  const c = config(m);
  c.write8(0, 3 << 3, 0x19, 1);
  c.write8(0, 3 << 3, 0x1a, 2);
  c.write8(1, 0, 0x19, 2);
  c.write8(1, 0, 0x1a, 2);
  assert.equal(alias.sourceId, 0x0200);
});

test("behind a conventional PCI bridge on pcie.0 functions take the bridge's own requester id", () => {
  const m = new Q35Machine({
    intelIommu: {},
    devices: [
      { driver: "pci-bridge", id: "br", slot: 5 },
      { driver: "e1000", id: "nic", bus: "br", slot: 1 },
    ],
  });
  const bridgeSpace = m.intelIommu!.addressSpaceOf(0, 5 << 3);
  assert.equal(m.devices.get("nic")!.busMasterAlias.alias, bridgeSpace.root);
  assert.equal(m.devices.get("br")!.busMasterAlias.alias, bridgeSpace.root);
  assert.equal(bridgeSpace.sourceId, 0x0028);
});

test("PCI Express switches keep each function's requester: one VT-d space per bus and devfn", () => {
  const m = new Q35Machine({
    intelIommu: {},
    devices: [
      { driver: "pcie-root-port", id: "rp1" },
      { driver: "x3130-upstream", id: "up1", bus: "rp1" },
      { driver: "xio3130-downstream", id: "dn1", bus: "up1" },
      { driver: "xio3130-downstream", id: "dn2", bus: "up1" },
      { driver: "e1000e", id: "a", bus: "dn1" },
      { driver: "e1000e", id: "b", bus: "dn2" },
    ],
  });
  const targets = ["up1", "dn1", "dn2", "a", "b"].map(
    (id) => m.devices.get(id)!.busMasterAlias.alias,
  );
  assert.equal(new Set(targets).size, 5);
  assert.equal(m.devices.get("dn2")!.devfn, 1 << 3);
  // The IOAPIC's vtd-00.0 on pcie.0 plus MCH share one; the four 00.0 functions below have theirs.
  const named = m.intelIommu!.addressSpaces.filter((s) => s.root.name === "vtd-00.0");
  assert.equal(named.length, 5);
});

test("AMD-Vi keys functions by bus number: before firmware numbers buses, 00.0 behind ports is 0:00.0", () => {
  const m = new Q35Machine({
    amdIommu: true,
    devices: [
      { driver: "pcie-root-port", id: "rp1" },
      { driver: "e1000e", id: "a", bus: "rp1" },
    ],
  });
  assert.equal(m.devices.get("a")!.busMasterAlias.alias, m.amdIommu!.addressSpaceOf(0, 0).root);
});

test("configuration cycles reach a bus only once its bridge's bus numbers cover it", () => {
  const m = new Q35Machine({
    devices: [
      { driver: "pcie-root-port", id: "rp1", slot: 3 },
      { driver: "x3130-upstream", id: "up1", bus: "rp1" },
      { driver: "xio3130-downstream", id: "dn1", bus: "up1" },
      { driver: "e1000e", bus: "dn1" },
    ],
  });
  const c = config(m);
  assert.equal(c.read16(3, 0, 0), 0xffff);
  c.write8(0, 3 << 3, 0x19, 1);
  c.write8(0, 3 << 3, 0x1a, 3);
  assert.equal(c.read16(1, 0, 0), 0x104c, "x3130-upstream on bus 1");
  assert.equal(c.read16(3, 0, 0), 0xffff, "bus 3 is behind up1, not yet numbered");
  c.write8(1, 0, 0x19, 2);
  c.write8(1, 0, 0x1a, 3);
  c.write8(2, 0, 0x19, 3);
  c.write8(2, 0, 0x1a, 3);
  assert.equal(c.read16(3, 0, 0), 0x8086, "e1000e on bus 3");
  assert.equal(c.read16(3, 0, 2), 0x10d3);
  // Secondary bus reset on the root port: nothing below it answers.
  c.write8(0, 3 << 3, 0x3e, 0x40);
  assert.equal(c.read16(3, 0, 0), 0xffff);
});

test("a root port's window opens from its base/limit registers; reset moves no window", () => {
  const m = new Q35Machine({ devices: [{ driver: "pcie-root-port", id: "rp1", slot: 3 }] });
  const windows = () =>
    m.pci.subregions
      .filter((r) => r.name.startsWith("pci_bridge_"))
      .map((r) => `${r.name}@${r.addr.toString(16)}+${r.size.toString(16)}`)
      .sort();
  const before = windows();
  assert.deepEqual(before, ["pci_bridge_mem@0+0", "pci_bridge_pref_mem@0+0"]);
  const qtest = new QtestSession(m);
  for (const line of [
    "outl 0xcf8 0x80001820",
    "outl 0xcfc 0xfe10fe00",
    "outl 0xcf8 0x80001804",
    "outw 0xcfc 0x6",
  ]) {
    qtest.execute(line);
  }
  // Memory 0xfe000000-0xfe1fffff; prefetchable left as reset made it: base 0xfff00000 > limit.
  assert.deepEqual(windows(), ["pci_bridge_mem@fe000000+200000", "pci_bridge_pref_mem@fff00000+0"]);
  m.reset();
  assert.deepEqual(windows(), ["pci_bridge_mem@fe000000+200000", "pci_bridge_pref_mem@fff00000+0"]);
});

test("ports take one function in slot 0; an unknown bus is refused with QEMU's message", () => {
  const make = (extra: object) =>
    new Q35Machine({
      devices: [
        { driver: "pcie-root-port", id: "rp1" },
        { driver: "e1000e", ...extra },
      ],
    });
  assert.throws(
    () => make({ bus: "rp1", slot: 1 }),
    new Q35DeviceError(
      "PCI: slot 1 is not valid for e1000e, parent device only allows plugging into slot 0.",
    ),
  );
  assert.throws(() => make({ bus: "rp9" }), new Q35DeviceError("Bus 'rp9' not found"));
  assert.throws(
    () =>
      new Q35Machine({
        devices: [{ driver: "pcie-root-port", id: "rp1", properties: { "bus-reserve": "1" } }],
      }),
    /pcie-root-port property 'bus-reserve' is not modelled/,
  );
});

test("a function hot-plugged behind a switch gets its bus master at once", () => {
  const m = new Q35Machine({
    devices: [
      { driver: "pcie-root-port", id: "rp1" },
      { driver: "x3130-upstream", id: "up1", bus: "rp1" },
      { driver: "xio3130-downstream", id: "dn1", bus: "up1" },
    ],
  });
  const d = m.plug({ driver: "e1000e", id: "hot0", bus: "dn1" });
  assert.equal(d.busMasterAlias.alias, m.sysmem);
  assert.equal(m.buses.get("dn1")!.functions.get(0), d);
});

test("a secondary bus reset (bridge control 0 -> 1) resets every function below the bridge", () => {
  const m = new Q35Machine({
    devices: [
      { driver: "pcie-root-port", id: "rp1", slot: 3 },
      { driver: "x3130-upstream", id: "up1", bus: "rp1" },
      { driver: "xio3130-downstream", id: "dn1", bus: "up1" },
      { driver: "e1000e", id: "nic", bus: "dn1" },
    ],
  });
  const nic = m.devices.get("nic")!;
  const up1 = m.devices.get("up1")!;
  nic.configWrite(0x04, 2, 0x6);
  up1.configWrite(0x19, 1, 2);
  assert.equal(nic.busMasterAlias.enabled, true);
  // Writing the bit again while it is set resets nothing more; a 0 -> 1 change does.
  const rp1 = m.devices.get("rp1")!;
  rp1.configWrite(0x3e, 2, 0x40);
  assert.equal(nic.command, 0);
  assert.equal(nic.busMasterAlias.enabled, false);
  assert.equal(up1.config[0x19], 0, "the upstream port's bus numbers are reset too");
  nic.configWrite(0x04, 2, 0x6);
  rp1.configWrite(0x3e, 2, 0x40);
  assert.equal(nic.command, 0x6, "no second reset while the bit stays set");
  rp1.configWrite(0x3e, 2, 0);
  rp1.configWrite(0x3e, 2, 0x40);
  assert.equal(nic.command, 0);
  assert.equal(rp1.configRead(0x3e, 2), 0x40, "the bridge keeps its own control register");
  rp1.configWrite(0x3e, 2, 0xffff);
  assert.equal(rp1.configRead(0x3e, 2), 0x0bff, "discard status (0x400) is not writable");
});

test("unplugging a function behind a root port removes it from its own bus, not pcie.0's", () => {
  const m = new Q35Machine({
    devices: [
      { driver: "pcie-root-port", id: "rp1", slot: 3 },
      { driver: "e1000e", id: "nic", bus: "rp1" },
    ],
  });
  const rp1 = m.buses.get("rp1")!;
  assert.ok(rp1.functions.has(0));
  assert.ok(m.bus.functions.has(0), "pcie.0 holds the MCH at 00.0");
  m.unplug("nic");
  assert.equal(rp1.functions.has(0), false);
  assert.ok(m.bus.functions.has(0), "the MCH stays");
  assert.ok(m.functions.has(0), "the MCH stays in the root bus's functions");
});
