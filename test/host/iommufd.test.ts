/**
 * Linux's iommufd as userspace sees it (drivers/iommu/iommufd/ioas.c, io_pagetable.c): each
 * ioctl's errno in the kernel's order, the reserved ranges a domain and a device add, the ranges
 * IOMMU_IOAS_IOVA_RANGES reports, pinning only while a domain holds the IOAS, and the refusal on
 * a sPAPR TCE host (no paging domain).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Errno } from "../../src/host/errno.ts";
import {
  IOAS_MAP_FIXED_IOVA as FIXED,
  Iommufd,
  IommufdContainer,
  iommufdObjectRefusal,
  IOAS_MAP_READABLE as R,
  IOAS_MAP_WRITEABLE as W,
} from "../../src/host/iommufd.ts";
import { POWER9_HOST } from "../../src/host/platform.ts";

const H = 0x7fff00000000n;
const GiB = 1n << 30n;
const TOP = (1n << 64n) - 1n;
/** An x86 host: 4 KiB pages, a 48-bit aperture, the MSI window reserved (the platform default). */
const X86 = { ...POWER9_HOST, pageSize: 0x1000n, pgsizes: 0x40201000n, ramPageSize: 0x1000n };

function fd(options: { memlockLimit?: bigint; pagingDomains?: boolean } = {}) {
  const platform = {
    ...X86,
    ...(options.memlockLimit ? { memlockLimit: options.memlockLimit } : {}),
  };
  return new Iommufd(platform, [{ start: H, size: 4n * GiB }], {
    pagingDomains: options.pagingDomains ?? true,
  });
}

/** A bound device attached to a new IOAS through its own hardware page table, as QEMU 10 does it. */
function attached(f = fd()) {
  const dev = f.bindDevice("0000:01:00.0");
  const ioas = f.ioasAlloc();
  const hwpt = f.hwptAlloc(dev.devId!, ioas.ioasId!);
  assert.equal(f.attachDevice(dev.devId!, hwpt.hwptId!).ret, 0);
  return { f, devId: dev.devId!, ioasId: ioas.ioasId!, hwptId: hwpt.hwptId! };
}

test("object ids count from 1 in creation order: device, IOAS, hardware page table (QEMU's trace order)", () => {
  const { devId, ioasId, hwptId } = attached();
  assert.deepEqual([devId, ioasId, hwptId], [1, 2, 3]);
});

test("IOMMU_IOAS_MAP checks flags, then overflow, then permission, then the IOAS", () => {
  const { f, ioasId } = attached();
  assert.equal(f.ioasMap(ioasId, 0n, 0x1000n, H, FIXED | R | 8).ret, -Errno.EOPNOTSUPP);
  assert.equal(f.ioasMap(ioasId, TOP, 0x1000n, H, FIXED | R).ret, -Errno.EOVERFLOW);
  assert.equal(f.ioasMap(ioasId, 0n, TOP, H, FIXED | R).ret, -Errno.EOVERFLOW);
  assert.equal(f.ioasMap(ioasId, 0n, 0x1000n, H, FIXED).ret, -Errno.EINVAL, "neither R nor W");
  assert.equal(f.ioasMap(99, 0n, 0x1000n, H, FIXED | R).ret, -Errno.ENOENT, "no such IOAS");
  assert.equal(f.ioasMap(ioasId, 0n, 0n, H, FIXED | R).ret, -Errno.EINVAL, "zero length");
});

test("a fixed IOVA must be aligned to the domain's page, outside reserved ranges, and free (EEXIST)", () => {
  const { f, ioasId } = attached();
  assert.equal(f.ioasMap(ioasId, 0x800n, 0x1000n, H, FIXED | R | W).ret, -Errno.EINVAL);
  assert.equal(f.ioasMap(ioasId, 0xfee00000n, 0x1000n, H, FIXED | R).ret, -Errno.EINVAL, "MSI");
  assert.equal(f.ioasMap(ioasId, 1n << 48n, 0x1000n, H, FIXED | R).ret, -Errno.EINVAL, "aperture");
  assert.equal(f.ioasMap(ioasId, 0x10000n, 0x2000n, H, FIXED | R | W).ret, 0);
  assert.equal(f.ioasMap(ioasId, 0x11000n, 0x1000n, H, FIXED | R).ret, -Errno.EEXIST);
});

