/**
 * What iova must mirror entry by entry into a host (VFIO's one MAP_DMA per notified TCE, a
 * hot-plug's replay) is bounded by the materialised-entry limit: past it the step fails with what
 * real QEMU would have done, and nothing changes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { pseriesOf, runScenario } from "../../src/scenario/run.ts";

const scenario = (npages: number, windowShift = 38) =>
  loadScenario(
    `name: stuff with vfio
machine:
  memory: 4G
  devices:
    - { id: hd0, driver: vfio-pci, host: "0001:00:00.0" }
steps:
  - rtas: ibm,create-pe-dma-window
    phb: 0
    page_shift: 16
    window_shift: ${windowShift}
  - hcall: H_STUFF_TCE
    args: { liobn: 0x80000001, ioba: 0x800000000000000, tce_value: 0x3, npages: ${npages} }
  - device_del: { id: hd0 }
  - hcall: H_STUFF_TCE
    args: { liobn: 0x80000001, ioba: 0x800000000000000, tce_value: 0x3, npages: ${npages} }
  - device_add: { id: hd1, driver: vfio-pci, host: "0001:00:00.0" }
`,
    "stuff.yaml",
  );

test("2^25 pages stuffed under VFIO are refused at the default limit, saying what QEMU would do", () => {
  const { report, machine } = runScenario(scenario(2 ** 25, 41));
  const [, stuff, , unobserved, plug] = report.steps;
  assert.match(
    stuff.error ?? "",
    /^H_STUFF_TCE of 33554432 entries .* makes 33554432 VFIO_IOMMU_MAP_DMA ioctls, one per 64 KiB page.* at most 16777216 entries per step .*Nothing was changed\.$/,
  );
  // With no VFIO listening, the same call fills the window at once.
  assert.equal(unobserved.result.ret, "H_SUCCESS");
  assert.match(plug.error ?? "", /attaching replays 33554432 valid TCEs .*Nothing was changed/);
  assert.equal(machine.assigned.size, 0);
  assert.equal(pseriesOf(machine).findTable(0x80000001n)!.validEntryCount, 2 ** 25);
});

test("under the limit the same steps mirror every entry and the invariants hold", () => {
  const { report } = runScenario(scenario(1000), { materialisedEntryLimit: 1000 });
  assert.deepEqual(
    report.steps.map((s) => s.error),
    [null, null, null, null, null],
  );
  assert.ok(report.checks.every((c) => c.ok));
  assert.equal(report.host.containers[0].mappings.length, 1000);
});

test("one entry over the limit refuses the step and leaves guest and host as they were", () => {
  const { report } = runScenario(scenario(1001), { materialisedEntryLimit: 1000 });
  assert.match(report.steps[1].error ?? "", /at most 1000 entries per step/);
  assert.equal(report.guest.windows[1].valid_entries, 1001, "filled after the device left");
  assert.match(report.steps[4].error ?? "", /replays 1001 valid TCEs/);
  assert.deepEqual(report.host.containers, []);
});
