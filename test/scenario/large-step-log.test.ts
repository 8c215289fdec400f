/**
 * A step that issues many ioctls keeps its report bounded: the first 1000 lines are shown and
 * every call past them is counted, without formatting each one (a 2^24-entry hot-plug would
 * otherwise build 2^24 strings).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";

const ENTRIES = 5000;

const SCENARIO = `name: large-step-log
machine:
  memory: 4G
  devices:
    - { id: usb0, driver: qemu-xhci }
steps:
  - hcall: H_STUFF_TCE
    args: { liobn: 0x80000000, ioba: 0x0, tce_value: 0x10000003, npages: ${ENTRIES} }
    expect: { ret: H_SUCCESS }
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
    expect: { ok: true }
`;

test("a hot-plug replaying 5000 mappings reports 1000 ioctl lines and counts every other call", () => {
  const { report } = runScenario(loadScenario(SCENARIO, "large-step-log.yaml"), {});
  const plug = report.steps[1].result as { ioctls: string[]; ioctls_omitted?: number };
  assert.equal(plug.ioctls.length, 1000);
  const maps = plug.ioctls.filter((l) => l.includes("MAP_DMA")).length;
  // One MAP_DMA per valid TCE (distinct bus addresses, so nothing folds): the shown and the
  // counted together hold at least every map, and the setup calls before them.
  assert.ok(plug.ioctls_omitted !== undefined);
  assert.equal(plug.ioctls.length + plug.ioctls_omitted - (1000 - maps), ENTRIES);
});
