/**
 * Hostile `info mtree` texts: very deep trees, long alias chains, many address spaces, large
 * flat hints, very long lines. None may overflow the stack or hang, and the work done (counted
 * in inner-loop steps, not timed) must grow in proportion to the input: twice the input, at most
 * about twice the steps.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { U64_MAX } from "../../src/memory/int.ts";
import { MemorySystem } from "../../src/memory/memory-system.ts";
import { importMtree, importWork } from "../../src/memory/mtree/import.ts";
import { MtreeSyntaxError, parseMtreeFlat, parseMtreeTree } from "../../src/memory/mtree/parse.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { renderWork } from "../../src/memory/render.ts";
import {
  aliasChain,
  deepTree,
  longAliasLine,
  longAsLine,
  manyGroups,
  manyRanges,
} from "./mtree-inputs.ts";

/** Steps an import (and its flat and `-D` printing) takes. */
function work(tree: string, flat?: string): number {
  const before = importWork.steps + renderWork.steps;
  const result = importMtree(tree, flat);
  formatMtree(result.system, { flat: true });
  formatMtree(result.system, { disabled: true });
  return importWork.steps + renderWork.steps - before;
}

/** Asserts work(2n) <= 2.2 * work(n) + slack. */
function assertLinear(label: string, size: number, make: (n: number) => number): void {
  const small = make(size);
  const large = make(2 * size);
  assert.ok(small > 0, `${label}: the counters moved`);
  assert.ok(
    large <= 2.2 * small + 200,
    `${label}: ${size} -> ${small} steps, ${2 * size} -> ${large} steps`,
  );
}

/** A bridge owning n address spaces and a device behind it owning n more, as `-o -D` text. */
function bridgeWithManySpaces(n: number): string {
  const m = new MemorySystem();
  const system = m.container("system", U64_MAX);
  m.addressSpace(system, "memory");
  const bridge = { kind: "dev" as const, key: "id" as const, value: "br0" };
  const device = { kind: "dev" as const, key: "id" as const, value: "nic0" };
  const secondary = m.container("pci_bridge_pci", U64_MAX, { owner: bridge });
  secondary.addSubregion(m.reservation("nic-mmio", 0x1000n, { owner: device }), 0n);
  const bridgeRoot = m.container("bus master container", U64_MAX, { owner: bridge });
  bridgeRoot.addSubregion(secondary, 0n);
  const deviceRoot = m.container("bus master container", U64_MAX, { owner: device });
  for (let i = 0; i < n; i++) {
    m.addressSpace(deviceRoot, `nic${i}`);
    m.addressSpace(bridgeRoot, `br${i}`);
  }
  return formatMtree(m, { disabled: true, owners: true });
}

describe("no input overflows the stack", () => {
  test("a tree nested 3400 levels deep imports, renders and prints", () => {
    const result = importMtree(deepTree(3400));
    const tree = formatMtree(result.system, { disabled: true });
    assert.equal(tree.split("\n").length, 3400 + 3);
    assert.match(formatMtree(result.system, { flat: true }), /Root memory region: c3400/);
  });

  test("a chain of 20 000 aliases imports, renders through to the RAM and prints", () => {
    const result = importMtree(aliasChain(20_000));
    const flat = formatMtree(result.system, { flat: true });
    assert.match(flat, /\(prio 0, ram\): a20000\n/);
    const tree = formatMtree(result.system, { disabled: true });
    assert.equal(tree.match(/^memory-region: /gm)?.length, 20_000);
  });

  test("an alias that leads back to itself through other aliases is refused with its line", () => {
    const text = [
      "address-space: memory",
      "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
      "    0000000000000000-0000000000000fff (prio 0, ram): alias a @b 0000000000000000-0000000000000fff",
      "",
      "memory-region: b",
      "  0000000000000000-0000000000000fff (prio 0, ram): alias b @c 0000000000000000-0000000000000fff",
      "",
      "memory-region: c",
      "  0000000000000000-0000000000000fff (prio 0, ram): alias c @b 0000000000000000-0000000000000fff",
      "",
      "",
    ].join("\n");
    assert.throws(
      () => importMtree(text),
      (e) => e instanceof MtreeSyntaxError && e.line === 6 && /alias b loops/.test(e.expected),
    );
  });

  test("a container aliased into itself at offset 0 renders once instead of forever", () => {
    const text = [
      "address-space: memory",
      "  0000000000000000-000000000000ffff (prio 0, i/o): loop",
      "    0000000000000000-000000000000ffff (prio 0, i/o): alias self @loop 0000000000000000-000000000000ffff",
      "    0000000000001000-0000000000001fff (prio 0, ram): ram",
      "",
      "memory-region: loop",
      "  0000000000000000-000000000000ffff (prio 0, i/o): loop",
      "    0000000000000000-000000000000ffff (prio 0, i/o): alias self @loop 0000000000000000-000000000000ffff",
      "    0000000000001000-0000000000001fff (prio 0, ram): ram",
      "",
      "",
    ].join("\n");
    const flat = formatMtree(importMtree(text).system, { flat: true });
    assert.match(flat, /0000000000001000-0000000000001fff \(prio 0, ram\): ram\n/);
  });
});

describe("the importer's work grows in proportion to its input", () => {
  test("nesting depth", () => assertLinear("deepTree", 400, (n) => work(deepTree(n))));
  test("alias chain length", () => assertLinear("aliasChain", 2000, (n) => work(aliasChain(n))));
  test("address-space groups sharing an alias target", () =>
    assertLinear("manyGroups", 1000, (n) => work(manyGroups(n))));
  test("a bridge and a device behind it, each owning many address spaces", () =>
    assertLinear("bridgeWithManySpaces", 1000, (n) => work(bridgeWithManySpaces(n))));
  test("flat hint ranges", () =>
    assertLinear("manyRanges", 1000, (n) => {
      const { tree, flat } = manyRanges(n);
      return work(tree, flat);
    }));
});

describe("long lines parse in linear time", () => {
  test("a 180 KB alias line full of ' @' and braces keeps its name and target", () => {
    const text = longAliasLine(180_000);
    const tree = parseMtreeTree(text);
    const alias = tree.groups[0].root.children[0];
    assert.equal(alias.alias?.target, "ram");
    assert.equal(alias.name.length, 1 + 180_000);
  });

  test("a flat text whose AS line holds U+2028 and repeated separators parses", () => {
    const views = parseMtreeFlat(longAsLine(34_000));
    assert.equal(views[0].addressSpaces[0].root, "system");
    assert.ok(views[0].addressSpaces[0].name.includes("\u2028"));
  });

  test("the parsers use no regular expressions, so no pattern can backtrack", () => {
    const source = readFileSync(
      join(import.meta.dirname, "../../src/memory/mtree/parse.ts"),
      "utf8",
    );
    assert.doesNotMatch(source, /new RegExp|\.exec\(|\.test\(|\.match\(|\/\^/);
  });
});
