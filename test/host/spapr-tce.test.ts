/**
 * The host driver model on its own (spapr-vfio scenario 12): a direct ioctl script against a v2
 * container, every answer the Linux driver gives, including its quirks.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Errno } from "../../src/host/errno.ts";
import { POWER9_HOST } from "../../src/host/platform.ts";
import { HostProcess } from "../../src/host/process.ts";
import { ioda2TablePages, SpaprTceContainer } from "../../src/host/spapr-tce.ts";

const H = 0x7fff00000000n;
const GiB4 = 1n << 32n;
const DDW = 1n << 59n;

test("the v2 driver's answers, in order (scenario 12)", () => {
  const c = new SpaprTceContainer(POWER9_HOST, true, [{ start: H, size: GiB4 }]);
  assert.equal(c.attachGroup(1), 0);
  assert.equal(c.mapDma(0n, 0x1000n, H, true, true), -Errno.EPERM);
  assert.equal(c.registerMemory(H, GiB4), 0);
  assert.equal(c.registerMemory(H, GiB4), -Errno.EBUSY);
  assert.equal(c.registerMemory(H + 0x10000n, 0x10000n), -Errno.EINVAL);
  assert.equal(c.registerMemory(H + 0x8000n, 0x10000n), -Errno.EINVAL);
  const info = c.getInfo();
  assert.deepEqual(
    [info.info?.dma32WindowStart, info.info?.dma32WindowSize, info.info?.flags],
    [0n, 0x80000000n, 1],
  );
  // The pending default window is created lazily by the first MAP.
  assert.equal(c.mapDma(0n, 0x1000n, H, true, true), 0);
  assert.deepEqual(
    c.windows().map((w) => [w.start, w.size, w.pageShift]),
    [[0n, 0x80000000n, 12]],
  );
  assert.equal(c.createWindow(13, GiB4, 1).ret, -Errno.EINVAL);
  assert.equal(c.createWindow(16, 3n << 30n, 1).ret, -Errno.EINVAL);
  assert.equal(c.createWindow(16, GiB4, 6).ret, -Errno.EINVAL);
  assert.deepEqual(c.createWindow(16, GiB4, 1), { ret: 0, start: DDW });
  assert.equal(c.createWindow(16, GiB4, 1).ret, -Errno.ENOSPC);
  assert.equal(c.createWindow(13, GiB4, 1).ret, -Errno.ENOSPC, "the free-slot search comes first");
  assert.equal(c.mapDma(0x100000000n, 0x10000n, H, true, true), -Errno.ENXIO);
  assert.equal(c.mapDma(DDW, 0x8000n, H, true, true), -Errno.EINVAL);
  assert.equal(c.mapDma(DDW + 0x1000n, 0x10000n, H, true, true), 1, "a misaligned iova returns +1");
  assert.equal(
    c.mapDma(DDW, 0x10000n, 0x10000000n, true, true),
    -Errno.EINVAL,
    "unregistered vaddr",
  );
  assert.equal(c.mapDma(DDW, 0x10000n, H, true, true), 0);
  assert.equal(c.mapDma(DDW, 0x10000n, H + 0x10000n, true, true), 0, "a remap replaces silently");
  assert.equal(c.lookup(DDW)?.hva, H + 0x10000n);
  assert.equal(c.unmapDma(DDW, 0x10000n), 0);
  assert.equal(c.unmapDma(DDW, 0x10000n), 0);
  assert.equal(c.unmapDma(0n, 0x1000n), 0);
  assert.equal(c.unmapDma(0x100000000n, 0x10000n), -Errno.ENXIO);
  assert.equal(c.removeWindow(DDW + 0x123456n), 0, "removes the window containing the address");
  assert.equal(c.removeWindow(DDW), -Errno.EINVAL);
  assert.equal(c.removeWindow(0n), 0);
  assert.equal(c.unregisterMemory(H, GiB4), 0);
  assert.equal(c.lockedPages, 0n);
  assert.equal(c.unregisterMemory(H, GiB4), -Errno.ENOENT);
  assert.equal(c.enable(), -Errno.ENOTTY);
});

test("v1 refuses v2-only ioctls, and v2 refuses ENABLE", () => {
  const v1 = new SpaprTceContainer({ ...POWER9_HOST, ddw: false }, false, [
    { start: H, size: GiB4 },
  ]);
  assert.equal(v1.attachGroup(1), 0);
  assert.equal(v1.createWindow(16, GiB4, 1).ret, -Errno.ENOTTY);
  assert.equal(v1.registerMemory(H, GiB4), -Errno.ENOTTY);
  assert.equal(v1.mapDma(0n, 0x1000n, H, true, false), -Errno.EPERM, "MAP before ENABLE");
  assert.equal(v1.enable(), 0);
  assert.equal(v1.lockedPages, 0x80000000n / 0x10000n);
  assert.equal(v1.mapDma(0n, 0x1000n, H, true, false), 0);
  const v2 = new SpaprTceContainer({ ...POWER9_HOST, ddw: false }, true, []);
  assert.equal(v2.attachGroup(1), -Errno.EPERM, "v2 needs a host with dynamic windows");
});

test("memory limits: preregistration over RLIMIT_MEMLOCK is ENOMEM", () => {
  const c = new SpaprTceContainer({ ...POWER9_HOST, memlockLimit: 1n << 30n }, true, [
    { start: H, size: GiB4 },
  ]);
  c.attachGroup(1);
  assert.equal(c.registerMemory(H, GiB4), -Errno.ENOMEM);
  assert.equal(c.registerMemory(H, 1n << 29n), 0);
  assert.equal(c.lockedPages, (1n << 29n) / 0x10000n);
});

test("unmapping or removing a huge sparse window costs what is mapped, not its size (fuzzer find)", () => {
  const c = new SpaprTceContainer(POWER9_HOST, true, [{ start: H, size: GiB4 }]);
  c.attachGroup(1);
  c.registerMemory(H, GiB4);
  c.removeWindow(0n);
  // 2^52 bytes of 64 KiB pages: 2^36 entries; the entry count truncates in QEMU, not here.
  // (Three levels of 2^16-byte tables would index 55 bits: EINVAL; two levels fit.)
  assert.deepEqual(c.createWindow(16, 1n << 52n, 2), { ret: 0, start: 0n });
  assert.equal(c.mapDma(0x10000n, 0x10000n, H, true, true), 0);
  assert.equal(c.unmapDma(0n, 1n << 52n), 0);
  assert.equal(c.entries().length, 0);
  assert.equal(c.removeWindow(0n), 0);
});

describe("multi-level TCE tables (pnv_pci_ioda2_get_table_size, pnv_pci_ioda2_table_alloc_pages)", () => {
  test("every level is charged: a 2^40 window of 64 KiB pages in 2 levels is 4098 pages", () => {
    assert.equal(ioda2TablePages(1n << 40n, 16, 2, 0x10000n), 4098n);
    // One level: the 2^27-byte table and its copy; the smallest table is one host page.
    assert.equal(ioda2TablePages(1n << 40n, 16, 1, 0x10000n), 4096n);
    assert.equal(ioda2TablePages(0x40000000n, 12, 1, 0x10000n), 64n);
    assert.equal(ioda2TablePages(0x10000n, 16, 1, 0x10000n), 2n);
    assert.equal(ioda2TablePages(3n << 30n, 16, 1, 0x10000n), 0n, "not a power of two");
    assert.equal(ioda2TablePages(1n << 40n, 16, 6, 0x10000n), 0n, "more than 5 levels");
    const c = new SpaprTceContainer(POWER9_HOST, true, []);
    c.attachGroup(1);
    c.removeWindow(0n);
    assert.deepEqual(c.createWindow(16, 1n << 40n, 2), { ret: 0, start: 0n });
    assert.equal(c.lockedPages, 4098n);
  });

  test("a shape indexing 55 bits or more is EINVAL, and its charge is not returned", () => {
    const c = new SpaprTceContainer(POWER9_HOST, true, []);
    c.attachGroup(1);
    c.removeWindow(0n);
    // 3 levels of 64 KiB tables index 3 * 13 bits; with 64 KiB pages that is 55 bits.
    assert.equal(c.createWindow(16, 1n << 52n, 3).ret, -Errno.EINVAL);
    assert.equal(c.lockedPages, 0n, "the container holds nothing");
    assert.equal(c.process.leakedPages, ioda2TablePages(1n << 52n, 16, 3, 0x10000n));
    assert.equal(c.process.lockedPages, c.process.leakedPages, "the process stays charged");
  });
});

describe("the driver's edge rules (vfio_iommu_spapr_tce.c, iommu_api.c)", () => {
  const GiB = 1n << 30n;
  function v2() {
    const c = new SpaprTceContainer(POWER9_HOST, true, [{ start: H, size: GiB4 }]);
    assert.equal(c.attachGroup(1), 0);
    return c;
  }

  test("MAP_DMA checks only the first page against the window; a zero size maps nothing", () => {
    const c = v2();
    c.registerMemory(H, GiB4);
    // The default window is 2 GiB of 4 KiB pages: a MAP starting on its last page passes.
    assert.equal(c.mapDma(0x7ffff000n, 0x3000n, H, true, true), 0);
    assert.deepEqual(
      c.entries().map((e) => e.iova),
      [0x7ffff000n],
    );
    assert.equal(c.mapDma(0x1000n, 0n, H, true, true), 0);
    assert.equal(c.entries().length, 1);
    // UNMAP_DMA checks the whole range: past the end is the driver's boolean +1.
    assert.equal(c.unmapDma(0x7ffff000n, 0x2000n), 1);
    assert.equal(c.unmapDma(0x7ffff000n, 0x1000n), 0);
  });

  test("memory is charged before the overlap check: ENOMEM wins over EINVAL", () => {
    const c = new SpaprTceContainer({ ...POWER9_HOST, memlockLimit: GiB }, true, [
      { start: H, size: GiB4 },
    ]);
    c.attachGroup(1);
    assert.equal(c.registerMemory(H, GiB), 0);
    assert.equal(c.registerMemory(H + 0x10000n, 0x20000n), -Errno.ENOMEM);
    assert.equal(c.process.lockedPages, GiB / 0x10000n);
    const roomy = v2();
    assert.equal(roomy.registerMemory(H, GiB), 0);
    assert.equal(roomy.registerMemory(H + 0x10000n, 0x20000n), -Errno.EINVAL);
    assert.equal(
      roomy.process.lockedPages,
      GiB / 0x10000n,
      "the refused overlap's charge is returned",
    );
  });

  test("UNREGISTER_MEMORY before the container knows its process is EPERM", () => {
    const c = v2();
    assert.equal(c.unregisterMemory(H, GiB), -Errno.EPERM);
    assert.equal(c.registerMemory(H, GiB), 0);
    assert.equal(c.unregisterMemory(H + GiB, GiB), -Errno.ENOENT);
    assert.equal(c.unregisterMemory(H, GiB), 0);
  });

  test("vaddr + size ending exactly at 2^64 wraps and is refused", () => {
    // The process has the top 128 KiB of its address space mapped, so only the wrap refuses.
    const c = new SpaprTceContainer(POWER9_HOST, true, [
      { start: (1n << 64n) - 0x20000n, size: 0x20000n },
    ]);
    c.attachGroup(1);
    assert.equal(c.registerMemory((1n << 64n) - 0x10000n, 0x10000n), -Errno.EINVAL);
    assert.equal(c.registerMemory((1n << 64n) - 0x20000n, 0x10000n), 0);
  });
});

describe("locked memory belongs to the process (account_locked_vm, mm_iommu_get)", () => {
  test("a second container finds the process's preregistration and charges nothing more", () => {
    const process = new HostProcess(0x10000n, undefined);
    const ram = [{ start: H, size: GiB4 }];
    const a = new SpaprTceContainer(POWER9_HOST, true, ram, undefined, process);
    const b = new SpaprTceContainer(POWER9_HOST, true, ram, undefined, process);
    a.attachGroup(1);
    b.attachGroup(2);
    assert.equal(a.registerMemory(H, GiB4), 0);
    assert.equal(b.registerMemory(H, GiB4), 0);
    assert.equal(process.lockedPages, 65536n);
    assert.equal(a.lockedPages, 65536n, "the first holder's share");
    assert.equal(b.lockedPages, 0n);
    // b maps through a's registration (mm_iommu_lookup is per process).
    assert.equal(b.mapDma(0n, 0x1000n, H, true, true), 0);
    assert.equal(a.unregisterMemory(H, GiB4), 0);
    assert.equal(process.lockedPages, 65536n + 128n, "still used by b (plus b's default window)");
    assert.equal(b.lockedPages, 65536n + 128n, "b holds it now");
    b.unmapDma(0n, 0x1000n);
    assert.equal(b.unregisterMemory(H, GiB4), 0);
    assert.equal(process.lockedPages, 128n, "the last user returned it");
  });

  test("a v1-only platform takes one group per container: the second attach is EBUSY", () => {
    const host = { ...POWER9_HOST, ddw: false };
    const c = new SpaprTceContainer(host, false, []);
    assert.equal(c.attachGroup(1), 0);
    assert.equal(c.attachGroup(2), -Errno.EBUSY);
    const d = new SpaprTceContainer(POWER9_HOST, true, []);
    assert.equal(d.attachGroup(1), 0);
    assert.equal(d.attachGroup(2), 0, "a platform with ownership ops takes more");
  });
});
