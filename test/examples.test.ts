/**
 * Every scenario under examples/ runs to a verdict of ok: each is a specification of a behaviour
 * (the file's opening comment says which), with its expectations written in.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadScenario } from "../src/scenario/load.ts";
import { runScenario } from "../src/scenario/run.ts";

const dir = join(import.meta.dirname, "../examples");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));

test("there are example scenarios", () => assert.ok(files.length >= 6));

for (const file of files) {
  test(`examples/${file} holds`, () => {
    const text = readFileSync(join(dir, file), "utf8");
    assert.match(text, /^# /, "an example opens with a comment saying what it shows");
    const { report } = runScenario(loadScenario(text, file));
    const failed = report.steps
      .filter((s) => !s.ok)
      .map((s) => `line ${s.line}: ${s.expectation_failures?.join("; ")}`);
    assert.deepEqual(failed, []);
    assert.equal(report.ok, true);
  });
}
