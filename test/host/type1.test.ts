/**
 * The type1 backend's reserved IOVA ranges: the platform's reserved regions (x86's MSI window by
 * default) are cut out of the aperture, MAP_DMA refuses them, and GET_INFO lists what is left.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Errno } from "../../src/host/errno.ts";
import { POWER9_HOST } from "../../src/host/platform.ts";
import { Type1Container, usableIovaRanges } from "../../src/host/type1.ts";
import { PseriesMachine } from "../../src/machine/pseries.ts";

const H = 0x7fff00000000n;
const GiB4 = 1n << 32n;

function type1(reservedIova?: [bigint, bigint][]) {
  const platform = { ...POWER9_HOST, pgsizes: 0x1000n, ...(reservedIova ? { reservedIova } : {}) };
  const c = new Type1Container(platform, [{ start: H, size: GiB4 }]);
  assert.equal(c.attachGroup(1), 0);
  return c;
}

test("MAP_DMA into x86's MSI window is EINVAL (vfio_iommu_iova_dma_valid); around it is fine", () => {
  const c = type1();
  assert.equal(c.mapDma(0xfee00000n, 0x1000n, H, true, true), -Errno.EINVAL);
  assert.equal(c.mapDma(0xfed00000n, 0x200000n, H, true, true), -Errno.EINVAL, "runs into it");
  assert.equal(c.mapDma(0xfedff000n, 0x1000n, H, true, true), 0);
  assert.equal(c.mapDma(0xfef00000n, 0x1000n, H, true, true), 0);
  assert.equal(c.mapDma(1n << 48n, 0x1000n, H, true, true), -Errno.EINVAL, "past the aperture");
});

test("GET_INFO lists the aperture minus the reserved ranges, and the mappings still available", () => {
  const c = type1();
  c.mapDma(0n, 0x1000n, H, true, true);
  const { info } = c.getInfo();
  assert.deepEqual(info?.iovaRanges, [
    { start: 0n, end: 0xfedfffffn },
    { start: 0xfef00000n, end: (1n << 48n) - 1n },
  ]);
  assert.equal(info?.dmaAvail, 65534);
  assert.deepEqual(type1([]).getInfo().info?.iovaRanges, [{ start: 0n, end: (1n << 48n) - 1n }]);
});

test("reserved ranges at the aperture's edges, overlapping and outside it", () => {
  assert.deepEqual(
    usableIovaRanges(
      [0n, 0xffffn],
      [
        [0n, 0xfffn],
        [0x8000n, 0x8fffn],
        [0x8800n, 0x9fffn],
        [0xf000n, 0x1ffffn],
      ],
    ),
    [
      { start: 0x1000n, end: 0x7fffn },
      { start: 0xa000n, end: 0xefffn },
    ],
  );
});

describe("QEMU 7.2 when a RAM section's MAP_DMA is refused (vfio_listener_region_add)", () => {
  // A device address space that shows guest RAM directly (no guest IOMMU), as on x86 without
  // vIOMMU: QEMU maps every RAM section, and knows nothing of the reserved ranges (it assumes a
  // 64-bit window, its FIXME).
  function machineWithRamAs(ramAt: bigint) {
    const m = new PseriesMachine({
      memory: 1n << 30n,
      host: { platform: { ...POWER9_HOST, pgsizes: 0x1000n }, backend: "type1" },
    });
    const root = m.memory.container("dma-root", (1n << 64n) - 1n);
    const as = m.memory.addressSpace(root, "direct-dma");
    root.addSubregion(m.memory.alias("ram-view", m.ram, 0n, 0x200000n), ramAt);
    return { m, as, root };
  }

  test("during setup: the hot-plug fails with QEMU's chain", () => {
    const { m, as } = machineWithRamAs(0xfed00000n);
    // The section's region is the alias's target, as memory_region_name(section->mr) prints it.
    assert.throws(
      () => m.vfio!.attach("0001:01:00.0", as),
      /^VfioError: vfio 0001:01:00\.0: failed to setup container for group 1: memory listener initialization failed: Region ppc_spapr\.ram: vfio_dma_map\(0x[0-9a-f]+, 0xfed00000, 0x200000, 0x7fff00000000\) = -22 \(Invalid argument\)$/,
    );
    assert.deepEqual(m.vfio!.events.reports, ["VFIO_MAP_DMA failed: Invalid argument"]);
  });

  test("after setup: the error is reported and QEMU aborts (hw_error)", () => {
    const { m, as, root } = machineWithRamAs(0x100000000n);
    m.vfio!.attach("0001:01:00.0", as);
    assert.deepEqual(m.vfio!.events.aborts, []);
    root.addSubregion(m.memory.alias("ram-view-2", m.ram, 0x200000n, 0x100000n), 0xfee00000n);
    assert.deepEqual(m.vfio!.events.aborts, ["vfio: DMA mapping failed, unable to continue"]);
    assert.match(
      m.vfio!.events.reports.at(-1)!,
      /^vfio_dma_map\(0x[0-9a-f]+, 0xfee00000, 0x100000, 0x7fff00200000\) = -22 \(Invalid argument\)$/,
    );
  });
});
