/**
 * Every step ends one of four ways: its expectation held, its expectation failed, no expectation
 * and the operation succeeded, or no expectation and the operation was refused or faulted. The
 * last is marked ERR in the text report and counted in the summary; --strict fails the run on it.
 * Expectation failures name values as the scenario format does.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import type { Scenario } from "../../src/scenario/schema.ts";
import { runCli } from "../cli/run-cli.ts";

const HEAD = `name: outcomes
machine:
  memory: 4G
  devices:
    - { id: usb0, driver: qemu-xhci }
steps:
`;

const file = (steps: string) => {
  const path = join(mkdtempSync(join(tmpdir(), "iova-outcome-")), "s.yaml");
  writeFileSync(path, HEAD + steps);
  return path;
};
const run = (steps: string, strict = false) =>
  runScenario(loadScenario(HEAD + steps, "s.yaml"), { strict }).report;

const refusedSteps: [string, string, RegExp][] = [
  [
    "a device_add of a host BDF already attached",
    `  - device_add: { id: h0, driver: vfio-pci, host: "0001:01:00.0" }
  - device_add: { id: h1, driver: vfio-pci, host: "0001:01:00.0" }
`,
    /already attached/,
  ],
  [
    "a device_add on a bus that does not exist",
    `  - reset: system
  - device_add: { id: h0, driver: vfio-pci, host: "0001:01:00.0", bus: 5 }
`,
    /Bus 'pci\.5' not found/,
  ],
  [
    "a DMA that ends in decode-error",
    "  - reset: system\n  - dma: { device: usb0, read: 0x5000, length: 4 }\n",
    /^decode-error$/,
  ],
  [
    "a failing hypercall",
    "  - reset: system\n  - hcall: H_PUT_TCE\n    args: { liobn: 0x80000077, ioba: 0x0, tce: 0x3 }\n",
    /^ret H_PARAMETER \(-4\)$/,
  ],
  [
    "a failing RTAS call",
    "  - reset: system\n  - rtas: ibm,create-pe-dma-window\n    device: usb0\n    page_shift: 13\n    window_shift: 32\n",
    /^status -3 \(parameter error\)$/,
  ],
  [
    "a failing raw ioctl",
    "  - ioctl: SET_IOMMU\n    args: { type: spapr-tce-v2, group: 1 }\n  - ioctl: MAP_DMA\n    args: { iova: 0x0, size: 0x1000, vaddr: 0x7fff00000000, flags: 3 }\n",
    /^ret -EPERM \(-1\)$/,
  ],
];

for (const [what, steps, why] of refusedSteps) {
  test(`without an expectation, ${what} is refused, not ok, and --strict fails the run`, () => {
    const report = run(steps);
    const last = report.steps[report.steps.length - 1];
    assert.equal(last.outcome, "refused");
    assert.match(last.refusal ?? "", why);
    assert.equal(report.summary.refused, 1);
    assert.equal(report.ok, true, "a refused step alone does not fail the run");
    assert.equal(run(steps, true).ok, false);
    const path = file(steps);
    const text = runCli("run", path);
    assert.equal(text.code, 0);
    assert.match(text.out, new RegExp(`^  ERR +${report.steps.length}\\. `, "m"));
    assert.match(text.out, /^steps: \d+ ok, 1 refused or faulted without an expectation$/m);
    const strict = runCli("run", "--strict", path);
    assert.equal(strict.code, 1);
    assert.match(strict.out, /verdict: FAILED \(1 step refused or faulted \(--strict\)\)/);
  });
}

test("a step that succeeds without an expectation is `succeeded`; one whose expectation holds, `held`", () => {
  const report = run(`  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x0, tce: 0x3 }
  - hcall: H_GET_TCE
    args: { liobn: 0x80000000, ioba: 0x0 }
    expect: { ret: H_SUCCESS, tce: 0x3 }
`);
  assert.deepEqual(
    report.steps.map((s) => s.outcome),
    ["succeeded", "held"],
  );
  assert.deepEqual(report.summary, {
    steps: 2,
    held: 1,
    failed: 0,
    succeeded: 1,
    refused: 0,
    checks_failed: 0,
  });
});

test("an expectation that fails names the values: expected H_SUCCESS, got H_PARAMETER (-4)", () => {
  const report = run(`  - hcall: H_PUT_TCE
    args: { liobn: 0x80000077, ioba: 0x0, tce: 0x3 }
    expect: { ret: H_SUCCESS }
`);
  const [step] = report.steps;
  assert.equal(step.outcome, "failed");
  assert.equal(report.ok, false);
  assert.deepEqual(step.expectation_failures, [
    {
      check: "expect",
      kind: "ret",
      expected: "H_SUCCESS",
      actual: "H_PARAMETER (-4)",
      message: "ret: expected H_SUCCESS, got H_PARAMETER (-4)",
    },
  ]);
});

test("an expect_mtree that does not hold fails the run without any `expect`, and says which line is missing", () => {
  const report =
    run(`  - expect_mtree: { contains: "        0000000000000000-000000003fffffff (prio 0, i/o): tce-iommu-80000000\\n" }
`);
  assert.equal(report.steps[0].outcome, "failed");
  assert.equal(report.ok, false);
  assert.match(
    report.steps[0].expectation_failures?.[0].message ?? "",
    /^info mtree does not contain the expected text; it has no line " {8}0000000000000000-000000003fffffff/,
  );
  const holds =
    run(`  - expect_mtree: { contains: "      0000000000000000-000000003fffffff (prio 0, i/o): tce-iommu-80000000\\n" }
`);
  assert.equal(holds.steps[0].outcome, "held");
});

test("every observed field can be expected: a DMA's status is compared like any other field", () => {
  const scenario = loadScenario(
    `${HEAD}  - reset: system\n  - dma: { device: usb0, read: 0x5000, length: 4 }\n`,
    "s.yaml",
  );
  const withExpect = (status: string): Scenario => ({
    ...scenario,
    steps: scenario.steps.map((s, i) =>
      i === 1 ? ({ ...s, expect: { status } } as unknown as typeof s) : s,
    ),
  });
  assert.equal(runScenario(withExpect("decode-error")).report.steps[1].outcome, "held");
  const failed = runScenario(withExpect("ok")).report.steps[1];
  assert.equal(failed.outcome, "failed");
  assert.equal(
    failed.expectation_failures?.[0].message,
    'status: expected "ok", got "decode-error"',
  );
});

test("iova check says why it failed: the failed expectation, by step and line", () => {
  const path = file(`  - hcall: H_PUT_TCE
    args: { liobn: 0x80000077, ioba: 0x0, tce: 0x3 }
    expect: { ret: H_SUCCESS }
`);
  const r = runCli("check", path);
  assert.equal(r.code, 1);
  assert.match(
    r.out,
    /^FAIL step 1 \(line 7\) hcall H_PUT_TCE: ret: expected H_SUCCESS, got H_PARAMETER \(-4\)$/m,
  );
  assert.match(r.out, /FAILED\n$/);
});

test("a machine that does not start says so, not `FAILED (0 failed)`", () => {
  const path = join(mkdtempSync(join(tmpdir(), "iova-start-")), "s.yaml");
  writeFileSync(
    path,
    `name: no-start
machine:
  memory: 4G
  devices:
    - { id: usb0, driver: qemu-xhci, slot: 0 }
    - { id: usb1, driver: qemu-xhci, slot: 0 }
`,
  );
  const r = runCli("run", path);
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.out, /0 failed/);
  assert.match(r.out, /the machine did not start: qemu-system-ppc64: /);
  assert.match(r.out, /verdict: FAILED \(the machine did not start\)\n$/);
});

test("a long data expectation that fails says where the bytes first differ, not all of them", () => {
  const zeros = "00".repeat(128);
  const report = run(`  - cpu: { write: 0x1010, data: "c0" }
  - cpu: { read: 0x1000, length: 128 }
    expect: { data: "${zeros}" }
`);
  const [f] = report.steps[1].expectation_failures ?? [];
  assert.equal(
    f.message,
    `data: expected 128 bytes "${"00".repeat(32)}…", got 128 bytes "${"00".repeat(16)}c0${"00".repeat(15)}…"; they first differ at byte 0x10 (expected 0x0, got 0xc0)`,
  );
});

test("an expectation field with no observed value is compared with the result field of that name", () => {
  const scenario = loadScenario(
    `${HEAD}  - hcall: H_STUFF_TCE\n    args: { liobn: 0x80000000, ioba: 0x0, tce_value: 0x3, npages: 4 }\n`,
    "s.yaml",
  );
  const withExpect = (expect: Record<string, unknown>): Scenario => ({
    ...scenario,
    steps: scenario.steps.map((s) => ({ ...s, expect }) as unknown as typeof s),
  });
  assert.equal(runScenario(withExpect({ written: 4 })).report.steps[0].outcome, "held");
  const failed = runScenario(withExpect({ written: 5 })).report.steps[0];
  assert.equal(failed.expectation_failures?.[0].message, "written: expected 5, got 4");
});
