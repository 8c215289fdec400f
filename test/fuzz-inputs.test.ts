/**
 * Mutation fuzzing of the two parsers people feed files to: the `info mtree` importer and the
 * scenario loader. A mutated input either loads or gives the parser's typed error, never another
 * exception, and its work stays within deterministic bounds: the flat views printed grow at most
 * linearly with the tree text, and a run makes at most a fixed budget of traced events (IOMMU
 * notifications, VFIO callbacks, ioctls). No wall-clock limit: a busy machine must not fail it.
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

/** Traced events a mutated example may cause (the largest example makes about 10^3). */
const EVENT_BUDGET = 200_000;

/** Rendering n regions gives at most 2n + 1 flat ranges per view (each region cuts two edges). */
function flatLinesBound(tree: string, flat: string): number {
  const views = (flat.match(/^FlatView #/gm) ?? []).length;
  const lines = tree.split("\n").length + flat.split("\n").length;
  return (views + 1) * (2 * lines + 3) + lines;
}

test("mutated info mtree text imports or fails with a line number, with flat views linear in the text", () => {
  fc.assert(
    fc.property(
      fc.nat(mtreeTexts.length - 1),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      (i, ms, mutateFlat) => {
        const tree = mutateFlat ? mtreeTexts[i].tree : mutate(mtreeTexts[i].tree, ms);
        const flat = mutateFlat ? mutate(mtreeTexts[i].flat, ms) : mtreeTexts[i].flat;
        try {
          const result = importMtree(tree, flat);
          const printed = formatMtree(result.system, { flat: true }).split("\n").length;
          assert.ok(printed <= flatLinesBound(tree, flat), `${printed} flat lines`);
        } catch (e) {
          if (e instanceof assert.AssertionError) throw e;
          assert.ok(e instanceof MtreeSyntaxError, `unexpected ${(e as Error).stack}`);
          assert.ok(e.line >= 1);
        }
      },
    ),
    { numRuns: 150, seed: 7 },
  );
});

test("mutated scenario files load and run within a budget of traced events, or fail with a position", () => {
  fc.assert(
    fc.property(
      fc.nat(examples.length - 1),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      (i, ms) => {
        let events = 0;
        const budget = () => {
          if (++events > EVENT_BUDGET)
            throw new assert.AssertionError({ message: `more than ${EVENT_BUDGET} traced events` });
        };
        try {
          runScenario(loadScenario(mutate(examples[i], ms), "mutated.yaml"), { trace: budget });
        } catch (e) {
          if (e instanceof assert.AssertionError) throw e;
          assert.ok(e instanceof ScenarioError, `unexpected ${(e as Error).stack}`);
          assert.ok(e.line >= 1 && e.column >= 1);
        }
      },
    ),
    { numRuns: 300, seed: 7 },
  );
});
