/**
 * What VFIO on q35 shows differently under QEMU 10.0: a failed map names the container API and no
 * "VFIO_MAP_DMA failed" line comes before it; the iommufd backend binds, allocates an IOAS,
 * attaches through a hardware page table, reads the IOVA ranges and maps RAM with IOMMU_IOAS_MAP;
 * QEMU 7.2 has no iommufd object. Texts are the real binaries' formats (test/vfio/messages.test.ts
 * finds each in them).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GUEST_RAM_HVA } from "../../src/host/platform.ts";
import { X86_HOST } from "../../src/host/x86-host.ts";
import { Q35DeviceError, Q35Machine } from "../../src/machine/q35.ts";

const GiB = 1n << 30n;
/** A host whose IOMMU addresses only 32 bits: RAM above 4 GiB cannot be mapped. */
const NARROW = { ...X86_HOST, iovaRange: [0n, (1n << 32n) - 1n] as const };
const NIC = { driver: "vfio-pci", id: "nic", properties: { host: "0000:01:00.0" } };

function hotplugError(m: Q35Machine): string {
  try {
    m.plug(NIC);
  } catch (e) {
    assert.ok(e instanceof Q35DeviceError);
    return e.message;
  }
  assert.fail("the hot-plug succeeded");
}

test("a RAM section the host cannot map: 7.2 prints VFIO_MAP_DMA failed and names vfio_dma_map", () => {
  const m = new Q35Machine({ memory: 4n * GiB, host: { platform: NARROW }, qemu: "7.2" });
  const error = hotplugError(m);
  assert.match(
    error,
    /^vfio 0000:01:00\.0: failed to setup container for group 1: memory listener initialization failed: Region \S+: vfio_dma_map\(0x[0-9a-f]+, 0x100000000, 0x80000000, 0x7fff80000000\) = -22 \(Invalid argument\)$/,
  );
  assert.deepEqual(m.vfio!.events.reports, ["VFIO_MAP_DMA failed: Invalid argument"]);
});

test("the same under 10.0 names vfio_container_dma_map and prints nothing before it", () => {
  const m = new Q35Machine({ memory: 4n * GiB, host: { platform: NARROW }, qemu: "10.0" });
  const error = hotplugError(m);
  assert.match(
    error,
    /^vfio 0000:01:00\.0: failed to setup container for group 1: memory listener initialization failed: Region \S+: vfio_container_dma_map\(0x[0-9a-f]+, 0x100000000, 0x80000000, 0x7fff80000000\) = -22 \(Invalid argument\)$/,
  );
  assert.deepEqual(m.vfio!.events.reports, []);
});

/** The reports of a q35 whose host fails every unmap ioctl `ioctl` with `errno`, after unplugging its vfio-pci. */
function unplugWithFailingUnmaps(
  qemu: "7.2" | "10.0",
  backend: "type1" | "iommufd",
  ioctl: string,
  errno: number,
): readonly string[] {
  const platform = { ...X86_HOST, faults: [{ ioctl, errno }] };
  const m = new Q35Machine({
    memory: 256n << 20n,
    host: { platform, ...(backend === "iommufd" ? { backend } : {}) },
    qemu,
    devices: [NIC],
  });
  m.unplug("nic");
  return m.vfio!.events.reports;
}

