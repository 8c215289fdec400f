/**
 * The scenario fuzzer, bounded for CI: random machines, hosts, injected faults and hostile guest
 * and operator actions; after every step the invariants hold, nothing throws, and failed atomic
 * steps change nothing. `npm run fuzz -- --runs N --seed S` runs it at length.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { checkScenario, scenarioArb } from "../fuzz/scenario-fuzz.ts";

// Fixed seeds, so that CI runs the same scenarios every time: 7 is the seed whose campaign found
// the two QEMU 7.2 bugs (Q1, Q2) that iova reproduces and attributes.
for (const [seed, numRuns] of [
  [20261128, 2000],
  [7, 1000],
  [42, 500],
] as const) {
  test(`random scenarios keep every invariant after every step (seed ${seed}, ${numRuns} runs)`, () => {
    fc.assert(
      fc.property(scenarioArb, (yaml) => checkScenario(yaml)),
      { numRuns, seed },
    );
  });
}

test("a violation a known QEMU 7.2 bug explains is QEMU's, not a finding against iova", () => {
  for (const file of [
    "q1-stale-mapping-after-non-ram-tce.yaml",
    "q2-write-only-tce-mapped-read-write.yaml",
  ]) {
    const yaml = readFileSync(join(import.meta.dirname, "../examples", file), "utf8");
    assert.doesNotThrow(() => checkScenario(yaml), file);
  }
});

test("the fuzzer finds a VFIO that forgets the window offset", async () => {
  // Plant the 2016 bug by running the 2016 behaviour: the fuzzer must notice on some scenario.
  const { loadScenario } = await import("../src/scenario/load.ts");
  const { runScenario } = await import("../src/scenario/run.ts");
  const yaml = `name: planted
behaviour: qemu-2016-prefix
machine:
  memory: 4G
  devices:
    - { id: usb0, driver: qemu-xhci }
steps:
  - rtas: ibm,create-pe-dma-window
    phb: 0
    page_shift: 16
    window_shift: 31
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000001, ioba: 0x800000000010000, tce: 0x3 }
  - device_add: { id: hd0, driver: vfio-pci, host: "0001:00:00.0" }
`;
  assert.throws(() => checkScenario(yaml), /shadow/);
  assert.doesNotThrow(() => checkScenario(yaml.replace("behaviour: qemu-2016-prefix\n", "")));
  assert.ok(runScenario(loadScenario(yaml, "x")).report.checks.some((c) => !c.ok));
});
