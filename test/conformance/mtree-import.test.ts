/**
 * Conformance against real QEMU 7.2: every recorded machine is imported from its `info mtree -D`
 * text and printed again; the output must equal what QEMU printed, block for block. The flat
 * views rebuilt from the tree text alone (no `-f` hint) are counted per machine, not asserted
 * per machine: the overall rate must not fall below the measured floor.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { importMtree } from "../../src/memory/mtree/import.ts";
import { formatMtree, type MtreeOptions } from "../../src/memory/mtree/print.ts";
import { blockDifference } from "./blocks.ts";

const dataDir = join(import.meta.dirname, "data");
const cases = readdirSync(dataDir).filter((c) => statSync(join(dataDir, c)).isDirectory());

function assertSameBlocks(expected: string, actual: string): void {
  const { missing, extra } = blockDifference(expected, actual);
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
}

test("the corpus holds every machine its README lists, and at least the first 65", () => {
  const readme = readFileSync(join(dataDir, "README.md"), "utf8");
  const listed = [...readme.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(cases.slice().sort(), listed);
  assert.ok(cases.length >= 65);
});

for (const name of cases) {
  describe(name, () => {
    const read = (file: string) => readFileSync(join(dataDir, name, file), "utf8");
    const check = (
      source: string,
      hint: string | undefined,
      options: MtreeOptions,
      expected: string,
    ) => {
      const result = importMtree(read(source), hint === undefined ? undefined : read(hint));
      assertSameBlocks(read(expected), formatMtree(result.system, options));
    };
    test("mtree-D.txt printed with -D reproduces mtree-D.txt", () =>
      check("mtree-D.txt", undefined, { disabled: true }, "mtree-D.txt"));
    test("mtree-D.txt printed plainly reproduces mtree.txt", () =>
      check("mtree-D.txt", undefined, {}, "mtree.txt"));
    test("mtree-o-D.txt printed with -o -D reproduces mtree-o-D.txt", () =>
      check("mtree-o-D.txt", undefined, { owners: true, disabled: true }, "mtree-o-D.txt"));
    test("mtree-o-D.txt printed with -o reproduces mtree-o.txt", () =>
      check("mtree-o-D.txt", undefined, { owners: true }, "mtree-o.txt"));
    // The hint is the expected text: these show that a model consistent with the tree and QEMU's
    // flat views exists (and that the import finds it), not that the flat views are inferred.
    test("with mtree-f.txt as the hint, a consistent model exists: -f prints mtree-f.txt back", () =>
      check("mtree-D.txt", "mtree-f.txt", { flat: true }, "mtree-f.txt"));
    test("with mtree-f.txt as the hint, a consistent model with owners exists: -f -o prints mtree-f-o.txt", () =>
      check("mtree-o-D.txt", "mtree-f.txt", { flat: true, owners: true }, "mtree-f-o.txt"));
  });
}

/** Does the tree text alone (no flat hint) rebuild QEMU's `-f` output exactly? */
function flatFromTreeAlone(name: string, source: string): boolean {
  const read = (file: string) => readFileSync(join(dataDir, name, file), "utf8");
  try {
    const { missing, extra } = blockDifference(
      read("mtree-f.txt"),
      formatMtree(importMtree(read(source)).system, { flat: true }),
    );
    return missing.length === 0 && extra.length === 0;
  } catch {
    return false;
  }
}

/** The architecture a case name starts with (`x86_64-pc-default` -> `x86_64`). */
const architecture = (name: string) => name.split("-")[0];

test("the flat views from the tree text alone: rate per architecture, and its floor", (t) => {
  const rates = new Map<string, { withOwners: number; plain: number; total: number }>();
  for (const name of cases) {
    const arch = architecture(name);
    const r = rates.get(arch) ?? { withOwners: 0, plain: 0, total: 0 };
    r.total++;
    if (flatFromTreeAlone(name, "mtree-o-D.txt")) r.withOwners++;
    if (flatFromTreeAlone(name, "mtree-D.txt")) r.plain++;
    rates.set(arch, r);
  }
  let withOwners = 0;
  let plain = 0;
  for (const [arch, r] of [...rates].sort()) {
    t.diagnostic(`${arch}: -o -D ${r.withOwners}/${r.total}, -D ${r.plain}/${r.total}`);
    withOwners += r.withOwners;
    plain += r.plain;
  }
  t.diagnostic(`all: -o -D ${withOwners}/${cases.length}, -D ${plain}/${cases.length}`);
  // Floors measured on this corpus (the goal is 90%); a change that loses machines fails here.
  // Measured: -o -D 120/129 (93%), -D 110/129 (85%).
  assert.ok(withOwners / cases.length >= 0.92, `-o -D: ${withOwners}/${cases.length}`);
  assert.ok(plain / cases.length >= 0.85, `-D: ${plain}/${cases.length}`);
});
