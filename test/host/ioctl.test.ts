/** The ioctl boundary: records, planned faults, and the last failure (QEMU's stale errno). */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Errno } from "../../src/host/errno.ts";
import { formatIoctl, type IoctlArg, IoctlBoundary } from "../../src/host/ioctl.ts";

test("every call is recorded in order with its raw arguments and result", () => {
  const io = new IoctlBoundary();
  io.call("MAP_DMA", { iova: 0x1000n, size: 0x1000n }, () => 0);
  io.call("UNMAP_DMA", { iova: 0x3000n, size: 0x1000n }, () => 1);
  assert.deepEqual(io.log.slice().map(formatIoctl), [
    "MAP_DMA(iova=0x1000, size=0x1000) = 0",
    "UNMAP_DMA(iova=0x3000, size=0x1000) = 1",
  ]);
  assert.deepEqual(
    io.log.slice().map((r) => r.seq),
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

test("the log gives back every record as it was called, whatever its arguments", () => {
  const calls: [string, Record<string, IoctlArg>, number][] = [
    ["MAP_DMA", { iova: 0x800000000000000n, size: 0x10000n, vaddr: 0x7fff00000000n, flags: 3 }, 0],
    ["SET_IOMMU", { type: "spapr-tce-v2" }, 0],
    ["MAP_DMA", { iova: (1n << 64n) - 1n, size: 1n, vaddr: 0n, flags: 1 }, 1],
    // Same name, other keys or kinds: a second shape, or kept whole when out of 64 bits.
    ["MAP_DMA", { size: 0x1000n, iova: 0n }, -Errno.EINVAL],
    ["MAP_DMA", { iova: 1n << 64n, size: -1n }, -Errno.EINVAL],
    ["MAP_DMA", { iova: 0x1000n, size: 0x1000n, vaddr: 0x2000n, flags: 2.5 }, 0],
    ["GET_INFO", {}, 2 ** 40],
    ["TCE_REMOVE", { start_addr: 0n }, -0],
  ];
  const io = new IoctlBoundary();
  for (const [name, args, ret] of calls) io.call(name, { ...args }, () => ret);
  const want = calls.map(([ioctl, args, ret], seq) => ({ seq, ioctl, args, ret }));
  assert.equal(io.log.length, calls.length);
  assert.deepEqual(io.log.slice(), want);
  assert.deepEqual([...io.log], want);
  assert.deepEqual(io.log.at(-1), want.at(-1));
  assert.deepEqual(io.log.slice(-3, -1), want.slice(-3, -1));
  assert.equal(io.log.at(calls.length), undefined);
  for (const [i, record] of want.entries()) {
    assert.deepEqual(io.log.at(i), record);
    // Argument order is kept: reports print them in call order.
    assert.deepEqual(Object.keys(io.log.at(i)!.args), Object.keys(record.args));
  }
});

test("the log matches a plain array over random calls", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.constantFrom("MAP_DMA", "UNMAP_DMA", "TCE_CREATE"),
          fc.dictionary(
            fc.constantFrom("iova", "size", "vaddr", "flags", "levels"),
            fc.oneof(fc.bigInt({ min: -1n, max: 1n << 65n }), fc.integer(), fc.string()),
            { noNullPrototype: true },
          ),
          fc.oneof(fc.integer({ min: -200, max: 2 }), fc.double()),
        ),
        { maxLength: 300 },
      ),
      (calls) => {
        const io = new IoctlBoundary();
        for (const [name, args, ret] of calls) io.call(name, args, () => ret);
        assert.deepEqual(
          io.log.slice(),
          calls.map(([ioctl, args, ret], seq) => ({ seq, ioctl, args, ret })),
        );
      },
    ),
    { seed: 20261128, numRuns: 200 },
  );
});

test("a series of calls in the log reads back as the calls one by one, between single calls", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.constantFrom("MAP_DMA", "UNMAP_DMA"),
          fc.record(
            {
              iova: fc.bigInt({ min: 0n, max: 1n << 62n }),
              size: fc.constantFrom(0x1000n, 0x10000n),
              vaddr: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 62n }), fc.string()),
              flags: fc.integer({ min: 0, max: 3 }),
            },
            { noNullPrototype: true },
          ),
          fc.integer({ min: -30, max: 1 }),
          // 1: a single call; more: a series whose iova (and vaddr, or not) advance.
          fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 40 })),
          fc.boolean(),
        ),
        { maxLength: 60 },
      ),
      (calls) => {
        const io = new IoctlBoundary();
        const want: unknown[] = [];
        for (const [name, args, ret, count, sameVaddr] of calls) {
          const steps = { iova: args.size, vaddr: sameVaddr ? 0n : args.size };
          const expanded = Array.from({ length: count }, (_, k) => ({
            ...args,
            iova: args.iova + BigInt(k) * args.size,
            vaddr:
              typeof args.vaddr === "bigint" ? args.vaddr + BigInt(k) * steps.vaddr : args.vaddr,
          }));
          if (count === 1) io.call(name, args, () => ret);
          else if (typeof args.vaddr === "string")
            for (const a of expanded) io.call(name, a, () => ret);
          else io.recordSeries(name, args, ret, count, steps);
          for (const a of expanded) want.push({ seq: want.length, ioctl: name, args: a, ret });
        }
        assert.equal(io.log.length, want.length, "every call of a series is counted");
        assert.deepEqual(io.log.slice(), want);
        assert.deepEqual([...io.log], want);
        if (want.length > 0) assert.deepEqual(io.log.at(-1), want.at(-1));
      },
    ),
    { seed: 20261128, numRuns: 200 },
  );
});
