/**
 * Reads and writes: RAM copies clipped at section ends, MMIO dispatch with QEMU's validation,
 * splitting, widening and byte order, and unassigned accesses.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { dispatchRead, dispatchWrite } from "../../src/memory/access.ts";
import { type MemoryRegionOps, MemTx } from "../../src/memory/access-types.ts";
import { MemorySystem } from "../../src/memory/memory-system.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

function regs(
  values: number[],
  ops: Partial<MemoryRegionOps>,
  calls: string[] = [],
): MemoryRegionOps {
  return {
    read(offset, size) {
      calls.push(`read ${offset} ${size}`);
      let v = 0n;
      for (let i = 0; i < size; i++) v |= BigInt(values[Number(offset) + i] ?? 0) << BigInt(8 * i);
      return v;
    },
    write(offset, value, size) {
      calls.push(`write ${offset} 0x${value.toString(16)} ${size}`);
      return MemTx.ok;
    },
    ...ops,
  };
}

describe("MMIO access sizes", () => {
  test("a 4-byte read of a 1-byte device is four callbacks, assembled in device order", () => {
    const m = new MemorySystem();
    const calls: string[] = [];
    const le = m.io(
      "le",
      4n,
      regs([0xaa, 0xbb, 0xcc, 0xdd], { impl: { maxAccessSize: 1 } }, calls),
    );
    const be = m.io(
      "be",
      4n,
      regs([0xaa, 0xbb, 0xcc, 0xdd], { impl: { maxAccessSize: 1 }, endianness: "big" }),
    );
    assert.deepEqual(dispatchRead(le, 0n, 4, "little"), { value: 0xddccbbaan, result: MemTx.ok });
    assert.deepEqual(calls, ["read 0 1", "read 1 1", "read 2 1", "read 3 1"]);
    assert.deepEqual(dispatchRead(be, 0n, 4, "big"), { value: 0xaabbccddn, result: MemTx.ok });
    // Asking in the other byte order swaps.
    assert.deepEqual(dispatchRead(be, 0n, 4, "little"), { value: 0xddccbbaan, result: MemTx.ok });
  });

  test("an undersized write is widened at the same address with zero upper bytes", () => {
    const m = new MemorySystem();
    const le: string[] = [];
    const be: string[] = [];
    const dev = m.io("d", 8n, regs([], { impl: { minAccessSize: 4 } }, le));
    const bedev = m.io("b", 8n, regs([], { impl: { minAccessSize: 4 }, endianness: "big" }, be));
    dispatchWrite(dev, 1n, 0x5an, 1, "little");
    dispatchWrite(bedev, 1n, 0x5an, 1, "big");
    assert.deepEqual(le, ["write 1 0x5a 4"]);
    assert.deepEqual(be, ["write 1 0x5a000000 4"]);
  });

  test("valid limits reject with a decode error and a zero value", () => {
    const m = new MemorySystem();
    const calls: string[] = [];
    const dev = m.io(
      "d",
      8n,
      regs([1, 2, 3, 4], { valid: { minAccessSize: 2, maxAccessSize: 4 } }, calls),
    );
    assert.deepEqual(dispatchRead(dev, 0n, 1, "little"), { value: 0n, result: MemTx.decodeError });
    assert.deepEqual(dispatchRead(dev, 1n, 2, "little"), { value: 0n, result: MemTx.decodeError });
    assert.deepEqual(calls, []);
  });

  test("a zero valid maximum disables size checks, even the minimum", () => {
    const m = new MemorySystem();
    const dev = m.io("d", 8n, regs([7], { valid: { minAccessSize: 4 } }));
    assert.equal(dispatchRead(dev, 0n, 1, "little").result, MemTx.ok);
  });

  test("accepts() can veto an access", () => {
    const m = new MemorySystem();
    const dev = m.io("d", 8n, regs([7], { valid: { accepts: () => false } }));
    assert.equal(dispatchRead(dev, 0n, 1, "little").result, MemTx.decodeError);
  });
});

describe("address space accesses", () => {
  test("an MMIO access is not clipped at the section end (0xcf8 wins over 0xcf9)", () => {
    const m = new MemorySystem();
    const io = m.container("io", 0x10000n);
    const calls: string[] = [];
    io.addSubregion(m.io("pci-conf-idx", 4n, regs([1, 2, 3, 4], {}, calls)), 0xcf8n);
    io.addSubregionOverlap(m.io("reset", 1n, regs([9], {})), 0xcf9n, 1);
    const as = m.addressSpace(io, "I/O");
    const r = as.read(0xcf8n, 4);
    assert.deepEqual(calls, ["read 0 4"]);
    assert.deepEqual([...r.data], [1, 2, 3, 4]);
  });

  test("RAM reads and writes cross section boundaries and stay exact", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const a = m.ram("a", 0x1000n);
    const b = m.ram("b", 0x1000n);
    root.addSubregion(a, 0n);
    root.addSubregion(b, 0x1000n);
    const as = m.addressSpace(root);
    assert.equal(as.write(0xffen, bytes(1, 2, 3, 4)), MemTx.ok);
    assert.deepEqual([...as.read(0xffen, 4).data], [1, 2, 3, 4]);
    const tail = new Uint8Array(2);
    b.ramBlock!.read(0n, tail);
    assert.deepEqual([...tail], [3, 4]);
  });

  test("unassigned addresses read as zero with a decode error; the rest of the access continues", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const ram = m.ram("ram", 0x1000n);
    root.addSubregion(ram, 0x1000n);
    const as = m.addressSpace(root);
    as.write(0x1000n, bytes(0xaa, 0xbb));
    const r = as.read(0xffcn, 6);
    assert.equal(r.result, MemTx.decodeError);
    assert.deepEqual([...r.data], [0, 0, 0, 0, 0xaa, 0xbb]);
  });

  test("a ROM drops writes with a decode error", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const rom = m.rom("bios", 0x1000n);
    root.addSubregion(rom, 0n);
    const as = m.addressSpace(root);
    assert.equal(as.write(0x10n, bytes(1)), MemTx.decodeError);
    assert.deepEqual([...as.read(0x10n, 1).data], [0]);
  });

  test("a read-only alias over RAM does not stop a write through the address space", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const ram = m.ram("ram", 0x10000n);
    const alias = m.alias("ro", ram, 0n, 0x10000n);
    alias.setReadonly(true);
    root.addSubregion(alias, 0n);
    const as = m.addressSpace(root);
    assert.equal(as.write(0x10n, bytes(7)), MemTx.ok);
    assert.deepEqual([...as.read(0x10n, 1).data], [7]);
  });

  test("a ROM device reads memory in ROMD mode and calls the device otherwise", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const calls: string[] = [];
    const flash = m.romDevice("flash", 0x1000n, regs([0x42], {}, calls));
    root.addSubregion(flash, 0n);
    const as = m.addressSpace(root);
    flash.ramBlock!.write(0n, bytes(0x11));
    assert.deepEqual([...as.read(0n, 1).data], [0x11]);
    as.write(0n, bytes(0x99));
    flash.setRomdMode(false);
    assert.equal(flash.typeName, "i/o");
    assert.deepEqual([...as.read(0n, 1).data], [0x42]);
    assert.deepEqual(calls, ["write 0 0x99 1", "read 0 1"]);
  });

  test("a RAM device is reached through callbacks on its memory", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const dev = m.ramDevice("bar", 0x1000n);
    root.addSubregion(dev, 0x2000n);
    const as = m.addressSpace(root);
    assert.equal(as.write(0x2003n, bytes(1, 2, 3)), MemTx.ok);
    assert.deepEqual([...as.read(0x2003n, 3).data], [1, 2, 3]);
  });

  test("a memory-only access to MMIO is an access error", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    root.addSubregion(m.io("d", 4n, regs([1], {})), 0n);
    const as = m.addressSpace(root);
    assert.equal(as.read(0n, 1, { memory: true }).result, MemTx.accessError);
  });

  test("RAM is sparse: a 1 TiB region allocates only what is written", () => {
    const m = new MemorySystem();
    const root = m.container("root", 1n << 64n);
    const ram = m.ram("big", 1n << 40n);
    root.addSubregion(ram, 0n);
    const as = m.addressSpace(root);
    as.write((1n << 40n) - 2n, bytes(5, 6));
    assert.deepEqual([...as.read((1n << 40n) - 2n, 2).data], [5, 6]);
    assert.ok(ram.ramBlock!.allocatedBytes <= 1 << 16);
  });
});

describe("accesses at the top of the address space", () => {
  test("an access running past 2^64 continues at address 0 (hwaddr arithmetic), and ends", () => {
    const m = new MemorySystem();
    const root = m.container("root", 1n << 64n);
    root.addSubregion(m.ram("low", 0x1000n), 0n);
    root.addSubregion(m.ram("top", 0x1000n), (1n << 64n) - 0x1000n);
    const as = m.addressSpace(root);
    as.write(0n, bytes(7, 8));
    as.write((1n << 64n) - 2n, bytes(5, 6));
    const r = as.read((1n << 64n) - 2n, 4);
    assert.equal(r.result, MemTx.ok);
    assert.deepEqual([...r.data], [5, 6, 7, 8]);
    const hole = m.addressSpace(m.container("empty", 1n << 64n));
    assert.equal(hole.read((1n << 64n) - 1n, 45).result, MemTx.decodeError);
  });
});
