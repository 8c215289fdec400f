/**
 * Locked memory is the process's (Linux's account_locked_vm on the VMM's mm) and preregistered
 * memory is shared by the process's containers (mm_iommu_get); a v1-only host takes one group per
 * container, so QEMU 7.2 opens a second container, charged its own 32-bit window.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";

function run(yaml: string) {
  return runScenario(loadScenario(yaml, "test.yaml"));
}

const TWO_PHBS = `name: t
machine:
  memory: 4G
  phbs:
    - { index: 0 }
    - { index: 1 }
  devices:
    - { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0", bus: 0 }
`;

describe("RLIMIT_MEMLOCK is the process's", () => {
  test("two containers share the preregistered RAM; the process total is RAM plus both tables", () => {
    const { report, machine } = run(`${TWO_PHBS}steps:
  - device_add: { id: hostdev1, driver: vfio-pci, host: "0002:01:00.0", bus: 1 }
`);
    const ioctls = report.steps[0].result.ioctls as string[];
    assert.ok(ioctls.includes(`REGISTER_MEMORY(vaddr=0x7fff00000000, size=0x100000000) = 0`));
    // 4 GiB of 64 KiB pages, once; a 1 GiB window of 4 KiB pages costs 64 pages per container.
    assert.equal(report.host.locked_pages, 65536 + 64 + 64);
    assert.deepEqual(
      report.host.containers.map((c) => c.locked_pages),
      [65536 + 64, 64],
    );
    assert.equal(machine.vfio!.process.preregistered[0].users.length, 2);
    assert.ok(report.checks.every((c) => c.ok));
  });

  test("4 GiB of RAM and a 4 GiB + 6 MiB limit: the second container's table gets ENOMEM", () => {
    const { report } = run(`${TWO_PHBS}host:
  memlock_limit: 0x100600000
steps:
  - device_add: { id: hostdev1, driver: vfio-pci, host: "0002:01:00.0", bus: 1 }
`);
    const step = report.steps[0];
    const creates = (step.result.ioctls as string[]).filter((l) => l.startsWith("TCE_CREATE"));
    // vfio_spapr_create_window tries every level count up to its maximum.
    assert.deepEqual(creates, [
      "TCE_CREATE(page_shift=12, window_size=0x40000000, levels=1) = -ENOMEM",
      "TCE_CREATE(page_shift=12, window_size=0x40000000, levels=2) = -ENOMEM",
      "TCE_CREATE(page_shift=12, window_size=0x40000000, levels=3) = -ENOMEM",
    ]);
    assert.match(
      step.error!,
      /^vfio 0002:01:00\.0: failed to setup container for group 2: memory listener initialization failed: Region tce-iommu-80000100: Failed to create SPAPR window: Cannot allocate memory/,
    );
    assert.equal(step.qemu_aborts, true);
    assert.equal(report.host.locked_pages, 65536 + 64);
    assert.equal(report.host.containers.length, 1);
  });

  test("both devices cold-plugged: the window fails at the first reset and QEMU 7.2 dies", () => {
    const { report } =
      run(`${TWO_PHBS}    - { id: hostdev1, driver: vfio-pci, host: "0002:01:00.0", bus: 1 }
host:
  memlock_limit: 0x100600000
steps: []
`);
    assert.equal(report.ok, false);
    // The containers are set up before reset; the windows appear at reset, where a failure is
    // hw_error.
    assert.equal(
      report.error,
      "qemu-system-ppc64: aborted during reset: vfio: DMA mapping failed, unable to continue",
    );
  });
});

describe("sPAPR TCE v1: one group per container", () => {
  test("a second device on the same PHB gets its own container, ENABLE and 32-bit window", () => {
    const { report, machine } = run(`name: t
machine:
  memory: 4G
  devices:
    - { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
host:
  ddw: false
steps:
  - device_add: { id: hostdev1, driver: vfio-pci, host: "0001:02:00.0" }
`);
    assert.deepEqual((report.steps[0].result.ioctls as string[]).slice(0, 5), [
      "GROUP_SET_CONTAINER(group=2) = -EBUSY",
      "GROUP_SET_CONTAINER(group=2) = 0",
      "SET_IOMMU(type=spapr-tce-v2) = -EPERM",
      "SET_IOMMU(type=spapr-tce) = 0",
      "ENABLE() = 0",
    ]);
    assert.equal(machine.vfio!.containers.length, 2);
    assert.deepEqual(
      report.host.containers.map((c) => [c.backend, c.devices, c.locked_pages]),
      [
        ["spapr-tce", ["hostdev0"], 32768],
        ["spapr-tce", ["hostdev1"], 32768],
      ],
    );
    assert.equal(report.host.locked_pages, 65536);
    assert.ok(report.checks.every((c) => c.ok));
  });
});
