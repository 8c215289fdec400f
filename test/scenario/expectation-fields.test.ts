/**
 * Every field a step's result has can be expected, and a wrong expectation fails the step with a
 * message in the format's own names: a DMA's status and fault address, a hypercall's entries
 * written, a CPU access's MemTxResult, a check's verdict and violation count, an `info mtree`
 * look's verdict, an ioctl's locked pages.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";

const scenario = (e: Record<string, string>) => `name: expectation fields
machine:
  memory: 1G
  devices:
    - { id: usb0, driver: qemu-xhci }
    - { id: hd0, driver: vfio-pci, host: "0001:00:00.0" }
steps:
  - rtas: ibm,write-pci-config
    device: usb0
    reg: 4
    size: 2
    value: 0x6
  - dma: { device: usb0, write: 0x1000, data: "deadbeef" }
    expect: { status: permission-fault, fault_address: ${e.fault} }
  - hcall: H_PUT_TCE_INDIRECT
    args: { liobn: 0x80000000, ioba: 0x0, tces: [0x3, 0x1003] }
    expect: { ret: H_SUCCESS, written: ${e.written} }
  - cpu: { read: 0x0, length: 4 }
    expect: { result: ${e.result} }
  - check: shadow
    expect: { holds: true, violations: ${e.violations} }
  - expect_mtree: { contains: "tce-root-80000000" }
    expect: { holds: true }
  - ioctl: SET_IOMMU
    args: { type: spapr-tce-v2, group: 9 }
    expect: { ret: 0, locked_pages: ${e.locked} }
`;

const run = (e: Record<string, string>) =>
  runScenario(loadScenario(scenario(e), "fields.yaml")).report;

test("expectations on every result field hold when the model gives those values", () => {
  const r = run({
    fault: "0x1000",
    written: "2",
    result: "MEMTX_OK",
    violations: "0",
    locked: "0",
  });
  assert.deepEqual(
    r.steps.map((s) => s.outcome),
    ["succeeded", "held", "held", "held", "held", "held", "held"],
  );
  assert.equal(r.ok, true);
});

test("a wrong value in any of those fields fails its step, named as the format names it", () => {
  const r = run({
    fault: "0x2000",
    written: "3",
    result: "MEMTX_DECODE_ERROR",
    violations: "2",
    locked: "5",
  });
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.steps.flatMap((s) => (s.expectation_failures ?? []).map((f) => f.message)),
    [
      "fault_address: expected 0x2000, got 0x1000",
      "written: expected 3, got 2",
      "result: expected MEMTX_DECODE_ERROR, got MEMTX_OK (0)",
      "violations: expected 2, got 0",
      "locked_pages: expected 5, got 0",
    ],
  );
});
