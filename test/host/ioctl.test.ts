/** The ioctl boundary: records, planned faults, and the last failure (QEMU's stale errno). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Errno } from "../../src/host/errno.ts";
import { formatIoctl, IoctlBoundary } from "../../src/host/ioctl.ts";

test("every call is recorded in order with its raw arguments and result", () => {
  const io = new IoctlBoundary();
  io.call("MAP_DMA", { iova: 0x1000n, size: 0x1000n }, () => 0);
  io.call("UNMAP_DMA", { iova: 0x3000n, size: 0x1000n }, () => 1);
  assert.deepEqual(io.log.map(formatIoctl), [
    "MAP_DMA(iova=0x1000, size=0x1000) = 0",
    "UNMAP_DMA(iova=0x3000, size=0x1000) = 1",
  ]);
  assert.deepEqual(
    io.log.map((r) => r.seq),
    [0, 1],
  );
});

test("a planned fault replaces the body's result from its Nth call, or only once", () => {
  const io = new IoctlBoundary([
    { ioctl: "MAP_DMA", errno: Errno.ENOMEM, from: 2, once: true },
    { ioctl: "UNMAP_DMA", errno: Errno.EBUSY, from: 2 },
  ]);
  let ran = 0;
  const body = () => {
    ran++;
    return 0;
  };
  const maps = [1, 2, 3].map(() => io.call("MAP_DMA", {}, body));
  const unmaps = [1, 2, 3].map(() => io.call("UNMAP_DMA", {}, body));
  assert.deepEqual(maps, [0, -Errno.ENOMEM, 0]);
  assert.deepEqual(unmaps, [0, -Errno.EBUSY, -Errno.EBUSY]);
  assert.equal(ran, 3, "a faulted call does not run its body");
});

test("the last failure is the most recent error, kept across later successes", () => {
  const io = new IoctlBoundary();
  assert.equal(io.lastFailed(), undefined);
  io.call("MAP_DMA", {}, () => -Errno.EINVAL);
  io.call("MAP_DMA", {}, () => -Errno.ENXIO);
  io.call("UNMAP_DMA", {}, () => 0);
  io.call("UNMAP_DMA", {}, () => 1); // positive: not an error, errno stays stale
  assert.equal(io.lastFailed()?.ret, -Errno.ENXIO);
  assert.equal(io.lastFailed()?.seq, 1);
});
