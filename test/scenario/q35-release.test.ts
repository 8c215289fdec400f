/**
 * A q35 scenario's machine type and host follow its QEMU release: pc-q35-10.0 exists only under
 * 10.0, intel-iommu's aw-bits default is 48 from 10.0's own machine type (39 up to pc-q35-9.1), and
 * `host: { iommu: iommufd }` is QEMU 10's backend (7.2 has no such object).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { ScenarioError } from "../../src/scenario/reader.ts";
import { runScenario } from "../../src/scenario/run.ts";

const scenario = (head: string, type: string, host = "type1") => `name: q35 release
${head}machine:
  type: ${type}
  memory: 512M
  devices:
    - { driver: intel-iommu, caching-mode: true }
    - { driver: vfio-pci, id: nic, slot: 3, host: "0000:01:00.0" }
host:
  iommu: ${host}
steps:
  - cpu: { write: 0x200000, data: "c0ffee" }
  - vtd: { device: nic, map: { iova: 0x100000, gpa: 0x200000, size: 4K, perm: rw } }
  - dma: { device: nic, read: 0x100000, length: 3 }
    expect: { data: "c0ffee" }
  - check: shadow
`;

test("pc-q35-10.0 is refused under QEMU 7.2 at its line, and runs under 10.0", () => {
  assert.throws(
    () => loadScenario(scenario("", "pc-q35-10.0"), "q.yaml"),
    (e: unknown) =>
      e instanceof ScenarioError &&
      /q\.yaml:\d+:\d+: .*machine type 'pc-q35-10\.0' does not exist in QEMU 7\.2 \(it has pc-q35-X\.Y for 2\.4 to 7\.2\)/.test(
        e.message,
      ),
  );
  const { report } = runScenario(loadScenario(scenario('qemu: "10.0"\n', "pc-q35-10.0"), "q.yaml"));
  assert.equal(report.qemu, "10.0");
  assert.equal(report.error, undefined);
  assert.ok(report.steps.every((s) => s.outcome !== "failed"));
});

test("under 10.0 q35 gets intel-iommu's 48-bit default, pc-q35-9.1 keeps 39", () => {
  const awBits = (type: string) => {
    const { machine } = runScenario(loadScenario(scenario('qemu: "10.0"\n', type), "q.yaml"));
    assert.ok("intelIommu" in machine && machine.intelIommu);
    return machine.intelIommu.awBits;
  };
  assert.equal(awBits("q35"), 48);
  assert.equal(awBits("pc-q35-9.1"), 39);
});

test("an iommufd host on q35 runs under 10.0 and stops QEMU 7.2 with its message", () => {
  const ten = runScenario(loadScenario(scenario('qemu: "10.0"\n', "q35", "iommufd"), "q.yaml"));
  assert.equal(ten.report.error, undefined);
  assert.ok(ten.report.steps.every((s) => s.outcome !== "failed"));
  const seven = runScenario(loadScenario(scenario("", "q35", "iommufd"), "q.yaml"));
  assert.match(seven.report.error ?? "", /iommufd/);
});
