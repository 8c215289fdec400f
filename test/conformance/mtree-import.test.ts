/**
 * Conformance against real QEMU 7.2: every recorded machine is imported from its `info mtree -D`
 * text and printed again; the output must equal what QEMU printed, block for block.
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

test("the corpus holds all 65 recorded machines", () => {
  assert.equal(cases.length, 65);
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
