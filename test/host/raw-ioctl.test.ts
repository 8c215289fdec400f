/**
 * Ioctls made directly on named containers of the VMM's process: the dispatcher maps each name
 * to its container call, an address the process has not mapped cannot be pinned (EFAULT, as
 * Linux's pinning fails), and the isolation check sees these containers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Errno } from "../../src/host/errno.ts";
import { GUEST_RAM_HVA, POWER9_HOST } from "../../src/host/platform.ts";
import { RawIoctlHost } from "../../src/host/raw-ioctl.ts";
import { checkIsolation } from "../../src/vfio/checks.ts";

const RAM = [{ start: GUEST_RAM_HVA, size: 0x40000000n }];
const ok = (r: ReturnType<RawIoctlHost["call"]>) => {
  assert.ok(typeof r !== "string", String(r));
  return r;
};

test("an ioctl on a container that SET_IOMMU has not created is an error, not a call", () => {
  const host = new RawIoctlHost(POWER9_HOST, RAM);
  assert.match(String(host.call("c0", "MAP_DMA", {})), /SET_IOMMU first/);
  assert.equal(host.containers.size, 0);
});

test("REGISTER_MEMORY of memory the process has not mapped fails with EFAULT and locks nothing", () => {
  const host = new RawIoctlHost(POWER9_HOST, RAM);
  ok(host.call("c0", "SET_IOMMU", { type: "spapr-tce-v2", group: 1n }));
  const outside = ok(host.call("c0", "REGISTER_MEMORY", { vaddr: 0x10000n, size: 0x10000n }));
  assert.equal(outside.ret, -Errno.EFAULT);
  assert.equal(outside.lockedPages, 0n);
  // Running past the end of guest RAM is outside too.
  const past = ok(host.call("c0", "REGISTER_MEMORY", { vaddr: GUEST_RAM_HVA, size: 0x40010000n }));
  assert.equal(past.ret, -Errno.EFAULT);
  assert.equal(past.lockedPages, 0n);
  const inside = ok(
    host.call("c0", "REGISTER_MEMORY", { vaddr: GUEST_RAM_HVA, size: 0x40000000n }),
  );
  assert.equal(inside.ret, 0);
  assert.equal(inside.lockedPages, 0x40000000n / POWER9_HOST.pageSize);
});

test("MAP_DMA of memory the process has not mapped fails with EFAULT (type1 and sPAPR v1)", () => {
  const type1 = new RawIoctlHost({ ...POWER9_HOST, pgsizes: 0x1000n }, RAM);
  ok(type1.call("t", "SET_IOMMU", { type: "type1", group: 1n }));
  const map = { iova: 0n, size: 0x10000n, vaddr: 0x10000n, flags: 3n };
  assert.equal(ok(type1.call("t", "MAP_DMA", map)).ret, -Errno.EFAULT);
  assert.equal(ok(type1.call("t", "MAP_DMA", { ...map, vaddr: GUEST_RAM_HVA })).ret, 0);

  const v1 = new RawIoctlHost({ ...POWER9_HOST, ddw: false }, RAM);
  ok(v1.call("s", "SET_IOMMU", { type: "spapr-tce", group: 1n }));
  assert.equal(ok(v1.call("s", "ENABLE", {})).ret, 0);
  assert.equal(ok(v1.call("s", "MAP_DMA", { ...map, size: 0x1000n })).ret, -Errno.EFAULT);
  assert.equal(ok(v1.call("s", "MAP_DMA", { ...map, size: 0x1000n, vaddr: GUEST_RAM_HVA })).ret, 0);
});

test("an ioctl the backend does not have is ENOTTY", () => {
  const host = new RawIoctlHost(POWER9_HOST, RAM);
  ok(host.call("t", "SET_IOMMU", { type: "type1", group: 1n }));
  assert.equal(
    ok(host.call("t", "REGISTER_MEMORY", { vaddr: GUEST_RAM_HVA, size: 0x10000n })).ret,
    -Errno.ENOTTY,
  );
  assert.equal(
    ok(host.call("t", "TCE_CREATE", { page_shift: 16n, window_size: 1n << 32n, levels: 1n })).ret,
    -Errno.ENOTTY,
  );
});

test("the isolation check covers containers of ioctl steps and names them", () => {
  const host = new RawIoctlHost(POWER9_HOST, RAM);
  ok(host.call("c0", "SET_IOMMU", { type: "spapr-tce-v2", group: 1n }));
  ok(host.call("c0", "REGISTER_MEMORY", { vaddr: GUEST_RAM_HVA, size: 0x40000000n }));
  assert.equal(
    ok(host.call("c0", "MAP_DMA", { iova: 0n, size: 0x10000n, vaddr: GUEST_RAM_HVA, flags: 3n }))
      .ret,
    0,
  );
  assert.equal(checkIsolation(undefined, host).ok, true);
  // The same containers judged against a process whose RAM starts one page later: the mapping
  // now points outside it, and the check must say so.
  const shifted = {
    containers: host.containers,
    userMemory: [{ start: GUEST_RAM_HVA + 0x10000n, size: 0x40000000n }],
  } as unknown as RawIoctlHost;
  const verdict = checkIsolation(undefined, shifted);
  assert.equal(verdict.ok, false);
  assert.match(
    verdict.violations[0].message,
    /container 'c0' \(ioctl steps\): host maps bus 0x0 .* outside guest RAM/,
  );
});
