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
    const scenario = loadScenario(text, file);
    const { report } = runScenario(scenario);
    const failed = report.steps
      .filter((s) => !s.ok)
      .map((s) => `line ${s.line}: ${s.expectation_failures?.join("; ")}`);
    assert.deepEqual(failed, []);
    // An example that shows a failure says so with `check: NAME` expecting ok: false; those
    // invariants must fail at the end too, and every other one hold.
    const expectedToFail = [
      ...new Set(
        scenario.steps
          .filter((s) => s.kind === "check" && s.expect?.ok === false)
          .map((s) => (s as { check: string }).check),
      ),
    ];
    assert.deepEqual(
      report.checks.filter((c) => !c.ok).map((c) => c.name),
      expectedToFail,
    );
  });
}

test("examples/e03 is the built-in seed scenario", async () => {
  const { SEED_SCENARIO } = await import("../src/scenario/seed.ts");
  assert.equal(readFileSync(join(dir, "e03-seed-hotplug-after-ddw.yaml"), "utf8"), SEED_SCENARIO);
});

test("the seed under qemu-2016-prefix fails exactly as scenario 4 describes", () => {
  const text = readFileSync(join(dir, "e03-seed-hotplug-after-ddw.yaml"), "utf8");
  const { report } = runScenario(loadScenario(text, "seed"), { behaviour: "qemu-2016-prefix" });
  const log = report.steps.flatMap((s) => (s.result.qemu_log as string[] | undefined) ?? []);
  // Replayed 16 MiB DDW pages at iova k*16M: k < 64 overwrite the default window, the rest ENXIO.
  assert.equal(log.filter((l) => / = -6 \(No such device or address\)$/.test(l)).length, 256 - 64);
  const shadow = report.checks.find((c) => c.name === "shadow")!;
  assert.equal(shadow.ok, false);
  const host = report.host.containers[0];
  assert.deepEqual(host.mappings, [
    { iova: "0x0", size: "0x40000000", gpa: "0x0", hva: "0x7fff00000000", perm: "rw" },
  ]);
});
