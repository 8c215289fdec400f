/**
 * intel-iommu behaviour that qtest replies cannot show: with caching mode, invalidations become
 * MAP/UNMAP notifications from a page walk (deduplicated by the IOVA tree), replay on
 * registration, UNMAP-only notifiers, and the refusal of MAP notifiers without caching mode.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { IommuNotifier } from "../../src/iommu/notifier.ts";
import { IommuNotifierError } from "../../src/iommu/notifier.ts";
import { Q35Machine } from "../../src/machine/q35.ts";
import { U64_MAX } from "../../src/memory/int.ts";
import type { IommuTlbEntry } from "../../src/memory/iommu-types.ts";
import { alignedPow2Mask, IntelIommuError } from "../../src/vtd/intel-iommu.ts";

const VTD = 0xfed90000n;
const EDU_DEVFN = 0x08;

function writeq(m: Q35Machine, addr: bigint, value: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  m.cpuMemory.write(addr, b);
}
function writel(m: Q35Machine, addr: bigint, value: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  m.cpuMemory.write(addr, b);
}

/** q35 with intel-iommu and edu; root, context and page tables for edu; translation on. */
function machine(cachingMode: boolean): Q35Machine {
  const m = new Q35Machine({
    memory: 256n << 20n,
    intelIommu: { cachingMode },
    devices: [{ driver: "edu" }],
  });
  writeq(m, 0x10000n, 0x11001n);
  writeq(m, 0x11080n, 0x12001n);
  writeq(m, 0x11088n, 0x101n);
  writeq(m, 0x12000n, 0x13003n);
  writeq(m, 0x13000n, 0x14003n);
  writeq(m, VTD + 0x20n, 0x10000n);
  writel(m, VTD + 0x18n, 0x40000000);
  writel(m, VTD + 0x18n, 0x80000000);
  return m;
}

/** A notifier that records every event, like VFIO's (MAP | UNMAP over the whole region). */
function recorder(flags = 3): IommuNotifier & { readonly events: string[] } {
  const events: string[] = [];
  return {
    events,
    flags,
    start: 0n,
    end: U64_MAX,
    iommuIdx: 0,
    notify(e: IommuTlbEntry) {
      events.push(
        e.perm === 0
          ? `unmap 0x${e.iova.toString(16)}+0x${(e.addrMask + 1n).toString(16)}`
          : `map 0x${e.iova.toString(16)}->0x${e.translatedAddr.toString(16)} perm ${e.perm}`,
      );
    },
  };
}

/** A page-selective IOTLB invalidation through the registers. */
function psi(m: Q35Machine, iova: bigint, am = 0n, domain = 1n): void {
  writeq(m, VTD + 0xf0n, iova | am);
  writeq(m, VTD + 0xf8n, 0xb000000000000000n | (domain << 32n));
}

test("without caching mode a MAP notifier is refused with QEMU's message", () => {
  const m = machine(false);
  const vas = m.intelIommu!.addressSpaceOf(0, EDU_DEVFN);
  assert.throws(
    () => vas.iommu.registerNotifier(recorder()),
    (e) => e instanceof IommuNotifierError && e.message === "device 00.01.0 requires caching mode",
  );
  // An UNMAP-only notifier (vhost's kind) is fine.
  vas.iommu.registerNotifier(recorder(1));
});

test("vfio-pci behind intel-iommu without caching mode is refused with QEMU 7.2's message", () => {
  assert.throws(
    () =>
      new Q35Machine({
        intelIommu: {},
        devices: [{ driver: "vfio-pci", properties: { host: "0000:01:00.0" } }],
      }),
    /We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection\./,
  );
});

test("registering replays: UNMAP of the whole range in aligned blocks, then a MAP per present page", () => {
  const m = machine(true);
  writeq(m, 0x14800n, 0x200003n);
  writeq(m, 0x14808n, 0x201001n);
  const vas = m.intelIommu!.addressSpaceOf(0, EDU_DEVFN);
  const n = recorder();
  vas.iommu.registerNotifier(n);
  vas.iommu.replay(n);
  // 39-bit address width: the whole range is one block.
  assert.deepEqual(n.events, [
    "unmap 0x0+0x8000000000",
    "map 0x100000->0x200000 perm 3",
    "map 0x101000->0x201000 perm 1",
  ]);
});

test("a page-selective invalidation walks its range: new pages MAP, known ones are skipped", () => {
  const m = machine(true);
  const vas = m.intelIommu!.addressSpaceOf(0, EDU_DEVFN);
  const n = recorder();
  vas.iommu.registerNotifier(n);
  writeq(m, 0x14800n, 0x200003n);
  psi(m, 0x100000n);
  assert.deepEqual(n.events, ["map 0x100000->0x200000 perm 3"]);
  psi(m, 0x100000n);
  assert.deepEqual(n.events, ["map 0x100000->0x200000 perm 3"], "already mapped: no event");
  // Remapped to another page: UNMAP first, then MAP.
  writeq(m, 0x14800n, 0x203003n);
  psi(m, 0x100000n);
  assert.deepEqual(n.events.slice(1), ["unmap 0x100000+0x1000", "map 0x100000->0x203000 perm 3"]);
  // Cleared: UNMAP.
  writeq(m, 0x14800n, 0n);
  psi(m, 0x100000n);
  assert.deepEqual(n.events.slice(3), ["unmap 0x100000+0x1000"]);
  // An invalidation for another domain does nothing.
  writeq(m, 0x14800n, 0x200003n);
  psi(m, 0x100000n, 0n, 2n);
  assert.equal(n.events.length, 4);
});