test("a failed type1 unmap: 7.2 prints VFIO_UNMAP_DMA failed before vfio_dma_unmap's line, 10.0 only vfio_container_dma_unmap's", () => {
  const old = unplugWithFailingUnmaps("7.2", "type1", "UNMAP_DMA", 22);
  const now = unplugWithFailingUnmaps("10.0", "type1", "UNMAP_DMA", 22);
  const unmapLines = (reports: readonly string[], fn: string) =>
    reports.filter((l) => l.startsWith(`${fn}(`)).map((l) => l.replace(/^\w+\(0x[0-9a-f]+, /, "("));
  // Every unmap fails the same way on both (one while the machine is built, five at the unplug).
  const old5 = unmapLines(old, "vfio_dma_unmap");
  assert.ok(old5.length >= 5);
  assert.deepEqual(unmapLines(now, "vfio_container_dma_unmap"), old5);
  assert.equal(
    old.filter((l) => l === "VFIO_UNMAP_DMA failed: Invalid argument").length,
    old5.length,
  );
  for (const [i, line] of old.entries()) {
    if (line.startsWith("vfio_dma_unmap("))
      assert.equal(old[i - 1], "VFIO_UNMAP_DMA failed: Invalid argument");
  }
  assert.deepEqual(
    now.filter((l) => l.startsWith("VFIO_")),
    [],
    "10.0's legacy backend prints nothing of its own",
  );
});

test("iommufd under 10.0: a failed IOMMU_IOAS_UNMAP prints only vfio_container_dma_unmap's line, ENOENT nothing", () => {
  const failed = unplugWithFailingUnmaps("10.0", "iommufd", "IOMMU_IOAS_UNMAP", 22);
  const unmaps = failed.filter((l) => l.startsWith("vfio_container_dma_unmap("));
  assert.ok(unmaps.length >= 5);
  assert.ok(unmaps.every((l) => l.endsWith(") = -22 (Invalid argument)")));
  assert.deepEqual(
    failed.filter((l) => l.includes("IOMMU_IOAS")),
    [],
    "no IOMMU_IOAS_UNMAP failed line (removed in 10.0)",
  );
  const absent = unplugWithFailingUnmaps("10.0", "iommufd", "IOMMU_IOAS_UNMAP", 2);
  assert.deepEqual(
    absent.filter((l) => l.includes("unmap")),
    [],
  );
});

test("QEMU 10's iommufd backend: bind, IOAS, page table, attach, IOVA ranges, then RAM mapped at its guest address", () => {
  const m = new Q35Machine({
    memory: 256n << 20n,
    host: { platform: X86_HOST, backend: "iommufd" },
    qemu: "10.0",
    devices: [NIC],
  });
  const io = m.vfio!.io.log.slice();
  assert.deepEqual(
    io.slice(0, 6).map((r) => `${r.ioctl} ${r.ret}`),
    [
      "VFIO_DEVICE_BIND_IOMMUFD 0",
      "IOMMU_IOAS_ALLOC 0",
      "IOMMU_HWPT_ALLOC 0",
      "VFIO_DEVICE_ATTACH_IOMMUFD_PT 0",
      `IOMMU_IOAS_IOVA_RANGES -${90}`,
      "IOMMU_IOAS_IOVA_RANGES 0",
    ],
  );
  const maps = io.filter((r) => r.ioctl === "IOMMU_IOAS_MAP");
  assert.ok(maps.length > 0);
  let mapped = 0n;
  for (const r of maps) {
    const a = r.args as { iova: bigint; length: bigint; user_va: bigint; flags: number };
    assert.equal(r.ret, 0);
    mapped += a.length;
    assert.equal(a.flags & 5, 5, "FIXED_IOVA | READABLE");
    if (a.iova >= 1n << 20n && a.iova < 256n << 20n) {
      assert.equal(a.user_va - GUEST_RAM_HVA, a.iova, "RAM at its guest-physical address");
      assert.equal(a.flags, 1 | 2 | 4, "and WRITEABLE");
    }
  }
  m.cpuMemory.write(0x123000n, new Uint8Array([1, 2, 3, 4]));
  assert.deepEqual(m.assignedDma("nic", 0x123000n, 4), {
    status: "ok",
    data: new Uint8Array([1, 2, 3, 4]),
  });
  const kernel = m.vfio!.containers[0].kernel;
  assert.equal(kernel.backend, "iommufd");
  assert.equal(kernel.lockedPages, kernel.expectedChargedPages());
  const unmapped = io
    .filter((r) => r.ioctl === "IOMMU_IOAS_UNMAP" && r.ret === 0)
    .reduce((n, r) => n + (r.args as { length: bigint }).length, 0n);
  assert.equal(
    kernel.lockedPages,
    (mapped - unmapped) / 0x1000n,
    "every page mapped now, pinned once",
  );
});

test("a second device of the same address space joins the container and its page table", () => {
  const m = new Q35Machine({
    memory: 256n << 20n,
    host: { platform: X86_HOST, backend: "iommufd" },
    qemu: "10.0",
    devices: [NIC, { driver: "vfio-pci", id: "nic2", properties: { host: "0000:02:00.0" } }],
  });
  assert.equal(m.vfio!.containers.length, 1);
  const names = m.vfio!.io.log.slice().map((r) => r.ioctl);
  assert.equal(names.filter((n) => n === "IOMMU_IOAS_ALLOC").length, 1);
  assert.equal(names.filter((n) => n === "IOMMU_HWPT_ALLOC").length, 1);
  assert.equal(names.filter((n) => n === "VFIO_DEVICE_ATTACH_IOMMUFD_PT").length, 2);
});

test("iommufd on a host whose aperture ends at 4 GiB: the IOAS reserves the rest and the chain has no group", () => {
  const m = new Q35Machine({
    memory: 4n * GiB,
    host: { platform: NARROW, backend: "iommufd" },
    qemu: "10.0",
  });
  const error = hotplugError(m);
  assert.match(
    error,
    /^vfio 0000:01:00\.0: memory listener initialization failed: Region \S+: vfio_container_dma_map\(0x[0-9a-f]+, 0x100000000, 0x80000000, 0x7fff80000000\) = -22 \(Invalid argument\)$/,
  );
  assert.deepEqual(m.vfio!.events.reports, []);
  assert.equal(m.vfio!.process.lockedPages, 0n, "the failed hot-plug unpinned everything");
  // QEMU's rollback (iommufd_cdev_attach's error path): detach and free the page table, then the
  // listener goes (unmapping; the section that failed answers ENOENT, ignored), then the IOAS.
  const names = m.vfio!.io.log.slice().map((r) => `${r.ioctl} ${r.ret}`);
  const rollback = names.slice(names.indexOf("VFIO_DEVICE_DETACH_IOMMUFD_PT 0"));
  assert.deepEqual(rollback, [
    "VFIO_DEVICE_DETACH_IOMMUFD_PT 0",
    "IOMMU_DESTROY 0",
    "IOMMU_IOAS_UNMAP 0",
    "IOMMU_IOAS_UNMAP 0",
    "IOMMU_IOAS_UNMAP 0",
    "IOMMU_IOAS_UNMAP 0",
    "IOMMU_IOAS_UNMAP 0",
    "IOMMU_IOAS_UNMAP -2",
    "IOMMU_DESTROY 0",
  ]);
});

test("under QEMU 7.2 there is no iommufd object: the machine does not start, with 7.2's message", () => {
  assert.throws(
    () => new Q35Machine({ host: { platform: X86_HOST, backend: "iommufd" }, qemu: "7.2" }),
    {
      name: "Q35DeviceError",
      message: "-object iommufd,id=iommufd0: Parameter 'qom-type' does not accept value 'iommufd'",
    },
  );
});

/** A host IOMMU that addresses 39 bits (as many client VT-d implementations do). */
const HOST39 = { ...X86_HOST, iovaRange: [0n, (1n << 39n) - 1n] as const };
const VTD_NIC = { driver: "vfio-pci", id: "nic", slot: 3, properties: { host: "0000:01:00.0" } };

test("intel-iommu's aw-bits default is 39 on 7.2 and 48 on 10.0, and 10.0 names the mode in its refusal", () => {
  const m7 = new Q35Machine({ intelIommu: { cachingMode: true }, qemu: "7.2" });
  const m10 = new Q35Machine({ intelIommu: { cachingMode: true }, qemu: "10.0" });
  assert.equal(m7.intelIommu!.awBits, 39);
  assert.equal(m10.intelIommu!.awBits, 48);
  assert.throws(() => new Q35Machine({ intelIommu: { awBits: 40 }, qemu: "7.2" }), {
    message: "Supported values for aw-bits are: 39, 48",
  });
  assert.throws(() => new Q35Machine({ intelIommu: { awBits: 40 }, qemu: "10.0" }), {
    message: "Legacy mode: supported values for aw-bits are: 39, 48",
  });
});

test("10.0 refuses vfio-pci behind a 48-bit intel-iommu on a 39-bit host IOMMU; 7.2 plugs it", () => {
  const m7 = new Q35Machine({
    intelIommu: { cachingMode: true },
    host: { platform: HOST39 },
    qemu: "7.2",
  });
  m7.plug(VTD_NIC);
  assert.equal(m7.vfio!.containers.length, 1);
  const m10 = new Q35Machine({
    intelIommu: { cachingMode: true },
    host: { platform: HOST39 },
    qemu: "10.0",
  });
  assert.throws(() => m10.plug(VTD_NIC), {
    name: "Q35DeviceError",
    message: "vfio 0000:01:00.0: Failed to set vIOMMU: aw-bits 48 > host aw-bits 39",
  });
  assert.equal(m10.vfio!.containers.length, 0, "the container was torn down");
  assert.equal(m10.vfio!.process.lockedPages, 0n);
  const ok = new Q35Machine({
    intelIommu: { cachingMode: true, awBits: 39 },
    host: { platform: HOST39 },
    qemu: "10.0",
  });
  ok.plug(VTD_NIC);
  assert.equal(ok.vfio!.containers.length, 1, "aw-bits=39 fits the host");
});

test("the isolation and accounting checks hold on an iommufd container, and accounting sees a pin it did not make", async () => {
  const { runCheck } = await import("../../src/vfio/checks.ts");
  const m = new Q35Machine({
    memory: 256n << 20n,
    host: { platform: X86_HOST, backend: "iommufd" },
    qemu: "10.0",
    devices: [NIC],
  });
  // (The shadow check compares with guest IOMMU tables: q35 without one is not its case.)
  for (const name of ["isolation", "accounting"] as const) {
    const r = runCheck(m.vfio, name);
    assert.equal(r.ok, true, `${name}: ${r.violations.map((v) => v.message).join("; ")}`);
  }
  // Memory pinned behind the container's back (another user of the process) breaks the sum.
  m.vfio!.process.charge(3n);
  assert.equal(runCheck(m.vfio, "accounting").ok, false);
});

test("under 10.0 a pc-q35-9.1 machine keeps intel-iommu's old aw-bits default (hw_compat_9_1)", () => {
  const old = new Q35Machine({ machineType: "pc-q35-9.1", intelIommu: {}, qemu: "10.0" });
  const now = new Q35Machine({ machineType: "pc-q35-9.2", intelIommu: {}, qemu: "10.0" });
  assert.equal(old.intelIommu!.awBits, 39);
  assert.equal(now.intelIommu!.awBits, 48);
});

/** A v1 host (no DDW) and a default window whose end is not on a 64 KiB host page. */
const V1_ODD_WINDOW = `name: v1-odd-window
machine:
  memory: 4G
  phbs:
    - { index: 0, dma_win_addr: 0x10000, dma_win_size: 0x7fff8000 }
host:
  ddw: false
steps:
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
`;

test("sPAPR v1: 7.2 checks a section's host-page-aligned part against the 32-bit window, 10.0 its own bounds", async () => {
  const { loadScenario } = await import("../../src/scenario/load.ts");
  const { runScenario } = await import("../../src/scenario/run.ts");
  const run = (qemu: "7.2" | "10.0") =>
    runScenario(loadScenario(V1_ODD_WINDOW, "v1.yaml"), { qemu }).report.steps[0];
  assert.equal(run("7.2").outcome, "succeeded", "the aligned part [0x10000, 0x7fffffff] fits");
  const step = run("10.0");
  assert.equal(step.outcome, "refused");
  assert.match(
    String(step.error),
    /failed to setup container for group 1: memory listener initialization failed: Region tce-iommu-80000000: Container 0x[0-9a-f]+ can't map guest IOVA region 0x10000\.\.0x80007fff$/,
  );
});

/** q35 under 10.0 with an iommufd host whose kernel fails `ioctl` with `errno` (a fault plan). */
function iommufdWithFault(ioctl: string, errno: number): { m: Q35Machine; error?: string } {
  const platform = { ...X86_HOST, faults: [{ ioctl, errno }] };
  const m = new Q35Machine({
    memory: 256n << 20n,
    host: { platform, backend: "iommufd" },
    qemu: "10.0",
  });
  try {
    m.plug(NIC);
    return { m };
  } catch (e) {
    assert.ok(e instanceof Q35DeviceError);
    return { m, error: e.message };
  }
}

test("iommufd failures read as QEMU 10 prints them: page table, IOAS, map (EFAULT warns), IOVA ranges (warns, goes on)", () => {
  assert.equal(
    iommufdWithFault("IOMMU_HWPT_ALLOC", 95).error,
    "vfio 0000:01:00.0: Failed to allocate hwpt: Operation not supported",
  );
  assert.equal(
    iommufdWithFault("IOMMU_IOAS_ALLOC", 12).error,
    "vfio 0000:01:00.0: Failed to allocate ioas: Cannot allocate memory",
  );
  const fault = iommufdWithFault("IOMMU_IOAS_MAP", 14);
  assert.match(
    fault.error ?? "",
    /^vfio 0000:01:00\.0: memory listener initialization failed: Region \S+: vfio_container_dma_map\(0x[0-9a-f]+, 0x0, 0xc0000, 0x7fff00000000\) = -14 \(Bad address\)$/,
  );
  assert.equal(
    fault.m.vfio!.events.reports[0],
    "warning: IOMMU_IOAS_MAP failed: Bad address, PCI BAR?",
  );
  const ranges = iommufdWithFault("IOMMU_IOAS_IOVA_RANGES", 25);
  assert.equal(ranges.error, undefined, "a warning only");
  assert.deepEqual(ranges.m.vfio!.events.reports, [
    "warning: Cannot get IOVA ranges: Inappropriate ioctl for device",
    "Fallback to default 64bit IOVA range and 4K page size",
  ]);
  assert.equal(ranges.m.vfio!.containers[0].hostAwBits, 64, "no ranges: QEMU assumes 64 bits");
  const unbound = iommufdWithFault("VFIO_DEVICE_BIND_IOMMUFD", 16);
  assert.equal(
    unbound.error,
    "vfio 0000:01:00.0: error bind device fd=22 to iommufd=21: Device or resource busy",
  );
  assert.equal(unbound.m.vfio!.process.lockedPages, 0n);
});