test("IOMMU_IOAS_UNMAP removes whole areas only: a cut one or none at all is ENOENT", () => {
  const { f, ioasId } = attached();
  f.ioasMap(ioasId, 0x10000n, 0x2000n, H, FIXED | R | W);
  f.ioasMap(ioasId, 0x20000n, 0x1000n, H + 0x2000n, FIXED | R | W);
  assert.equal(f.ioasUnmap(ioasId, 0x10000n, 0x1000n).ret, -Errno.ENOENT, "cuts an area");
  assert.equal(f.ioasUnmap(ioasId, 0x40000n, 0x1000n).ret, -Errno.ENOENT, "nothing there");
  assert.equal(f.ioasUnmap(ioasId, 0n, 0n).ret, -Errno.EINVAL, "zero length");
  assert.deepEqual(f.ioasUnmap(ioasId, 0n, 0x100000n), { ret: 0, unmapped: 0x3000n });
  assert.deepEqual(f.ioasUnmap(ioasId, 0n, TOP), { ret: 0, unmapped: 0n }, "unmap-all of nothing");
});

test("IOMMU_IOAS_IOVA_RANGES: the aperture minus the device's MSI window; EMSGSIZE with the count when short", () => {
  const { f, ioasId } = attached();
  const full = f.ioasIovaRanges(ioasId);
  assert.deepEqual(full.ranges, [
    { start: 0n, last: 0xfedfffffn },
    { start: 0xfef00000n, last: (1n << 48n) - 1n },
  ]);
  assert.equal(full.alignment, 0x1000n);
  const short = f.ioasIovaRanges(ioasId, 1);
  assert.equal(short.ret, -Errno.EMSGSIZE);
  assert.equal(short.numIovas, 2);
  // Before any domain or device: the whole 64-bit space, no alignment.
  const g = fd();
  const bare = g.ioasAlloc().ioasId!;
  assert.deepEqual(g.ioasIovaRanges(bare).ranges, [{ start: 0n, last: TOP }]);
  assert.equal(g.ioasIovaRanges(bare).alignment, 1n);
});

test("IOMMU_IOAS_ALLOW_IOVAS: EINVAL for empty or overlapping ranges, EADDRINUSE against a reserved one", () => {
  const { f, ioasId } = attached();
  assert.equal(f.ioasAllowIovas(ioasId, [{ start: 0x1000n, last: 0x1000n }]), -Errno.EINVAL);
  assert.equal(
    f.ioasAllowIovas(ioasId, [
      { start: 0n, last: 0x2000n },
      { start: 0x1000n, last: 0x3000n },
    ]),
    -Errno.EINVAL,
  );
  assert.equal(
    f.ioasAllowIovas(ioasId, [{ start: 0xfe000000n, last: 0xfeffffffn }]),
    -Errno.EADDRINUSE,
  );
  assert.equal(f.ioasAllowIovas(ioasId, [{ start: 0n, last: 0xfedfffffn }]), 0);
});

test("an allowed range refuses a device whose reserved region falls in it (attach is EADDRINUSE)", () => {
  const f = fd();
  const ioasId = f.ioasAlloc().ioasId!;
  assert.equal(f.ioasAllowIovas(ioasId, [{ start: 0n, last: 0xffffffffn }]), 0);
  const devId = f.bindDevice("0000:01:00.0").devId!;
  assert.equal(f.attachDevice(devId, ioasId).ret, -Errno.EADDRINUSE);
});

test("a mapping made before any device sits in the MSI window: attaching the device is EADDRINUSE", () => {
  const f = fd();
  const ioasId = f.ioasAlloc().ioasId!;
  assert.equal(f.ioasMap(ioasId, 0xfee00000n, 0x1000n, H, FIXED | R).ret, 0, "no domain: no check");
  const devId = f.bindDevice("0000:01:00.0").devId!;
  assert.equal(f.attachDevice(devId, ioasId).ret, -Errno.EADDRINUSE);
});