test("an UNMAP-only notifier hears each page-selective invalidation without a walk", () => {
  const m = machine(true);
  const vas = m.intelIommu!.addressSpaceOf(0, EDU_DEVFN);
  const n = recorder(1);
  vas.iommu.registerNotifier(n);
  psi(m, 0x180000n, 1n);
  assert.deepEqual(n.events, ["unmap 0x180000+0x2000"]);
});

test("a context entry made not present unmaps everything the notifier was told", () => {
  const m = machine(true);
  const vas = m.intelIommu!.addressSpaceOf(0, EDU_DEVFN);
  const n = recorder();
  vas.iommu.registerNotifier(n);
  writeq(m, 0x14800n, 0x200003n);
  psi(m, 0x100000n);
  writeq(m, 0x11080n, 0n);
  // Device-selective context-cache invalidation of 00:01.0.
  writeq(m, VTD + 0x28n, 0xe000000000080000n);
  assert.deepEqual(n.events, ["map 0x100000->0x200000 perm 3", "unmap 0x0+0x8000000000"]);
  assert.equal(vas.iovaTree.maps.length, 0);
});

test("translation off unmaps every notifier and switches edu back to vtd-nodmar", () => {
  const m = machine(true);
  const vas = m.intelIommu!.addressSpaceOf(0, EDU_DEVFN);
  assert.ok(vas.translating);
  const n = recorder();
  vas.iommu.registerNotifier(n);
  writel(m, VTD + 0x18n, 0);
  assert.ok(!vas.translating);
  assert.deepEqual(n.events, ["unmap 0x0+0x8000000000"]);
});

test("the IOTLB holds at most 1024 entries, then starts again empty (QEMU's reset)", () => {
  const m = machine(false);
  for (let i = 0n; i < 512n; i++) writeq(m, 0x14000n + i * 8n, (0x400000n + i * 0x1000n) | 3n);
  const edu = m.devices.get("edu#0")!;
  edu.configWrite(0x04, 2, 0x4);
  for (let i = 0n; i < 512n; i++) edu.busMasterAs.read(i * 0x1000n, 1);
  writeq(m, 0x13008n, 0x15003n);
  for (let i = 0n; i < 512n; i++) writeq(m, 0x15000n + i * 8n, (0x600000n + i * 0x1000n) | 3n);
  for (let i = 0n; i < 512n; i++) edu.busMasterAs.read(0x200000n + i * 0x1000n, 1);
  assert.equal(m.intelIommu!.iotlbSize, 1024);
  writeq(m, 0x13010n, 0x16003n);
  writeq(m, 0x16000n, 0x800003n);
  edu.busMasterAs.read(0x400000n, 1);
  assert.equal(m.intelIommu!.iotlbSize, 1);
});

test("options QEMU refuses, and those iova does not model, are refused clearly", () => {
  assert.throws(() => new Q35Machine({ intelIommu: { awBits: 40 } }), IntelIommuError);
  assert.throws(
    () => new Q35Machine({ intelIommu: { awBits: 40 } }),
    /Supported values for aw-bits are: 39, 48/,
  );
  assert.throws(() => new Q35Machine({ intelIommu: { scalableMode: true } }), /not modelled/);
  assert.throws(() => new Q35Machine({ intelIommu: { deviceIotlb: true } }), /not modelled/);
});

test("aligned power-of-two blocks follow QEMU's dma_aligned_pow2_mask", () => {
  assert.equal(alignedPow2Mask(0n, U64_MAX, 64), U64_MAX);
  assert.equal(alignedPow2Mask(0n, (1n << 39n) - 1n, 39), (1n << 39n) - 1n);
  assert.equal(alignedPow2Mask(0x1000n, 0xffffn, 39), 0xfffn);
  assert.equal(alignedPow2Mask(0x10000n, 0x2ffffn, 39), 0xffffn);
  assert.equal(alignedPow2Mask(0n, 0x2ffffn, 39), 0x1ffffn);
});

test("tables that point back into themselves stop the page walk with a clear message", () => {
  const m = new Q35Machine({
    memory: 256n << 20n,
    intelIommu: { cachingMode: true, walkLimit: 10_000 },
    devices: [{ driver: "edu" }],
  });
  // Every level-3 and level-2 entry points at the same tables: 2^27 pages "mapped".
  writeq(m, 0x10000n, 0x11001n);
  writeq(m, 0x11080n, 0x12001n);
  writeq(m, 0x11088n, 0x101n);
  for (let i = 0n; i < 512n; i++) {
    writeq(m, 0x12000n + i * 8n, 0x13003n);
    writeq(m, 0x13000n + i * 8n, 0x14003n);
    writeq(m, 0x14000n + i * 8n, 0x200003n);
  }
  writeq(m, VTD + 0x20n, 0x10000n);
  writel(m, VTD + 0x18n, 0x40000000);
  writel(m, VTD + 0x18n, 0x80000000);
  const vas = m.intelIommu!.addressSpaceOf(0, EDU_DEVFN);
  const n = recorder();
  vas.iommu.registerNotifier(n);
  // A global IOTLB invalidation replays the whole space.
  writeq(m, VTD + 0xf8n, 0x9000000000000000n);
  assert.match(m.aborted ?? "", /page walk of 00:01\.0 would read more than 10000 paging entries/);
  assert.ok(n.events.length < 10_000);
});
