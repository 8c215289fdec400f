/**
 * Property: a machine with a random topology of PCI bridges, built through the memory API the way
 * QEMU's PCI bridge code builds it (each bridge has its own `pci_bridge_pci` and `pci_bridge_io`
 * containers, and its window aliases, same names for every bridge, sit in the parent bus's
 * containers), printed with `-o -D` and imported again without any flat hint, has the same flat
 * views as the original: the alias targets are found from the text alone, among sections that
 * all share their names. Printed with `-D` only, it prints back exactly.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { U64_MAX } from "../../src/memory/int.ts";
import { MemorySystem } from "../../src/memory/memory-system.ts";
import { importMtree } from "../../src/memory/mtree/import.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import type { MemoryRegion } from "../../src/memory/region.ts";

interface BridgeSpec {
  /** Index of the parent bridge, or -1 for the root bus. */
  readonly parent: number;
  /** Memory window [base, base + size), or null when closed. */
  readonly mem: { base: number; size: number } | null;
  readonly io: { base: number; size: number } | null;
  /** Device BARs behind the bridge: offsets in its memory space. */
  readonly bars: number[];
}

const MB = 0x100000;
const windowArb = fc.option(
  fc.record({
    base: fc.integer({ min: 0xfe0, max: 0xfe7 }).map((x) => x * MB),
    size: fc.constantFrom(MB, 2 * MB),
  }),
  { nil: null },
);
const ioArb = fc.option(
  fc.record({
    base: fc.integer({ min: 1, max: 4 }).map((x) => x * 0x1000),
    size: fc.constant(0x1000),
  }),
  { nil: null },
);

const topologyArb = fc
  .array(
    fc.record({
      parentPick: fc.nat(),
      mem: windowArb,
      io: ioArb,
      bars: fc.array(
        fc.integer({ min: 0xfe0, max: 0xfe7 }).map((x) => x * MB + 0x8000),
        {
          maxLength: 2,
        },
      ),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((raw) =>
    raw.map(
      (b, i): BridgeSpec => ({
        parent: b.parentPick % (i + 1) === i ? -1 : b.parentPick % (i + 1),
        mem: b.mem,
        io: b.io,
        bars: b.bars,
      }),
    ),
  )
  // Firmware and the guest give sibling bridges disjoint windows; where two overlap at the same
  // priority, only their insertion order (which the tree text does not print) says which shows.
  .filter((specs) =>
    specs.every((a, i) => specs.every((b, j) => j <= i || disjointSiblings(a, b))),
  );

function disjointSiblings(a: BridgeSpec, b: BridgeSpec): boolean {
  if (a.parent !== b.parent) return true;
  const apart = (x: BridgeSpec["mem"], y: BridgeSpec["mem"]) =>
    !x || !y || x.base + x.size <= y.base || y.base + y.size <= x.base;
  return apart(a.mem, b.mem) && apart(a.io, b.io);
}

function build(specs: BridgeSpec[]): MemorySystem {
  const m = new MemorySystem();
  const system = m.container("system", U64_MAX);
  // As on x86, the I/O root answers the ports nothing else claims (it renders its gaps).
  const io = m.reservation("io", 0x10000n);
  const pci = m.container("pci", U64_MAX);
  system.addSubregionOverlap(m.ram("ram", 0x8000000n), 0n, 0);
  system.addSubregionOverlap(pci, 0n, -1);
  const buses: { mem: MemoryRegion; io: MemoryRegion }[] = [];
  specs.forEach((spec, i) => {
    const owner = { kind: "dev" as const, key: "id" as const, value: `br${i}` };
    const parent = spec.parent < 0 ? { mem: pci, io } : buses[spec.parent];
    const mem = m.container("pci_bridge_pci", U64_MAX, { owner });
    const bio = m.container("pci_bridge_io", 0x100000000n, { owner });
    buses.push({ mem, io: bio });
    // QEMU's pci_bridge_region_init: pref-mem, mem, io, each at its window base, priority 1.
    const window = (
      name: string,
      target: MemoryRegion,
      w: BridgeSpec["mem"],
      into: MemoryRegion,
    ) => {
      const base = BigInt(w?.base ?? 0);
      const alias = m.alias(name, target, base, BigInt(w?.size ?? 0), { owner });
      if (!w) alias.setEnabled(false);
      into.addSubregionOverlap(alias, base, 1);
    };
    window("pci_bridge_pref_mem", mem, null, parent.mem);
    window("pci_bridge_mem", mem, spec.mem, parent.mem);
    window("pci_bridge_io", bio, spec.io, parent.io);
    spec.bars.forEach((at, k) => {
      const bar = m.reservation(`e1000-mmio`, 0x20000n, {
        owner: { kind: "dev", key: "id", value: `nic${i}.${k}` },
      });
      mem.addSubregionOverlap(bar, BigInt(at), 1);
    });
  });
  m.addressSpace(system, "memory");
  m.addressSpace(io, "I/O");
  return m;
}

/** The flat views as a sorted list of blocks (QEMU's block order carries no meaning). */
function flatBlocks(m: MemorySystem, owners: boolean): string[] {
  return formatMtree(m, { flat: true, owners }).split("\n\n").filter(Boolean).sort();
}

test("random bridge topologies printed with -o -D re-import to the same flat views", () => {
  fc.assert(
    fc.property(topologyArb, (specs) => {
      const original = build(specs);
      const text = formatMtree(original, { disabled: true, owners: true });
      const imported = importMtree(text);
      assert.deepEqual(flatBlocks(imported.system, true), flatBlocks(original, true));
      // And the tree prints back exactly.
      assert.equal(formatMtree(imported.system, { disabled: true, owners: true }), text);
    }),
    { numRuns: 150, seed: 20261201 },
  );
});

// Without owners, sibling bridges whose sections print alike can be told apart only by QEMU's
// queue order, and that does not always decide: the tree must still print back exactly, and the
// import must finish with a target for every alias and no loop.
test("random bridge topologies printed with -D re-import and print back exactly", () => {
  fc.assert(
    fc.property(topologyArb, (specs) => {
      const text = formatMtree(build(specs), { disabled: true });
      const imported = importMtree(text);
      assert.equal(formatMtree(imported.system, { disabled: true }), text);
      formatMtree(imported.system, { flat: true });
    }),
    { numRuns: 150, seed: 20261201 },
  );
});
