/**
 * Mutation fuzzing of the two parsers people feed files to: the `info mtree` importer and the
 * scenario loader. A mutated input either loads or gives the parser's typed error, never another
 * exception, and never takes long.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { importMtree } from "../src/memory/mtree/import.ts";
import { MtreeSyntaxError } from "../src/memory/mtree/parse.ts";
import { formatMtree } from "../src/memory/mtree/print.ts";
import { loadScenario } from "../src/scenario/load.ts";
import { ScenarioError } from "../src/scenario/reader.ts";
import { runScenario } from "../src/scenario/run.ts";

const root = join(import.meta.dirname, "..");

/** A mutation of a text: delete, duplicate, swap or replace lines, or flip characters. */
const mutation = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.nat(),
    char: fc.constantFrom("0", "f", " ", "-", ":", "@", "{", "[", "\n", "x", "#", "\t", "9"),
  }),
  fc.record({ kind: fc.constant("deleteLine" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("duplicateLine" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("swapLines" as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

type Mutation = { kind: string; at: number; with?: number; char?: string };

function mutate(text: string, ms: readonly Mutation[]): string {
  let t = text;
  for (const m of ms) {
    const lines = t.split("\n");
    const li = lines.length ? m.at % lines.length : 0;
    switch (m.kind) {
      case "flip": {
        const i = t.length ? m.at % t.length : 0;
        t = t.slice(0, i) + m.char + t.slice(i + 1);
        break;
      }
      case "deleteLine":
        lines.splice(li, 1);
        t = lines.join("\n");
        break;
      case "duplicateLine":
        lines.splice(li, 0, lines[li] ?? "");
        t = lines.join("\n");
        break;
      case "swapLines": {
        const lj = lines.length ? (m.with ?? 0) % lines.length : 0;
        [lines[li], lines[lj]] = [lines[lj], lines[li]];
        t = lines.join("\n");
        break;
      }
      case "truncate":
        t = t.slice(0, t.length ? m.at % t.length : 0);
        break;
    }
  }
  return t;
}

const mtreeCases = [
  "ppc64-pseries-xhci-ddw",
  "x86_64-pc-default",
  "aarch64-virt-smmuv3",
  "arm-mps2-an505",
];
const mtreeTexts = mtreeCases.map((c) => ({
  tree: readFileSync(join(root, "test/conformance/data", c, "mtree-D.txt"), "utf8"),
  flat: readFileSync(join(root, "test/conformance/data", c, "mtree-f.txt"), "utf8"),
}));
const examples = readdirSync(join(root, "examples"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => readFileSync(join(root, "examples", f), "utf8"));

test("mutated info mtree text imports or fails with a line number, quickly", () => {
  fc.assert(
    fc.property(
      fc.nat(mtreeTexts.length - 1),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      (i, ms, mutateFlat) => {
        const { tree, flat } = mtreeTexts[i];
        const started = performance.now();
        try {
          const result = importMtree(
            mutateFlat ? tree : mutate(tree, ms),
            mutateFlat ? mutate(flat, ms) : flat,
          );
          formatMtree(result.system, { flat: true });
        } catch (e) {
          assert.ok(e instanceof MtreeSyntaxError, `unexpected ${(e as Error).stack}`);
          assert.ok(e.line >= 1);
        }
        assert.ok(performance.now() - started < 5000, "an import took too long");
      },
    ),
    { numRuns: 150, seed: 7 },
  );
});

test("mutated scenario files load and run, or fail with a position, quickly", () => {
  fc.assert(
    fc.property(
      fc.nat(examples.length - 1),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      (i, ms) => {
        const started = performance.now();
        try {
          runScenario(loadScenario(mutate(examples[i], ms), "mutated.yaml"));
        } catch (e) {
          assert.ok(e instanceof ScenarioError, `unexpected ${(e as Error).stack}`);
          assert.ok(e.line >= 1 && e.column >= 1);
        }
        assert.ok(performance.now() - started < 5000, "a scenario took too long");
      },
    ),
    { numRuns: 300, seed: 7 },
  );
});
