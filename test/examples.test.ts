/**
 * Every scenario under examples/ is a specification: each assertion in it holds (every
 * expectation, every `check`, every `expect_mtree`), and `iova run` exits 0 on it, except the
 * examples whose opening comment says they demonstrate a failure and exit 1: those exit 1, and
 * only with the invariants their own `check` steps expect to fail.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../src/cli/main.ts";
import { loadScenario } from "../src/scenario/load.ts";
import type { Report } from "../src/scenario/report.ts";
import { runScenario } from "../src/scenario/run.ts";

const dir = join(import.meta.dirname, "../examples");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));

/** The opening comment of a scenario file. */
const openingComment = (text: string) => (/^(#.*\n)+/.exec(text)?.[0] ?? "").replace(/^# ?/gm, "");
const demonstratesFailure = (text: string) =>
  /demonstrates a failure: `iova run` exits 1/.test(openingComment(text).replace(/\n/g, " "));

/** What does not hold in a run of `text`: failed expectations, and invariants failing unexpectedly. */
function whatDoesNotHold(text: string, file: string): string[] {
  const scenario = loadScenario(text, file);
  const { report } = runScenario(scenario);
  const failed = report.steps.flatMap((s) =>
    (s.expectation_failures ?? []).map((f) => `step ${s.step} (line ${s.line}): ${f.message}`),
  );
  const expectedToFail = new Set(
    scenario.steps
      .filter((s) => s.kind === "check" && s.expect?.ok === false)
      .map((s) => (s as { check: string }).check),
  );
  const checks = report.checks
    .filter((c) => c.ok === expectedToFail.has(c.name))
    .map(
      (c) => `invariant ${c.name} ${c.ok ? "holds, but a check step expects it to fail" : "fails"}`,
    );
  return [...failed, ...checks];
}

function exitCode(path: string): { code: number; report: Report } {
  let out = "";
  const code = main(
    ["run", path, "--json"],
    (s) => {
      out += s;
    },
    () => {},
  );
  return { code, report: JSON.parse(out) };
}

test("there are example scenarios", () => assert.ok(files.length >= 6));

for (const file of files) {
  const text = readFileSync(join(dir, file), "utf8");
  const failing = demonstratesFailure(text);
  test(`examples/${file}: every assertion holds and iova run exits ${failing ? 1 : 0}`, () => {
    assert.match(text, /^# /, "an example opens with a comment saying what it shows");
    assert.deepEqual(whatDoesNotHold(text, file), []);
    const { code, report } = exitCode(join(dir, file));
    assert.equal(code, failing ? 1 : 0, `verdict ${report.ok}`);
    assert.equal(report.summary.failed, 0);
  });
}

test("the examples test finds an assertion that does not hold (a wrong rets, an mtree indented too deep)", () => {
  const e02 = readFileSync(join(dir, "e02-ddw-for-xhci.yaml"), "utf8");
  const wrongRets = e02.replace(
    "rets: [0x0, 0x1, 0x80000000, 0x107, 0x0]",
    "rets: [0x0, 0x2, 0x80000000, 0x107, 0x0]",
  );
  assert.notEqual(wrongRets, e02);
  assert.match(whatDoesNotHold(wrongRets, "e02")[0], /rets: expected \[0x0, 0x2, /);
  const tooDeep = e02.replace(
    'contains: "    0000000000000000-ffffffffffffffff',
    'contains: "      0000000000000000-ffffffffffffffff',
  );
  assert.notEqual(tooDeep, e02);
  assert.match(whatDoesNotHold(tooDeep, "e02")[0], /info mtree does not contain the expected text/);
});

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
