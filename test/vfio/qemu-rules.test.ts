/**
 * Small rules of QEMU 7.2's VFIO code that only show in unusual machines: the listener's
 * priority, how a notified entry is translated the rest of the way, and entries naming no target.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { POWER9_HOST } from "../../src/host/platform.ts";
import { IommuNotifierFlag } from "../../src/iommu/notifier.ts";
import { PageTableIommu } from "../../src/iommu/page-table-iommu.ts";
import { PseriesMachine } from "../../src/machine/pseries.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { hPutTce } from "../../src/spapr/hcalls.ts";
import { rtasCall } from "../../src/spapr/rtas.ts";

const BUID = [0x8000000, 0x20000000];

function machineWithVfio() {
  const m = new PseriesMachine({
    memory: 1n << 30n,
    host: { platform: POWER9_HOST, backend: "spapr-tce-v2" },
    devices: [{ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" }],
  });
  assert.equal(m.startupError, undefined);
  return m;
}

describe("vfio_memory_listener", () => {
  test("has priority 0: it sees a new window before a listener of priority 5 does", () => {
    const m = machineWithVfio();
    const vfio = m.vfio!;
    const seenAt: number[] = [];
    m.memory.registerListener(
      {
        name: "probe",
        priority: 5,
        regionAdd: (s) => {
          if (s.mr.isIommu) seenAt.push(vfio.io.log.length);
        },
      },
      m.phbs[0].dmaAddressSpace,
    );
    const before = vfio.io.log.length;
    assert.equal(rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, 16, 32], 4)[0], 0);
    // Additions run in ascending priority: VFIO (0) has created its host window already.
    assert.deepEqual(seenAt.slice(-1), [before + 1]);
    assert.equal(vfio.io.log.at(before)?.ioctl, "TCE_CREATE");
  });
});

describe("vfio_iommu_map_notify", () => {
  test("translates a write-only entry onward as a write (is_write from the entry's permission)", () => {
    const m = machineWithVfio();
    // System memory holds a second IOMMU that only lets writes through, to guest RAM 0x2000000.
    const writeOnly = new PageTableIommu(m.memory, "write-only", 0x10000n, m.memoryAs);
    writeOnly.map(0n, 0x2000000n, 2);
    m.sysmem.addSubregion(writeOnly.iommu.region, 0x100000000000n);
    const vfio = m.vfio!;
    assert.equal(hPutTce(m, 0x80000000n, 0x3000n, 0x100000000000n | 2n).ret, 0);
    assert.deepEqual(vfio.events.reports, []);
    const last = vfio.io.log.at(-1)!;
    assert.deepEqual(
      [last.ioctl, last.args.iova, last.args.vaddr, last.ret],
      ["MAP_DMA", 0x3000n, 0x7fff00000000n + 0x2000000n, 0],
    );
  });

  test("an entry that cannot be translated onward prints xlat, without 0x", () => {
    const m = machineWithVfio();
    const vfio = m.vfio!;
    // 0x40000000 is past the 1 GiB of RAM: nothing there.
    assert.equal(hPutTce(m, 0x80000000n, 0x3000n, 0x40001003n).ret, 0);
    assert.deepEqual(vfio.events.reports, ["iommu map to non memory area 40001000"]);
  });

  test("an entry whose target address space is NULL maps nothing and is where QEMU 7.2 would crash", () => {
    const m = machineWithVfio();
    const vfio = m.vfio!;
    const table = m.findTable(0x80000000n)!;
    const ioctls = vfio.io.log.length;
    table.iommu.notify(0, {
      type: IommuNotifierFlag.map,
      entry: { targetAs: null, iova: 0x1000n, translatedAddr: 0x1000n, addrMask: 0xfffn, perm: 3 },
    });
    assert.equal(vfio.io.log.length, ioctls);
    assert.equal(vfio.events.aborts.length, 1);
    assert.match(vfio.events.aborts[0], /target_as is NULL/);
  });
});

function runYaml(yaml: string) {
  return runScenario(loadScenario(yaml, "test.yaml"));
}

const HOTPLUG = `name: t
machine:
  memory: 1G
steps:
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
`;

describe("vfio_init_container", () => {
  test("any VFIO_SET_IOMMU failure in v2 mode is retried as v1, not only EPERM", () => {
    const { report } = runYaml(`${HOTPLUG}host:
  ddw: false
  faults: [{ ioctl: SET_IOMMU, errno: ENODEV, once: true }]
`);
    const ioctls = report.steps[0].result.ioctls as string[];
    assert.deepEqual(ioctls.slice(0, 4), [
      "GROUP_SET_CONTAINER(group=1) = 0",
      "SET_IOMMU(type=spapr-tce-v2) = -ENODEV",
      "SET_IOMMU(type=spapr-tce) = 0",
      "ENABLE() = 0",
    ]);
    assert.equal(report.steps[0].ok, true);
    assert.equal(report.host.containers[0].backend, "spapr-tce");
  });

  test("when v1 fails too, the error is QEMU's 'Failed to set iommu for container'", () => {
    const { report } = runYaml(`${HOTPLUG}host:
  faults: [{ ioctl: SET_IOMMU, errno: ENODEV, once: true }]
`);
    // On a DDW host v1 is refused with EPERM.
    assert.equal(
      report.steps[0].error,
      "vfio 0001:01:00.0: failed to setup container for group 1: Failed to set iommu for container: Operation not permitted",
    );
  });
});

describe("window removal", () => {
  test("a failed removal of the default window is reported, then fails the setup", () => {
    const { report } = runYaml(`${HOTPLUG}host:
  faults: [{ ioctl: TCE_REMOVE, errno: EINVAL, once: true }]
`);
    const step = report.steps[0];
    assert.deepEqual(step.result.qemu_log, ["Failed to remove window at 0"]);
    assert.equal(
      step.error,
      "vfio 0001:01:00.0: failed to setup container for group 1: failed to remove existing window: Invalid argument",
    );
  });
});