test("pages are pinned and charged only while a domain holds the IOAS", () => {
  const f = fd();
  const ioasId = f.ioasAlloc().ioasId!;
  f.ioasMap(ioasId, 0x100000n, 0x10000n, H, FIXED | R | W);
  assert.equal(f.process.lockedPages, 0n, "no domain yet: a lazy reference");
  const devId = f.bindDevice("dev").devId!;
  assert.equal(f.attachDevice(devId, ioasId).ret, 0, "an automatic domain");
  assert.equal(f.process.lockedPages, 16n);
  f.detachDevice(devId);
  assert.equal(f.process.lockedPages, 0n, "the automatic domain went with its device");
});

test("MAP past RLIMIT_MEMLOCK is ENOMEM and leaves nothing; outside the process's memory EFAULT", () => {
  const { f, ioasId } = attached(fd({ memlockLimit: 0x8000n }));
  assert.equal(f.ioasMap(ioasId, 0x100000n, 0x10000n, H, FIXED | R | W).ret, -Errno.ENOMEM);
  assert.deepEqual(f.areas(ioasId), []);
  assert.equal(f.ioasMap(ioasId, 0x100000n, 0x8000n, H, FIXED | R | W).ret, 0);
  assert.equal(f.ioasMap(ioasId, 0x200000n, 0x1000n, 0x1000n, FIXED | R).ret, -Errno.EFAULT);
  assert.equal(f.process.lockedPages, 8n);
});

test("IOMMU_IOAS_COPY maps the same pages again without charging them twice; a gap is ENOENT", () => {
  const { f, ioasId } = attached();
  f.ioasMap(ioasId, 0x100000n, 0x4000n, H, FIXED | R | W);
  const other = f.ioasAlloc().ioasId!;
  const dev2 = f.bindDevice("0000:02:00.0").devId!;
  assert.equal(f.attachDevice(dev2, other).ret, 0);
  assert.equal(
    f.ioasCopy(other, ioasId, 0x900000n, 0x100000n, 0x8000n, FIXED | R).ret,
    -Errno.ENOENT,
  );
  assert.equal(f.ioasCopy(other, ioasId, 0x900000n, 0x101000n, 0x2000n, FIXED | R).ret, 0);
  assert.deepEqual(f.areas(other), [
    { iova: 0x900000n, length: 0x2000n, hva: H + 0x1000n, read: true, write: false },
  ]);
  assert.equal(f.process.lockedPages, 4n, "shared pages, charged once");
  f.ioasUnmap(ioasId, 0x100000n, 0x4000n);
  assert.equal(f.process.lockedPages, 4n, "still pinned for the copy");
  f.ioasUnmap(other, 0x900000n, 0x2000n);
  assert.equal(f.process.lockedPages, 0n);
});

test("without FIXED_IOVA the kernel picks the first free IOVA from PAGE_SIZE on, aligned to the length", () => {
  const { f, ioasId } = attached();
  assert.deepEqual(f.ioasMap(ioasId, 0n, 0x4000n, H, R | W), { ret: 0, iova: 0x4000n });
  assert.deepEqual(f.ioasMap(ioasId, 0n, 0x1000n, H, R | W), { ret: 0, iova: 0x1000n });
});

test("a sPAPR TCE host binds the device but gives it no paging domain: EOPNOTSUPP", () => {
  const f = fd({ pagingDomains: false });
  const devId = f.bindDevice("0001:01:00.0");
  assert.equal(devId.ret, 0);
  const ioasId = f.ioasAlloc().ioasId!;
  assert.equal(f.hwptAlloc(devId.devId!, ioasId).ret, -Errno.EOPNOTSUPP);
  assert.equal(f.attachDevice(devId.devId!, ioasId).ret, -Errno.EOPNOTSUPP);
  assert.deepEqual(
    f.io.log.slice().map((r) => [r.ioctl, r.ret]),
    [
      ["VFIO_DEVICE_BIND_IOMMUFD", 0],
      ["IOMMU_IOAS_ALLOC", 0],
      ["IOMMU_HWPT_ALLOC", -Errno.EOPNOTSUPP],
      ["VFIO_DEVICE_ATTACH_IOMMUFD_PT", -Errno.EOPNOTSUPP],
    ],
  );
});

