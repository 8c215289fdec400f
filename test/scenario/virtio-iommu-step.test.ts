/**
 * The `virtio_iommu` step's requests on a q35 machine: endpoints by device id or `BB:DD.F`,
 * sizes turned into QEMU's inclusive ends, permissions into MAP flags, and QEMU 7.2's status
 * names as results; a machine without virtio-iommu or an unknown device is an error, not a status.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Q35Machine } from "../../src/machine/q35.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { endpointOf, runVirtioIommuRequest } from "../../src/scenario/virtio-iommu-step.ts";

const machine = () =>
  new Q35Machine({
    devices: [{ driver: "virtio-iommu-pci" }, { driver: "edu", id: "dev", slot: 3 }],
  });

test("an endpoint is a device id's devfn or a BB:DD.F requester id", () => {
  const m = machine();
  assert.equal(endpointOf(m, "dev"), 0x18);
  assert.equal(endpointOf(m, "00:1f.2"), 0xfa);
  assert.equal(endpointOf(m, "01:00.0"), 0x100);
  assert.match(String(endpointOf(m, "nope")), /no device 'nope'/);
});

test("attach, map, unmap, detach and probe report QEMU's status names", () => {
  const m = machine();
  const run = (r: Parameters<typeof runVirtioIommuRequest>[1]) => runVirtioIommuRequest(m, r);
  assert.equal(run({ op: "attach", domain: 1, endpoint: "dev" }).status, "OK");
  const mapped = run({
    op: "map",
    domain: 1,
    iova: 0x1000n,
    size: 0x2000n,
    gpa: 0x100000n,
    perm: "r",
  });
  assert.deepEqual(mapped.result, {
    status: "OK",
    virt_start: "0x1000",
    virt_end: "0x2fff",
    phys_start: "0x100000",
    flags: 1,
  });
  assert.equal(
    run({ op: "map", domain: 1, iova: 0x2000n, size: 0x1000n, gpa: 0n, perm: "rw" }).status,
    "INVAL",
  );
  assert.equal(run({ op: "unmap", domain: 1, iova: 0x1000n, size: 0x1000n }).status, "RANGE");
  assert.equal(run({ op: "unmap", domain: 9, iova: 0n, size: 0x1000n }).status, "NOENT");
  assert.deepEqual(run({ op: "probe", endpoint: "dev" }).result, {
    status: "OK",
    endpoint: 0x18,
    reserved: ["msi 0xfee00000-0xfeefffff"],
  });
  assert.equal(run({ op: "detach", domain: 1, endpoint: "00:03.0" }).status, "OK");
  assert.equal(run({ op: "probe", endpoint: "01:00.0" }).status, "NOENT");
  assert.equal(
    run({ op: "attach", domain: 1, endpoint: "nope" }).error,
    "no device 'nope' is plugged",
  );
  assert.equal(
    runVirtioIommuRequest(new Q35Machine(), { op: "probe", endpoint: "00:00.0" }).error,
    "the machine has no virtio-iommu-pci",
  );
});

const scenario = (step: string) => `name: t
machine:
  type: q35
  memory: 256M
  devices:
    - { driver: virtio-iommu-pci }
    - { driver: edu, id: dev }
steps:
  - ${step}
`;

test("a virtio_iommu step takes exactly one request, and a named endpoint must be a device", () => {
  const ok = loadScenario(
    scenario("virtio_iommu: { attach: { domain: 1, endpoint: dev } }"),
    "t.yaml",
  );
  assert.deepEqual((ok.steps[0] as { request: unknown }).request, {
    op: "attach",
    domain: 1,
    endpoint: "dev",
  });
  assert.ok(loadScenario(scenario("virtio_iommu: { probe: { endpoint: '00:1f.0' } }"), "t.yaml"));
  assert.throws(
    () =>
      loadScenario(
        scenario(
          "virtio_iommu: { probe: { endpoint: dev }, detach: { domain: 1, endpoint: dev } }",
        ),
        "t.yaml",
      ),
    /exactly one of 'attach', 'detach', 'map', 'unmap' or 'probe'/,
  );
  assert.throws(
    () =>
      loadScenario(scenario("virtio_iommu: { attach: { domain: 1, endpoint: nic } }"), "t.yaml"),
    /t\.yaml:9:\d+: .*nic/,
  );
  assert.throws(
    () =>
      loadScenario(
        scenario("virtio_iommu: { map: { domain: 1, iova: 0, size: 0, gpa: 0, perm: rw } }"),
        "t.yaml",
      ),
    /size/,
  );
});

test("the shadow check reads virtio-iommu's mappings without notifying anyone", () => {
  const text = `name: t
machine:
  type: q35
  memory: 256M
  devices:
    - { driver: virtio-iommu-pci }
    - { driver: vfio-pci, id: nic, host: "0000:01:00.0" }
host: { iommu: type1 }
steps:
  - virtio_iommu: { attach: { domain: 1, endpoint: nic } }
  - virtio_iommu: { map: { domain: 1, iova: 0x10000, size: 64K, gpa: 0x100000, perm: rw } }
  - check: shadow
  - check: shadow
`;
  const { report, machine } = runScenario(loadScenario(text, "t.yaml"));
  assert.ok(report.checks.length > 0 && report.checks.every((c) => c.ok));
  const log = [...(machine as Q35Machine).vfio!.containers[0].kernel.io.log];
  assert.equal(
    log.filter((r) => r.ioctl === "MAP_DMA" && (r.args as { iova: bigint }).iova === 0x10000n)
      .length,
    1,
  );
  assert.deepEqual((machine as Q35Machine).vfio!.events.reports, []);
});
