/**
 * VFIO against the recording host kernel: the exact ioctl lists QEMU 7.2 issues for cold-plug,
 * hot-plug, unplug, windows created and removed at run time, and the rollback after a failure.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { pseriesOf, runScenario } from "../../src/scenario/run.ts";

const H = "0x7fff00000000";

function run(yaml: string) {
  const { report, machine } = runScenario(loadScenario(yaml, "test.yaml"));
  const ioctls = (i: number) => (report.steps[i].result.ioctls as string[] | undefined) ?? [];
  return { report, machine, ioctls };
}

const GUEST_DDW = `
  - rtas: ibm,create-pe-dma-window
    device: usb0
    page_shift: 24
    window_shift: 32
  - hcall: H_PUT_TCE_INDIRECT
    args: { liobn: 0x80000001, ioba: 0x800000000000000, tces: [0x3, 0x1000003] }
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x0, tce: 0x12345003 }
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x5000, tce: 0x7fe5a001 }`;

const MACHINE = `name: t
machine:
  memory: 4G
  devices:
    - { id: usb0, driver: qemu-xhci }`;

describe("sPAPR TCE v2", () => {
  test("hot-plug after the guest made a DDW: prereg, default window removed, windows created before replay", () => {
    const { ioctls, report } = run(`${MACHINE}
steps:${GUEST_DDW}
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
`);
    assert.deepEqual(ioctls(4), [
      "GROUP_SET_CONTAINER(group=1) = 0",
      "SET_IOMMU(type=spapr-tce-v2) = 0",
      `REGISTER_MEMORY(vaddr=${H}, size=0x100000000) = 0`,
      "GET_INFO() = 0",
      "TCE_REMOVE(start_addr=0x0) = 0",
      "TCE_CREATE(page_shift=12, window_size=0x40000000, levels=1) = 0",
      "MAP_DMA(iova=0x0, size=0x1000, vaddr=0x7fff12345000, flags=3) = 0",
      "MAP_DMA(iova=0x5000, size=0x1000, vaddr=0x7fff7fe5a000, flags=1) = 0",
      "TCE_CREATE(page_shift=16, window_size=0x100000000, levels=1) = 0",
      "MAP_DMA(iova=0x800000000000000, size=0x1000000, vaddr=0x7fff00000000, flags=3) = 0",
      "MAP_DMA(iova=0x800000001000000, size=0x1000000, vaddr=0x7fff01000000, flags=3) = 0",
    ]);
    assert.deepEqual(
      report.checks.map((c) => [c.name, c.ok]),
      [
        ["shadow", true],
        ["isolation", true],
        ["accounting", true],
      ],
    );
  });

  test("cold-plug: the container is ready before reset; the default window appears at reset", () => {
    const { machine } = run(`${MACHINE}
    - { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
`);
    const log = machine.vfio!.io.log.slice().map((r) => `${r.ioctl} ${r.ret}`);
    assert.deepEqual(log, [
      "GROUP_SET_CONTAINER 0",
      "SET_IOMMU 0",
      "REGISTER_MEMORY 0",
      "GET_INFO 0",
      "TCE_REMOVE 0",
      "TCE_CREATE 0",
    ]);
    assert.equal(machine.vfio!.containers[0].kernel.lockedPages, 65536n + 64n);
  });

  test("a window the guest creates at run time is created on the host without replay; removal unmaps it", () => {
    const { ioctls } = run(`${MACHINE}
    - { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
steps:${GUEST_DDW}
  - rtas: ibm,remove-pe-dma-window
    liobn: 0x80000001
`);
    assert.deepEqual(ioctls(0), [
      "TCE_CREATE(page_shift=16, window_size=0x100000000, levels=1) = 0",
    ]);
    assert.deepEqual(ioctls(1), [
      "MAP_DMA(iova=0x800000000000000, size=0x1000000, vaddr=0x7fff00000000, flags=3) = 0",
      "MAP_DMA(iova=0x800000001000000, size=0x1000000, vaddr=0x7fff01000000, flags=3) = 0",
    ]);
    assert.deepEqual(ioctls(4), [
      "UNMAP_DMA(iova=0x800000000000000, size=0x100000000) = 0",
      "TCE_REMOVE(start_addr=0x800000000000000) = 0",
    ]);
  });

  test("unplug: every section removed, memory unregistered, the group leaves", () => {
    const { ioctls, machine } = run(`${MACHINE}
steps:${GUEST_DDW}
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
  - device_del: { id: hostdev0 }
`);
    assert.deepEqual(ioctls(5), [
      "UNMAP_DMA(iova=0x0, size=0x40000000) = 0",
      "TCE_REMOVE(start_addr=0x0) = 0",
      "UNMAP_DMA(iova=0x800000000000000, size=0x100000000) = 0",
      "TCE_REMOVE(start_addr=0x800000000000000) = 0",
      `UNREGISTER_MEMORY(vaddr=${H}, size=0x100000000) = 0`,
      "GROUP_UNSET_CONTAINER(group=1) = 0",
    ]);
    assert.equal(machine.vfio!.containers.length, 0);
    assert.equal(pseriesOf(machine).findTable(0x80000001n)!.needVfio, false);
  });

  test("a second device's group joins the container with no replay", () => {
    const { ioctls } = run(`${MACHINE}
steps:${GUEST_DDW}
  - device_add: { id: a, driver: vfio-pci, host: "0001:01:00.0" }
  - device_add: { id: b, driver: vfio-pci, host: "0001:02:00.0" }
`);
    assert.deepEqual(ioctls(5), ["GROUP_SET_CONTAINER(group=2) = 0"]);
  });

  test("a failed window creation fails the hot-plug with QEMU's chain, and the rollback is QEMU's abort", () => {
    const { report, ioctls, machine } = run(`${MACHINE}
host:
  faults:
    - { ioctl: TCE_CREATE, errno: ENOMEM, from: 2 }
steps:${GUEST_DDW}
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
    expect: { ok: false, error: "failed to setup container for group 1: memory listener initialization failed: Region tce-iommu-80000001: Failed to create SPAPR window: Cannot allocate memory" }
`);
    const step = report.steps[4];
    assert.equal(step.ok, true, JSON.stringify(step.expectation_failures));
    assert.equal(step.qemu_aborts, true);
    assert.match(step.error!, /Cannot delete missing window at 800000000000000/);
    assert.deepEqual(ioctls(4).slice(-9), [
      "TCE_CREATE(page_shift=16, window_size=0x100000000, levels=1) = -ENOMEM",
      "TCE_CREATE(page_shift=16, window_size=0x100000000, levels=2) = -ENOMEM",
      "TCE_CREATE(page_shift=16, window_size=0x100000000, levels=3) = -ENOMEM",
      "UNMAP_DMA(iova=0x0, size=0x40000000) = 0",
      "TCE_REMOVE(start_addr=0x0) = 0",
      "UNMAP_DMA(iova=0x800000000000000, size=0x100000000) = -ENXIO",
      "TCE_REMOVE(start_addr=0x800000000000000) = -EINVAL",
      `UNREGISTER_MEMORY(vaddr=${H}, size=0x100000000) = 0`,
      "GROUP_UNSET_CONTAINER(group=1) = 0",
    ]);
    assert.equal(machine.devices.has("hostdev0"), false);
    assert.equal(machine.vfio!.containers.length, 0);
  });
});

describe("sPAPR TCE v1 (no DDW on the host)", () => {
  test("v2 is refused, v1 is used: ENABLE, the 32-bit window only; a DDW cannot be mirrored", () => {
    const { report, ioctls } = run(`${MACHINE}
host:
  ddw: false
steps:${GUEST_DDW}
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
    expect: { ok: false, error: "Region tce-iommu-80000001: Container 0x" }
`);
    // vfio_init_container retries only VFIO_SET_IOMMU: the group is in the container already.
    assert.deepEqual(ioctls(4).slice(0, 5), [
      "GROUP_SET_CONTAINER(group=1) = 0",
      "SET_IOMMU(type=spapr-tce-v2) = -EPERM",
      "SET_IOMMU(type=spapr-tce) = 0",
      "ENABLE() = 0",
      "GET_INFO() = 0",
    ]);
    assert.equal(report.steps[4].ok, true);
    assert.match(
      report.steps[4].error!,
      /can't map guest IOVA region 0x800000000000000\.\.0x8000000ffffffff/,
    );
    assert.equal(report.steps[4].qemu_aborts, undefined);
  });
});

describe("type1", () => {
  test("guest mappings at their bus addresses; a remap is EEXIST; a DDW beyond 48 bits is EINVAL", () => {
    const { report, ioctls } = run(`${MACHINE}
host:
  iommu: type1
  page_size: 4K
  pgsizes: [4K, 2M, 1G]
steps:
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0000:01:00.0" }
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x1000, tce: 0x5003 }
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x1000, tce: 0x6003 }
  - rtas: ibm,create-pe-dma-window
    device: usb0
    page_shift: 16
    window_shift: 31
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000001, ioba: 0x800000000000000, tce: 0x3 }
`);
    assert.deepEqual(ioctls(0), [
      "GROUP_SET_CONTAINER(group=1) = 0",
      "SET_IOMMU(type=type1v2) = 0",
      "GET_INFO() = 0",
    ]);
    assert.deepEqual(ioctls(1), [
      "MAP_DMA(iova=0x1000, size=0x1000, vaddr=0x7fff00005000, flags=3) = 0",
    ]);
    assert.deepEqual(ioctls(2), [
      "MAP_DMA(iova=0x1000, size=0x1000, vaddr=0x7fff00006000, flags=3) = -EEXIST",
    ]);
    assert.deepEqual(ioctls(4), [
      "MAP_DMA(iova=0x800000000000000, size=0x10000, vaddr=0x7fff00000000, flags=3) = -EINVAL",
    ]);
    assert.equal(report.checks.find((c) => c.name === "shadow")!.ok, false);
  });
});
