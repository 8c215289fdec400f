/**
 * Translation and DMA through IOMMUs: QEMU's address arithmetic, permission faults that fail the
 * access, IOMMUs behind IOMMUs (checked against a byte-by-byte reference), and map/unmap.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { dmaMap, dmaRead, dmaUnmap, dmaWrite } from "../../src/iommu/dma.ts";
import { IommuNotifierFlag } from "../../src/iommu/notifier.ts";
import { PageTableIommu } from "../../src/iommu/page-table-iommu.ts";
import type { AddressSpace } from "../../src/memory/address-space.ts";
import type { IommuPermission, IommuTlbEntry } from "../../src/memory/iommu-types.ts";
import { MemorySystem } from "../../src/memory/memory-system.ts";

function machine(ramSize = 0x100000n) {
  const m = new MemorySystem();
  const system = m.container("system", (1n << 64n) - 1n);
  const ram = m.ram("ram", ramSize);
  system.addSubregion(ram, 0n);
  const memory = m.addressSpace(system, "memory");
  return { m, system, ram, memory };
}

describe("translation", () => {
  test("an IOMMU at 0x10000 maps iova 0x2000 to 0x80000: 0x12345 lands on 0x80345", () => {
    const { m, memory } = machine();
    const table = new PageTableIommu(m, "iommu", 0x100000n, memory, 12);
    const busRoot = m.container("bus", (1n << 64n) - 1n);
    busRoot.addSubregion(table.iommu.region, 0x10000n);
    const bus = m.addressSpace(busRoot, "dev");
    const log: IommuTlbEntry[] = [];
    table.iommu.registerNotifier({
      flags: IommuNotifierFlag.iotlbEvents,
      start: 0x2800n,
      end: 0x2fffn,
      iommuIdx: 0,
      notify: (e) => log.push(e),
    });
    table.map(0x2000n, 0x80000n, 3);
    const t = bus.translate(0x12345n, 0x10000n, false);
    assert.equal(t.addressSpace, memory);
    assert.equal(t.xlat, 0x80345n);
    assert.ok(t.plen <= 0xcbbn, `plen ${t.plen.toString(16)}`);
    assert.deepEqual(
      log.map((e) => [e.iova, e.addrMask, e.translatedAddr]),
      [[0x2800n, 0x7ffn, 0x80000n]],
    );
  });

  test("a missing permission fails the whole access and names the faulting address", () => {
    const { m, memory } = machine();
    const table = new PageTableIommu(m, "iommu", 0x100000n, memory, 12);
    const bus = m.addressSpace(table.iommu.region, "dev");
    table.map(0x0n, 0x4000n, 1);
    table.map(0x1000n, 0x5000n, 3);
    // Read-only page: the device may read it but not write it.
    assert.equal(dmaWrite(bus, 0xff0n, new Uint8Array(0x20).fill(9)).status, "permission-fault");
    const r = dmaRead(bus, 0xff0n, 0x20);
    assert.equal(r.status, "ok");
    assert.deepEqual([...r.data.subarray(0, 0x10)], Array(0x10).fill(0));
    assert.deepEqual([...r.data.subarray(0x10)], Array(0x10).fill(9));
    const w = dmaWrite(bus, 0x1ff0n, new Uint8Array(0x20));
    assert.equal(w.status, "permission-fault");
    assert.equal(w.faultAddress, 0x2000n);
  });

  test("a translation into a hole is a decode error, not a fault", () => {
    const { m, memory } = machine(0x10000n);
    const table = new PageTableIommu(m, "iommu", 0x100000n, memory, 12);
    const bus = m.addressSpace(table.iommu.region, "dev");
    table.map(0x0n, 0x400000n, 3);
    assert.equal(dmaRead(bus, 0n, 4).status, "decode-error");
  });
});

describe("IOMMUs behind IOMMUs, against a reference", () => {
  interface Level {
    shift: number;
    base: bigint;
    entries: Map<number, { target: bigint; perm: IommuPermission }>;
  }
  const RAM = 0x10000;
  const SPACE = 0x40000n;

  /** The reference: where byte `x` of the device's space ends up, or why it does not. */
  function resolveByte(levels: Level[], x: bigint, write: boolean): bigint | "fault" | "decode" {
    let a = x;
    for (const level of levels) {
      if (a < level.base || a >= level.base + SPACE) return "decode";
      const off = a - level.base;
      const e = level.entries.get(Number(off >> BigInt(level.shift)));
      if (!e || !(e.perm & (write ? 2 : 1))) return "fault";
      a = e.target + (off & ((1n << BigInt(level.shift)) - 1n));
    }
    return a < BigInt(RAM) ? a : "decode";
  }

  const levelArb = fc.record({
    shift: fc.constantFrom(12, 13, 16),
    base: fc.constantFrom(0n, 0x1000n, 0x10000n),
    entries: fc.array(
      fc.record({
        page: fc.nat(63),
        targetPage: fc.nat(0x3f),
        perm: fc.constantFrom<IommuPermission>(0, 1, 2, 3),
      }),
      { maxLength: 12 },
    ),
  });
  const accessArb = fc.record({
    addr: fc.bigInt({ min: 0n, max: SPACE + 0x10000n }),
    length: fc.integer({ min: 1, max: 300 }),
    write: fc.boolean(),
    byte: fc.integer({ min: 1, max: 255 }),
  });

  test("DMA equals a byte-by-byte walk of the page tables", () => {
    fc.assert(
      fc.property(
        fc.array(levelArb, { minLength: 1, maxLength: 3 }),
        fc.array(accessArb, { maxLength: 8 }),
        (specs, accesses) => {
          const { m, memory } = machine(BigInt(RAM));
          const levels: Level[] = [];
          // Build from memory outwards: each IOMMU translates into the address space below it.
          let below: AddressSpace = memory;
          const built: Level[] = [];
          for (const [i, spec] of specs.entries()) {
            const table = new PageTableIommu(m, `iommu${i}`, SPACE, below, spec.shift);
            const root = m.container(`bus${i}`, (1n << 64n) - 1n);
            root.addSubregion(table.iommu.region, spec.base);
            const level: Level = { shift: spec.shift, base: spec.base, entries: new Map() };
            for (const e of spec.entries) {
              const pageSize = 1 << spec.shift;
              if (e.page * pageSize >= Number(SPACE)) continue;
              const target = BigInt(e.targetPage * pageSize) % (SPACE + 0x10000n);
              table.map(BigInt(e.page * pageSize), target, e.perm);
              if (e.perm) level.entries.set(e.page, { target, perm: e.perm });
              else level.entries.delete(e.page);
            }
            built.unshift(level);
            below = m.addressSpace(root, `as${i}`);
          }
          levels.push(...built);
          const device = below;
          const shadow = new Uint8Array(RAM);
          for (const a of accesses) {
            const targets = Array.from({ length: a.length }, (_, k) =>
              resolveByte(levels, a.addr + BigInt(k), a.write),
            );
            const want = targets.includes("fault")
              ? "permission-fault"
              : targets.includes("decode")
                ? "decode-error"
                : "ok";
            if (a.write) {
              const r = dmaWrite(device, a.addr, new Uint8Array(a.length).fill(a.byte));
              assert.equal(r.status, want);
              for (const t of targets) if (typeof t === "bigint") shadow[Number(t)] = a.byte;
            } else {
              const r = dmaRead(device, a.addr, a.length);
              assert.equal(r.status, want);
              assert.deepEqual(
                [...r.data],
                targets.map((t) => (typeof t === "bigint" ? shadow[Number(t)] : 0)),
              );
            }
          }
          const all = dmaRead(memory, 0n, RAM);
          assert.deepEqual(all.data, shadow);
        },
      ),
      { numRuns: 300, seed: 1 },
    );
  });
});

