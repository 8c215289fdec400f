/**
 * `info mtree` text for models built through the API: the details the recorded machines rarely
 * show (overflow, zero sizes, orphans, disabled aliases, non-volatile regions).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { U64_MAX } from "../../src/memory/int.ts";
import { MemorySystem } from "../../src/memory/memory-system.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { NOOP_OPS } from "./helpers.ts";

function pc() {
  const m = new MemorySystem();
  const system = m.container("system", U64_MAX);
  const ram = m.ram("pc.ram", 0x8000000n, {
    owner: { kind: "obj", key: "path", value: "/objects/pc.ram" },
  });
  system.addSubregion(m.alias("ram-below-4g", ram, 0n, 0x8000000n), 0n);
  const smram = m.container("smram", 0x100000000n);
  smram.setEnabled(false);
  smram.addSubregion(m.alias("smram-low", ram, 0xa0000n, 0x20000n), 0xa0000n);
  const bm = m.alias("bus master", system, 0n, U64_MAX);
  bm.setEnabled(false);
  const bmc = m.container("bus master container", U64_MAX);
  bmc.addSubregion(bm, 0n);
  m.addressSpace(system, "memory");
  m.addressSpace(bmc, "PIIX3");
  return { m, smram };
}

describe("tree mode", () => {
  test("alias targets get memory-region sections, even behind a disabled alias", () => {
    const { m } = pc();
    assert.equal(
      formatMtree(m),
      [
        "address-space: memory",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
        "    0000000000000000-0000000007ffffff (prio 0, ram): alias ram-below-4g @pc.ram 0000000000000000-0000000007ffffff",
        "",
        "address-space: PIIX3",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container",
        "",
        "memory-region: pc.ram",
        "  0000000000000000-0000000007ffffff (prio 0, ram): pc.ram",
        "",
        "memory-region: system",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
        "    0000000000000000-0000000007ffffff (prio 0, ram): alias ram-below-4g @pc.ram 0000000000000000-0000000007ffffff",
        "",
        "",
      ].join("\n"),
    );
  });

  test("-D shows disabled regions; without it their children still print, deeper", () => {
    const { m, smram } = pc();
    m.container("holder", 0x10n).addSubregion(smram, 0n);
    const root = m.container("root", 0x200000000n);
    root.addSubregion(smram.container!, 0n);
    m.addressSpace(root, "smm");
    const plain = formatMtree(m);
    assert.match(
      plain,
      /\n {8}00000000000a0000-00000000000bffff \(prio 0, ram\): alias smram-low @pc\.ram/,
    );
    assert.doesNotMatch(plain, /smram \[disabled\]/);
    assert.match(
      formatMtree(m, { disabled: true }),
      /\n {6}0000000000000000-00000000ffffffff \(prio 0, i\/o\): smram \[disabled\]\n/,
    );
  });

  test("-o prints owners, QOM parents and orphans", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x1000n, {
      owner: { kind: "dev", key: "id", value: "dev0" },
      parent: { kind: "obj", key: "path", value: "/machine" },
    });
    root.addSubregion(m.ram("a", 0x10n), 0n);
    const orphan = m.ram("b", 0x10n);
    orphan.parent = undefined;
    root.addSubregion(orphan, 0x10n);
    m.addressSpace(root, "as");
    assert.equal(
      formatMtree(m, { owners: true }),
      [
        "address-space: as",
        "  0000000000000000-0000000000000fff (prio 0, i/o): root owner:{dev id=dev0} parent:{obj path=/machine}",
        "    0000000000000000-000000000000000f (prio 0, ram): a parent:{obj path=/machine/unattached}",
        "    0000000000000010-000000000000001f (prio 0, ram): b orphan",
        "",
        "",
      ].join("\n"),
    );
  });

  test("zero-sized regions print START-START; overflowing ones are flagged", () => {
    const m = new MemorySystem();
    const root = m.container("root", U64_MAX);
    root.addSubregion(m.io("empty", 0n, NOOP_OPS), 0x10n);
    root.addSubregion(m.ram("wraps", 0x2000n), U64_MAX - 0xfffn);
    m.addressSpace(root, "as");
    const text = formatMtree(m);
    assert.match(text, /\n {4}0000000000000010-0000000000000010 \(prio 0, i\/o\): empty\n/);
    assert.match(
      text,
      /\n\[DETECTED OVERFLOW!\] {5}fffffffffffff000-0000000000000fff \(prio 0, ram\): wraps\n/,
    );
  });

  test("children print by address, then priority, then newest first", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x10000n);
    root.addSubregion(m.io("old", 0x10n, NOOP_OPS), 0n);
    root.addSubregion(m.io("new", 0x10n, NOOP_OPS), 0n);
    root.addSubregionOverlap(m.io("high", 0x10n, NOOP_OPS), 0n, 1);
    root.addSubregionOverlap(m.io("first", 0x10n, NOOP_OPS), 0n, -1);
    m.addressSpace(root, "as");
    const names = formatMtree(m)
      .split("\n")
      .slice(2, 6)
      .map((l) => l.split(": ")[1]);
    assert.deepEqual(names, ["high", "new", "old", "first"]);
  });
});

describe("flat mode", () => {
  test("address spaces that share a view are listed together; nv- and rom are inherited", () => {
    const m = new MemorySystem();
    const system = m.container("system", U64_MAX);
    const nv = m.ram("nv0", 0x1000n);
    const nvAlias = m.alias("nvdimm-memory", nv, 0n, 0x1000n);
    nvAlias.setNonvolatile(true);
    system.addSubregion(nvAlias, 0x100000000n);
    const bmc = m.container("bus master container", U64_MAX);
    const bm = m.alias("bus master", system, 0n, U64_MAX);
    bmc.addSubregion(bm, 0n);
    m.addressSpace(system, "memory");
    m.addressSpace(bmc, "dev");
    assert.equal(
      formatMtree(m, { flat: true }),
      [
        "FlatView #0",
        ' AS "memory", root: system',
        ' AS "dev", root: bus master container',
        " Root memory region: system",
        "  0000000100000000-0000000100000fff (prio 0, nv-ram): nv0",
        "",
        "",
      ].join("\n"),
    );
    bm.setEnabled(false);
    assert.match(
      formatMtree(m, { flat: true }),
      /Root memory region: \(none\)\n {2}No rendered FlatView\n/,
    );
  });
});
