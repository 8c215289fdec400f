/**
 * Random PCI hierarchies on q35 (root ports, switches, PCIe-to-PCI and PCI bridges, nested),
 * numbered the way firmware numbers them (depth first, secondary then subordinate): every
 * function answers configuration cycles at its bus number and devfn and nothing else answers,
 * and behind intel-iommu the functions sharing a VT-d address space are exactly those the
 * PCIe-to-PCI rule groups (a conventional bus below a pcie-pci-bridge is one requester; below a
 * pci-bridge the bridge's own).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { PciDevice } from "../../src/machine/pci-device.ts";
import { type Q35Bus, type Q35DeviceSpec, Q35Machine } from "../../src/machine/q35.ts";
import { QtestSession } from "../../src/qtest/protocol.ts";

/** A node of the generated tree: an endpoint, a bridge with children, or a port's link. */
type Node =
  | { kind: "endpoint" }
  | { kind: "pci-bridge" | "pcie-pci-bridge"; children: Node[] }
  | { kind: "root-port"; child: Node }
  | { kind: "switch"; downstream: Node[] };

/** Where a node sits: `pcie.0`, the link below a port (slot 0 only), a conventional bus. */
type Place = "root" | "link" | "conventional";

const endpoint = fc.constant<Node>({ kind: "endpoint" });

/** Trees of bounded depth, each node one QEMU accepts at its place. */
function tree(depth: number, place: Place): fc.Arbitrary<Node> {
  if (depth === 0) return endpoint;
  const conventional = fc.array(tree(depth - 1, "conventional"), { maxLength: 3 });
  const options: fc.Arbitrary<Node>[] = [
    endpoint,
    conventional.map((children) => ({ kind: "pci-bridge" as const, children })),
  ];
  if (place !== "conventional") {
    options.push(conventional.map((children) => ({ kind: "pcie-pci-bridge" as const, children })));
  }
  if (place === "root") {
    options.push(tree(depth - 1, "link").map((child) => ({ kind: "root-port" as const, child })));
  }
  if (place === "link") {
    options.push(
      fc
        .array(tree(depth - 1, "link"), { minLength: 1, maxLength: 2 })
        .map((downstream) => ({ kind: "switch" as const, downstream })),
    );
  }
  return fc.oneof(...options);
}

/** The devices to plug for `nodes` on bus `bus` (ids unique by counter). */
function specs(nodes: Node[], bus: string, out: Q35DeviceSpec[], next: { n: number }): void {
  for (const node of nodes) {
    const id = `d${next.n++}`;
    const onBus = bus === "pcie.0" ? {} : { bus };
    switch (node.kind) {
      case "endpoint":
        out.push({ driver: "e1000", id, ...onBus });
        break;
      case "root-port":
        out.push({ driver: "pcie-root-port", id, ...onBus });
        specs([node.child], id, out, next);
        break;
      case "pcie-pci-bridge":
      case "pci-bridge":
        out.push({ driver: node.kind, id, ...onBus });
        specs(node.children, id, out, next);
        break;
      case "switch":
        out.push({ driver: "x3130-upstream", id, ...onBus });
        for (const child of node.downstream) {
          const dn = `d${next.n++}`;
          out.push({ driver: "xio3130-downstream", id: dn, bus: id });
          specs([child], dn, out, next);
        }
        break;
    }
  }
}

/** Firmware's numbering: depth first, each bridge's secondary then its subordinate. */
function enumerate(m: Q35Machine): Map<PciDevice<Q35Bus>, number> {
  const q = new QtestSession(m);
  const cfg = (bus: number, devfn: number, reg: number, value: number) => {
    q.execute(
      `outl 0xcf8 0x${((0x80000000 | (bus << 16) | (devfn << 8) | reg) >>> 0).toString(16)}`,
    );
    q.execute(`outb 0x${(0xcfc + (reg & 3)).toString(16)} 0x${value.toString(16)}`);
  };
  const numbers = new Map<PciDevice<Q35Bus>, number>();
  let last = 0;
  const walk = (bus: Q35Bus, number: number) => {
    for (const devfn of [...bus.functions.keys()].sort((a, b) => a - b)) {
      const f = bus.functions.get(devfn)!;
      numbers.set(f, number);
      const secondary = [...m.buses.values()].find((b) => b.parentDevice === f);
      if (!secondary) continue;
      const n = ++last;
      cfg(number, devfn, 0x19, n);
      cfg(number, devfn, 0x1a, 0xff);
      walk(secondary, n);
      cfg(number, devfn, 0x1a, last);
    }
  };
  walk(m.bus, 0);
  return numbers;
}

function vendorAt(m: Q35Machine, bus: number, devfn: number): number {
  const q = new QtestSession(m);
  q.execute(`outl 0xcf8 0x${((0x80000000 | (bus << 16) | (devfn << 8)) >>> 0).toString(16)}`);
  const r = q.execute("inw 0xcfc");
  return "reply" in r ? Number(r.reply.replace(/^OK /, "")) : -1;
}

test("after firmware-style numbering every function answers at its bus and devfn, nothing else does", () => {
  fc.assert(
    fc.property(fc.array(tree(4, "root"), { minLength: 1, maxLength: 4 }), (nodes) => {
      const devices: Q35DeviceSpec[] = [];
      specs(nodes, "pcie.0", devices, { n: 0 });
      const m = new Q35Machine({ devices });
      const numbers = enumerate(m);
      const occupied = new Set<string>();
      for (const [f, bus] of numbers) {
        occupied.add(`${bus}:${f.devfn}`);
        assert.equal(vendorAt(m, bus, f.devfn), f.spec.vendorId, `${f.spec.typeName} at ${bus}`);
      }
      // A few unoccupied places on every numbered bus answer all ones.
      for (const bus of new Set(numbers.values())) {
        for (const devfn of [0x08, 0x30, 0xf8]) {
          if (!occupied.has(`${bus}:${devfn}`)) assert.equal(vendorAt(m, bus, devfn), 0xffff);
        }
      }
    }),
    { numRuns: 60, seed: 20261201 },
  );
});

test("behind intel-iommu, endpoints share a VT-d space exactly when the PCIe-to-PCI rule says so", () => {
  fc.assert(
    fc.property(fc.array(tree(4, "root"), { minLength: 1, maxLength: 4 }), (nodes) => {
      const devices: Q35DeviceSpec[] = [];
      specs(nodes, "pcie.0", devices, { n: 0 });
      const m = new Q35Machine({ intelIommu: {}, devices });
      // The reference: the topmost conventional bus on the way up decides, by its parent.
      const requester = (f: PciDevice<Q35Bus>): string => {
        let key = `${f.phb.name}/${f.devfn}`;
        for (let bus = f.phb; bus.parentDevice; bus = bus.parentDevice.phb) {
          if (bus.express) continue;
          const bridge = bus.parentDevice;
          key =
            bridge.spec.typeName === "pcie-pci-bridge" && bridge.phb.express
              ? `${bus.name}/0`
              : `${bridge.phb.name}/${bridge.devfn}`;
        }
        return key;
      };
      const endpoints = [...m.devices.values()].filter((d) => d.spec.typeName === "e1000");
      for (const a of endpoints) {
        for (const b of endpoints) {
          const same = a.busMasterAlias.alias === b.busMasterAlias.alias;
          assert.equal(same, requester(a) === requester(b), `${a.owner.value} ${b.owner.value}`);
        }
      }
    }),
    { numRuns: 60, seed: 20261201 },
  );
});
