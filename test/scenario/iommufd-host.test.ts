/**
 * `host: { iommu: iommufd }` in a scenario: QEMU's iommufd backend, which no pseries QEMU has, so
 * the machine does not start, with the message the real QEMU prints (7.2: its option parser knows
 * no such type; 10.0's ppc64 build registers none: test/qemu/refusals-10.test.ts runs both).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";

const SCENARIO = `name: iommufd-on-pseries
machine: { type: pseries, memory: 1G, devices: [{ driver: vfio-pci, id: nic, host: "0001:01:00.0" }] }
host: { iommu: iommufd }
steps:
  - rtas: ibm,query-pe-dma-window
    phb: 0
`;

test("a pseries scenario with an iommufd host does not start, with QEMU 7.2's refusal", () => {
  const { report } = runScenario(loadScenario(SCENARIO, "iommufd.yaml"));
  assert.equal(report.ok, false);
  assert.equal(
    report.error,
    "qemu-system-ppc64: -object iommufd,id=iommufd0: Parameter 'qom-type' does not accept value 'iommufd'",
  );
  assert.equal(report.steps.length, 0);
});

test("under qemu: 10.0 the same scenario is refused as QEMU 10.0's ppc64 build refuses it", () => {
  const { report } = runScenario(loadScenario(`qemu: "10.0"\n${SCENARIO}`, "iommufd-10.yaml"));
  assert.equal(report.ok, false);
  assert.equal(report.error, "qemu-system-ppc64: invalid object type: iommufd");
  const viaOption = runScenario(loadScenario(SCENARIO, "iommufd.yaml"), { qemu: "10.0" });
  assert.equal(viaOption.report.error, "qemu-system-ppc64: invalid object type: iommufd");
});

test("iommufd is a host choice the loader takes, and a misspelt one names the choices", () => {
  assert.throws(
    () => loadScenario(SCENARIO.replace("iommu: iommufd", "iommu: iommu-fd"), "bad.yaml"),
    /iommufd/,
  );
});