test("QEMU without an iommufd object: 7.2's option parser, 10.0's ppc64 build; x86 10.0 takes it", () => {
  assert.equal(
    iommufdObjectRefusal("7.2", "x86_64", "fd0"),
    "-object iommufd,id=fd0: Parameter 'qom-type' does not accept value 'iommufd'",
  );
  assert.equal(iommufdObjectRefusal("10.0", "ppc64", "fd0"), "invalid object type: iommufd");
  assert.equal(iommufdObjectRefusal("10.0", "x86_64", "fd0"), undefined);
  assert.equal(iommufdObjectRefusal("10.0", "aarch64", "fd0"), undefined);
});

test("the container QEMU 10 builds: its windows are the usable ranges and DMA sees only its areas", () => {
  const f = fd();
  const ioasId = f.ioasAlloc().ioasId!;
  const c = new IommufdContainer(f, ioasId);
  assert.equal(c.attachGroup(1), 0);
  assert.equal(c.mapDma(0x10000n, 0x2000n, H, true, false), 0);
  assert.deepEqual(c.lookup(0x11000n), {
    iova: 0x11000n,
    pageSize: 0x1000n,
    hva: H + 0x1000n,
    perm: "r",
  });
  assert.equal(c.lookup(0x12000n), undefined);
  assert.deepEqual(
    c.windows().map((w) => [w.start, w.size]),
    [
      [0n, 0xfee00000n],
      [0xfef00000n, (1n << 48n) - 0xfef00000n],
    ],
  );
  assert.equal(c.lockedPages, 2n);
  assert.equal(c.expectedChargedPages(), 2n);
  c.detachGroup(1);
  assert.equal(f.process.lockedPages, 0n, "the last device gone releases the IOAS");
});

test("property: after any sequence of fixed maps and unmaps, areas are disjoint, outside reserved ranges, and charged once", () => {
  const op = fc.oneof(
    fc.record({
      map: fc.constant(true),
      page: fc.integer({ min: 0, max: 63 }),
      pages: fc.integer({ min: 1, max: 8 }),
    }),
    fc.record({
      map: fc.constant(false),
      page: fc.integer({ min: 0, max: 63 }),
      pages: fc.integer({ min: 1, max: 16 }),
    }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const { f, ioasId } = attached();
      const base = 0xfed00000n; // straddles the MSI window at 0xfee00000
      for (const o of ops) {
        const iova = base + BigInt(o.page) * 0x10000n;
        const size = BigInt(o.pages) * 0x10000n;
        if (o.map) f.ioasMap(ioasId, iova, size, H + BigInt(o.page) * 0x10000n, FIXED | R | W);
        else f.ioasUnmap(ioasId, iova, size);
        const areas = f.areas(ioasId);
        for (let i = 1; i < areas.length; i++)
          assert.ok(areas[i - 1].iova + areas[i - 1].length <= areas[i].iova);
        for (const a of areas) assert.ok(a.iova + a.length <= 0xfee00000n || a.iova > 0xfeefffffn);
        assert.equal(
          f.process.lockedPages,
          areas.reduce((n, a) => n + a.length / 0x1000n, 0n),
        );
      }
    }),
    { seed: 22, numRuns: 200 },
  );
});

test("on an Arm SMMUv3 host the device reserves the software MSI window instead of x86's", async () => {
  const { ARM64_HOST } = await import("../../src/host/arm-host.ts");
  const f = new Iommufd(ARM64_HOST, [{ start: H, size: 4n * GiB }]);
  const devId = f.bindDevice("0000:00:01.0").devId!;
  const ioasId = f.ioasAlloc().ioasId!;
  assert.equal(f.attachDevice(devId, ioasId).ret, 0);
  assert.deepEqual(f.ioasIovaRanges(ioasId).ranges, [
    { start: 0n, last: 0x7ffffffn },
    { start: 0x8100000n, last: (1n << 48n) - 1n },
  ]);
  assert.equal(f.ioasMap(ioasId, 0x8000000n, 0x1000n, H, FIXED | R).ret, -Errno.EINVAL);
  assert.equal(
    f.ioasMap(ioasId, 0xfee00000n, 0x1000n, H, FIXED | R).ret,
    0,
    "x86's window is free here",
  );
});
