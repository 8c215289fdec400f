/**
 * Flat-view rendering, as QEMU's memory documentation and the recorded machines describe it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { U64_MAX } from "../../src/memory/int.ts";
import { MemorySystem } from "../../src/memory/memory-system.ts";
import { flatViewRoot } from "../../src/memory/render.ts";
import { flatOf, NOOP_OPS } from "./helpers.ts";

describe("priority and holes (docs/devel/memory.rst)", () => {
  // A: root container 0x8000. B: container at 0x2000 size 0x4000, prio 2, holding D (0x1000 @0)
  // and E (0x1000 @0x2000). C: MMIO at 0 size 0x6000, prio 1.
  function build(bRendersItself: boolean) {
    const m = new MemorySystem();
    const a = m.container("A", 0x8000n);
    const b = bRendersItself ? m.io("B", 0x4000n, NOOP_OPS) : m.container("B", 0x4000n);
    b.addSubregion(m.io("D", 0x1000n, NOOP_OPS), 0n);
    b.addSubregion(m.io("E", 0x1000n, NOOP_OPS), 0x2000n);
    a.addSubregionOverlap(b, 0x2000n, 2);
    a.addSubregionOverlap(m.io("C", 0x6000n, NOOP_OPS), 0n, 1);
    return m.addressSpace(a, "as");
  }

  test("a higher-priority container leaves holes through which a lower sibling shows", () => {
    assert.deepEqual(flatOf(build(false)), [
      "0-1fff C@0",
      "2000-2fff D@0",
      "3000-3fff C@3000",
      "4000-4fff E@0",
      "5000-5fff C@5000",
    ]);
  });

  test("a region with callbacks fills its own gaps and hides the lower sibling", () => {
    assert.deepEqual(flatOf(build(true)), [
      "0-1fff C@0",
      "2000-2fff D@0",
      "3000-3fff B@1000",
      "4000-4fff E@0",
      "5000-5fff B@3000",
    ]);
  });
});

describe("subregion order", () => {
  test("the most recently added of equal-priority overlapping siblings wins", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x10000n);
    root.addSubregion(m.ram("X", 0x1000n), 0n);
    root.addSubregion(m.io("Y", 0x1000n, NOOP_OPS), 0x800n);
    const as = m.addressSpace(root);
    assert.deepEqual(flatOf(as), ["0-7ff X@0", "800-17ff Y@0"]);
  });

  test("insertion order decides the other way round too", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x10000n);
    root.addSubregion(m.io("Y", 0x1000n, NOOP_OPS), 0x800n);
    root.addSubregion(m.ram("X", 0x1000n), 0n);
    assert.deepEqual(flatOf(m.addressSpace(root)), ["0-fff X@0", "1000-17ff Y@800"]);
  });

  test("setAddress re-adds the region, so it then wins ties", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x10000n);
    const x = m.ram("X", 0x1000n);
    root.addSubregion(x, 0n);
    root.addSubregion(m.io("Y", 0x1000n, NOOP_OPS), 0n);
    const as = m.addressSpace(root);
    assert.deepEqual(flatOf(as), ["0-fff Y@0"]);
    x.setAddress(0x4000n);
    x.setAddress(0n);
    assert.deepEqual(flatOf(as), ["0-fff X@0"]);
  });

  test("setAddress to the same address changes nothing", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x10000n);
    const x = m.ram("X", 0x1000n);
    root.addSubregion(x, 0n);
    root.addSubregion(m.io("Y", 0x1000n, NOOP_OPS), 0n);
    const as = m.addressSpace(root);
    x.setAddress(0n);
    assert.deepEqual(flatOf(as), ["0-fff Y@0"]);
  });

  test("higher priority wins whatever the order", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x10000n);
    root.addSubregionOverlap(m.io("hi", 1n, NOOP_OPS), 0xcf9n, 1);
    root.addSubregion(m.io("pci-conf-idx", 4n, NOOP_OPS), 0xcf8n);
    assert.deepEqual(flatOf(m.addressSpace(root)), [
      "cf8-cf8 pci-conf-idx@0",
      "cf9-cf9 hi@0",
      "cfa-cfb pci-conf-idx@2",
    ]);
  });

  test("a terminating region's own subregions beat it, whatever their priority", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x10000n);
    const io = m.io("io", 0x100n, NOOP_OPS);
    const rtc = m.io("rtc", 2n, NOOP_OPS);
    rtc.addSubregionOverlap(m.io("rtc-index", 1n, NOOP_OPS), 0n, -5);
    io.addSubregion(rtc, 0x70n);
    root.addSubregion(io, 0n);
    assert.deepEqual(flatOf(m.addressSpace(root)), [
      "0-6f io@0",
      "70-70 rtc-index@0",
      "71-71 rtc@1",
      "72-ff io@72",
    ]);
  });
});

describe("aliases", () => {
  test("an alias renders its target at the alias offset; the target's own address cancels", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x200000n);
    const ram = m.ram("ram", 0x100000n);
    root.addSubregion(ram, 0x5000n);
    const sub = m.container("sub", 0x10000n);
    sub.addSubregion(m.alias("a", ram, 0x80000n, 0x1000n), 0x1000n);
    root.addSubregionOverlap(sub, 0x180000n, 1);
    assert.deepEqual(flatOf(m.addressSpace(root)), [
      "5000-104fff ram@0",
      "181000-181fff ram@80000",
    ]);
  });

  test("the base may go negative during alias rendering and the offset still comes out right", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x10000n);
    const ram = m.ram("ram", 0x100000n);
    root.addSubregion(m.alias("low", ram, 0x80000n, 0x1000n), 0x1000n);
    assert.deepEqual(flatOf(m.addressSpace(root)), ["1000-1fff ram@80000"]);
  });

  test("aliases tiling a region contiguously merge into one range", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const ram = m.ram("ram", 0x3000n);
    root.addSubregion(m.alias("a0", ram, 0n, 0x1000n), 0n);
    root.addSubregion(m.alias("a1", ram, 0x1000n, 0x1000n), 0x1000n);
    root.addSubregion(m.alias("a2", ram, 0x2000n, 0x1000n), 0x2000n);
    assert.deepEqual(flatOf(m.addressSpace(root)), ["0-2fff ram@0"]);
  });

  test("a read-only alias makes its range read-only without changing the tree type", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const ram = m.ram("pc.ram", 0x100000n);
    const rom = m.alias("pam-rom", ram, 0xc0000n, 0x4000n);
    rom.setReadonly(true);
    root.addSubregionOverlap(rom, 0xc0000n, 1);
    assert.equal(rom.typeName, "ram");
    assert.deepEqual(flatOf(m.addressSpace(root)), ["c0000-c3fff pc.ram@c0000 ro"]);
  });

  test("the alias target's size still clips", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const ram = m.ram("ram", 0x1000n);
    root.addSubregion(m.alias("big", ram, 0x800n, 0x4000n), 0x10000n);
    assert.deepEqual(flatOf(m.addressSpace(root)), ["10000-107ff ram@800"]);
  });
});

describe("clipping and edge sizes", () => {
  test("a subregion is clipped to its container", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const k = m.container("K", 0x1000n);
    k.addSubregion(m.ram("R", 0x2000n), 0x800n);
    root.addSubregion(k, 0x10000n);
    assert.deepEqual(flatOf(m.addressSpace(root)), ["10800-10fff R@0"]);
  });

  test("disabled and zero-sized regions render nothing and hide nothing", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x10000n);
    root.addSubregion(m.ram("low", 0x1000n), 0n);
    const off = m.io("off", 0x1000n, NOOP_OPS);
    off.setEnabled(false);
    root.addSubregionOverlap(off, 0n, 5);
    root.addSubregionOverlap(m.io("empty", 0n, NOOP_OPS), 0x10n, 5);
    assert.deepEqual(flatOf(m.addressSpace(root)), ["0-fff low@0"]);
  });

  test("a 2^64 root reaches the last byte", () => {
    const m = new MemorySystem();
    const root = m.container("system", U64_MAX);
    assert.equal(root.size, 1n << 64n);
    root.addSubregion(m.ram("top", 0x1000n), (1n << 64n) - 0x1000n);
    assert.deepEqual(flatOf(m.addressSpace(root)), ["fffffffffffff000-ffffffffffffffff top@0"]);
  });

  test("a region overflowing 2^64 is clipped at the top of the space", () => {
    const m = new MemorySystem();
    const root = m.container("system", U64_MAX);
    root.addSubregion(m.ram("over", 0x2000n), (1n << 64n) - 0x1000n);
    assert.deepEqual(flatOf(m.addressSpace(root)), ["fffffffffffff000-ffffffffffffffff over@0"]);
  });

  test("sizes above 2^64 are refused", () => {
    const m = new MemorySystem();
    assert.throws(() => m.ram("huge", (1n << 64n) + 1n), RangeError);
  });
});

describe("flat view roots", () => {
  test("a container with one child at 0 collapses to it, and address spaces share the view", () => {
    const m = new MemorySystem();
    const pciRoot = m.container("iommu-root", U64_MAX);
    pciRoot.addSubregion(m.io("msi", 0x1000n, NOOP_OPS), 0x40000000000n);
    const bm = m.container("bus master container", U64_MAX);
    bm.addSubregion(m.alias("bus master", pciRoot, 0n, U64_MAX), 0n);
    const a = m.addressSpace(pciRoot, "pci");
    const b = m.addressSpace(bm, "dev");
    assert.equal(flatViewRoot(bm), pciRoot);
    assert.equal(a.view, b.view);
  });

  test("a disabled alias gives the shared empty view", () => {
    const m = new MemorySystem();
    const target = m.container("t", U64_MAX);
    const bm = m.container("bm", U64_MAX);
    const alias = m.alias("bus master", target, 0n, U64_MAX);
    alias.setEnabled(false);
    bm.addSubregion(alias, 0n);
    const other = m.container("other", 0x1000n);
    const a = m.addressSpace(bm, "a");
    const b = m.addressSpace(other, "b");
    assert.equal(flatViewRoot(bm), null);
    assert.equal(a.view, b.view);
    assert.equal(a.view.root, null);
  });
});

describe("lookup", () => {
  test("is exact around 2^53, where doubles stop being exact", () => {
    const m = new MemorySystem();
    const root = m.container("root", U64_MAX);
    const p = 1n << 53n;
    root.addSubregion(m.ram("below", 0x10n), p - 0x10n);
    root.addSubregion(m.ram("at", 1n), p);
    root.addSubregion(m.ram("above", 0x10n), p + 1n);
    const as = m.addressSpace(root);
    const name = (a: bigint) => as.view.lookup(a)?.mr.name ?? "-";
    assert.deepEqual([p - 0x11n, p - 1n, p, p + 1n, p + 0x10n, p + 0x11n].map(name), [
      "-",
      "below",
      "at",
      "above",
      "above",
      "-",
    ]);
    const small = m.addressSpace(m.container("small", 0x100000n));
    assert.equal(small.view.lookup(p), undefined);
  });
});
