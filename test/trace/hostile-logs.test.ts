/**
 * Hostile logs: a recorded log with lines deleted, duplicated, reordered, cut, or with numbers
 * changed is either replayed to a verdict or refused as a syntax error with its line, never a crash.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { ScenarioError } from "../../src/scenario/reader.ts";
import { parseCommandLine } from "../../src/trace/cmdline.ts";
import { TraceSyntaxError } from "../../src/trace/record.ts";
import { replayTrace } from "../../src/trace/replay.ts";

const dir = join(import.meta.dirname, "../../examples/trace/linux-6.1-xhci-4g");
// The interesting part: the default window's puts, the DDW calls, the indirect, translations.
const lines = readFileSync(join(dir, "trace.log"), "utf8")
  .trimEnd()
  .split("\n")
  .filter((l) => !l.includes("_stuff") || l.includes("ioba=0x200000 "));
const machine = parseCommandLine(readFileSync(join(dir, "cmdline.txt"), "utf8"));

const NUMBERS = [
  "0x0",
  "0xffffffffffffffff",
  "0x80000001",
  "0x800000000000000",
  "-4",
  "7",
  "0x1000000",
  "64",
  "0x100",
];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("delete"), at: fc.nat() }),
  fc.record({ kind: fc.constant("duplicate"), at: fc.nat() }),
  fc.record({ kind: fc.constant("swap"), at: fc.nat() }),
  fc.record({ kind: fc.constant("cut"), at: fc.nat() }),
  fc.record({ kind: fc.constant("number"), at: fc.nat(), value: fc.constantFrom(...NUMBERS) }),
);

function mutate(input: string[], ms: { kind: string; at: number; value?: string }[]): string {
  const out = [...input];
  for (const m of ms) {
    const i = out.length ? m.at % out.length : 0;
    switch (m.kind) {
      case "delete":
        out.splice(i, 1);
        break;
      case "duplicate":
        out.splice(i, 0, out[i] ?? "");
        break;
      case "swap":
        if (i + 1 < out.length) [out[i], out[i + 1]] = [out[i + 1], out[i]];
        break;
      case "cut":
        out[i] = (out[i] ?? "").slice(0, m.at % 40);
        break;
      case "number": {
        // Replace the n-th number of the line (a hex value, or a decimal after '=').
        const line = out[i] ?? "";
        const nums = [...line.matchAll(/0x[0-9a-f]+|(?<==)-?\d+/g)];
        const hit = nums[m.at % Math.max(1, nums.length)];
        if (hit?.index !== undefined) {
          const value =
            hit[0].startsWith("0x") === (m.value ?? "").startsWith("0x") ? m.value : hit[0];
          out[i] = line.slice(0, hit.index) + value + line.slice(hit.index + hit[0].length);
        }
        break;
      }
    }
  }
  return `${out.join("\n")}\n`;
}

test("mutated logs replay to a verdict or are refused with a line, never a crash", () => {
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
      const log = mutate(lines, ms);
      try {
        const { result } = replayTrace([log], machine, { logName: "m.log", machineName: "c" });
        assert.equal(typeof result.ok, "boolean");
      } catch (e) {
        if (e instanceof TraceSyntaxError) {
          assert.ok(e.line >= 1);
          return;
        }
        assert.fail(
          `unexpected ${e instanceof ScenarioError ? "scenario error" : "exception"}: ${(e as Error).stack}\n${ms.map((m) => JSON.stringify(m)).join("\n")}`,
        );
      }
    }),
    { numRuns: 200, seed: 17 },
  );
});