describe("map and unmap", () => {
  test("RAM maps directly, across contiguous pieces of the same region", () => {
    const { m, memory, ram } = machine();
    const table = new PageTableIommu(m, "iommu", 0x100000n, memory, 12);
    const bus = m.addressSpace(table.iommu.region, "dev");
    table.map(0x0n, 0x8000n, 3);
    table.map(0x1000n, 0x9000n, 3);
    table.map(0x2000n, 0x20000n, 3);
    const r = dmaMap(bus, 0x800n, 0x3000, true);
    assert.equal(r.status, "ok");
    // Extended over the next IOMMU page (contiguous in RAM), not the third (elsewhere).
    assert.equal(r.mapping!.direct, true);
    assert.equal(r.mapping!.length, 0x1800);
    r.mapping!.write(0, Uint8Array.of(1, 2));
    dmaUnmap(r.mapping!, 2);
    const out = new Uint8Array(2);
    ram.ramBlock!.read(0x8800n, out);
    assert.deepEqual([...out], [1, 2]);
    const direct = dmaMap(memory, 0x100n, 0x4000, false);
    assert.equal(direct.mapping!.length, 0x4000);
  });

  test("MMIO goes through the single bounce buffer, written back at unmap", () => {
    const { m, system, memory } = machine();
    const written: string[] = [];
    system.addSubregion(
      m.io("dev", 0x1000n, {
        read: (_o, size) => 0x5a5a5a5an & ((1n << BigInt(8 * size)) - 1n),
        write: (o, v, s) => {
          written.push(`${o}:${v}/${s}`);
          return 0;
        },
        valid: { maxAccessSize: 4 },
      }),
      0x200000n,
    );
    const first = dmaMap(memory, 0x200000n, 0x2000, true);
    assert.equal(first.mapping!.direct, false);
    assert.equal(first.mapping!.length, 0x1000);
    const second = dmaMap(memory, 0x200000n, 4, false);
    assert.equal(second.status, "ok");
    assert.equal(second.mapping, null);
    first.mapping!.write(0, Uint8Array.of(7, 0, 0, 0));
    dmaUnmap(first.mapping!, 4);
    assert.deepEqual(written, ["0:7/4"]);
    const again = dmaMap(memory, 0x200000n, 2, false);
    const buf = new Uint8Array(2);
    again.mapping!.read(0, buf);
    assert.deepEqual([...buf], [0x5a, 0x5a]);
  });

  test("mapping through a fault reports it", () => {
    const { m, memory } = machine();
    const table = new PageTableIommu(m, "iommu", 0x100000n, memory, 12);
    const bus = m.addressSpace(table.iommu.region, "dev");
    assert.equal(dmaMap(bus, 0n, 16, false).status, "permission-fault");
  });
});
