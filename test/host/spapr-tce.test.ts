/**
 * The host driver model on its own (spapr-vfio scenario 12): a direct ioctl script against a v2
 * container, every answer the Linux driver gives, including its quirks.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Errno } from "../../src/host/errno.ts";
import { POWER9_HOST } from "../../src/host/platform.ts";
import { SpaprTceContainer } from "../../src/host/spapr-tce.ts";

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
  assert.deepEqual(c.createWindow(16, 1n << 52n, 3), { ret: 0, start: 0n });
  assert.equal(c.mapDma(0x10000n, 0x10000n, H, true, true), 0);
  assert.equal(c.unmapDma(0n, 1n << 52n), 0);
  assert.equal(c.entries().length, 0);
  assert.equal(c.removeWindow(0n), 0);
});
