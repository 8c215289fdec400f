/** The type1 backend on an IOMMU that declares no page size: refusals, never a crash. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Errno } from "../../src/host/errno.ts";
import { GUEST_RAM_HVA, POWER9_HOST } from "../../src/host/platform.ts";
import { Type1Container } from "../../src/host/type1.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";

const RAM = [{ start: GUEST_RAM_HVA, size: 0x40000000n }];

test("with an empty page-size bitmap MAP_DMA is ENODEV (Linux's iommu_map) and nothing is mapped", () => {
  const c = new Type1Container({ ...POWER9_HOST, pgsizes: 0n }, RAM);
  assert.equal(c.attachGroup(1), 0);
  assert.equal(c.mapDma(0n, 0x1000n, GUEST_RAM_HVA, true, true), -Errno.ENODEV);
  assert.equal(c.unmapDma(0n, 0x1000n), -Errno.EINVAL);
  assert.deepEqual(c.entries(), []);
  assert.deepEqual(c.windows(), []);
  assert.equal(c.lookup(0n), undefined);
  assert.equal(c.lockedPages, 0n);
});

test("a vfio-pci device on such a host: the guest's TCE is logged as unmappable and shadow fails", () => {
  const { report } = runScenario(
    loadScenario(
      `name: type1 without page sizes
machine:
  memory: 1G
  devices:
    - { id: hd0, driver: vfio-pci, host: "0001:00:00.0" }
host: { iommu: type1, pgsizes: [] }
steps:
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x0, tce: 0x3 }
    expect: { ret: H_SUCCESS }
`,
      "t.yaml",
    ),
  );
  assert.equal(report.steps[0].ok, true);
  assert.match(JSON.stringify(report.steps[0].result), /No such device/);
  const shadow = report.checks.find((c) => c.name === "shadow")!;
  assert.deepEqual(
    shadow.violations.map((v) => v.message),
    ["guest maps bus 0x0 -> gpa 0x0 (rw); host has nothing there"],
  );
});
