/**
 * IOMMU notifiers: exact event lists for map and unmap, cropping at range edges, newest-first
 * delivery, flag filtering, refusal by the model, and replay.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { IommuRegion } from "../../src/iommu/iommu-region.ts";
import {
  type IommuNotifier,
  IommuNotifierError,
  IommuNotifierFlag,
} from "../../src/iommu/notifier.ts";
import { PageTableIommu } from "../../src/iommu/page-table-iommu.ts";
import type { IommuTlbEntry } from "../../src/memory/iommu-types.ts";
import { MemorySystem } from "../../src/memory/memory-system.ts";

const hex = (v: bigint) => v.toString(16);

/** A notifier that records what it is told as `tag map|unmap iova/mask -> translated perm`. */
function recorder(
  tag: string,
  log: string[],
  range: { start?: bigint; end?: bigint; flags?: number } = {},
): IommuNotifier {
  return {
    flags: range.flags ?? IommuNotifierFlag.iotlbEvents,
    start: range.start ?? 0n,
    end: range.end ?? (1n << 64n) - 1n,
    iommuIdx: 0,
    notify(e: IommuTlbEntry) {
      const kind = e.perm === 0 ? "unmap" : "map";
      log.push(
        `${tag} ${kind} ${hex(e.iova)}/${hex(e.addrMask)} -> ${hex(e.translatedAddr)} ${e.perm}`,
      );
    },
  };
}

/** A model with nothing mapped: every 4 KiB page translates to no access. */
function nothingMapped(addr: bigint): IommuTlbEntry {
  return { targetAs: null, iova: addr, translatedAddr: 0n, addrMask: 0xfffn, perm: 0 };
}

function setup(size = 1n << 32n) {
  const m = new MemorySystem();
  const system = m.container("system", (1n << 64n) - 1n);
  system.addSubregion(m.ram("ram", 1n << 30n), 0n);
  const memory = m.addressSpace(system, "memory");
  const table = new PageTableIommu(m, "iommu", size, memory, 12);
  return { m, memory, table, iommu: table.iommu };
}

describe("notification", () => {
  test("map and unmap events carry region-relative iova", () => {
    const { table, iommu } = setup();
    const log: string[] = [];
    iommu.registerNotifier(recorder("n", log));
    table.map(0x2000n, 0x80000n, 3);
    table.unmap(0x2000n);
    assert.deepEqual(log, ["n map 2000/fff -> 80000 3", "n unmap 2000/fff -> 0 0"]);
  });

  test("delivery crops iova and mask to the notifier's range, not the translated address", () => {
    const { iommu } = setup();
    const log: string[] = [];
    iommu.registerNotifier(recorder("n", log, { start: 0x2800n, end: 0x2fffn }));
    iommu.notify(0, {
      type: IommuNotifierFlag.map,
      entry: { targetAs: null, iova: 0x2000n, translatedAddr: 0x80000n, addrMask: 0xfffn, perm: 3 },
    });
    assert.deepEqual(log, ["n map 2800/7ff -> 80000 3"]);
  });

  test("entries outside the range are not delivered; touching the edges is", () => {
    const { table, iommu } = setup();
    const log: string[] = [];
    iommu.registerNotifier(recorder("n", log, { start: 0x2000n, end: 0x2fffn }));
    table.map(0x1000n, 0x10000n, 1);
    table.map(0x3000n, 0x30000n, 1);
    table.map(0x2000n, 0x20000n, 2);
    assert.deepEqual(log, ["n map 2000/fff -> 20000 2"]);
  });

  test("the newest notifier hears first", () => {
    const { table, iommu } = setup();
    const log: string[] = [];
    iommu.registerNotifier(recorder("old", log));
    iommu.registerNotifier(recorder("new", log));
    table.map(0x0n, 0x1000n, 3);
    assert.deepEqual(log, ["new map 0/fff -> 1000 3", "old map 0/fff -> 1000 3"]);
  });

  test("a MAP-only notifier does not hear unmaps", () => {
    const { table, iommu } = setup();
    const log: string[] = [];
    iommu.registerNotifier(recorder("n", log, { flags: IommuNotifierFlag.map }));
    table.map(0x0n, 0x1000n, 3);
    table.unmap(0x0n);
    assert.deepEqual(log, ["n map 0/fff -> 1000 3"]);
  });

  test("unmapNotifierRange sends one unmap of the notifier's whole range, naming system memory as the target", () => {
    const { iommu, memory } = setup();
    const log: string[] = [];
    const targets: unknown[] = [];
    const n = recorder("n", log, { start: 0x1000n, end: 0x4fffn });
    iommu.registerNotifier({
      ...n,
      notify: (e) => {
        targets.push(e.targetAs);
        n.notify(e);
      },
    });
    iommu.unmapNotifierRange(iommu.notifiers[0], memory);
    assert.deepEqual(log, ["n unmap 1000/3fff -> 0 0"]);
    assert.deepEqual(targets, [memory]);
  });
});

describe("registration and the model's veto", () => {
  test("the model hears the union of flags change, and may refuse a notifier", () => {
    const m = new MemorySystem();
    const seen: string[] = [];
    const smmu = new IommuRegion(m, "smmuv3", 1n << 48n, {
      translate: nothingMapped,
      notifyFlagChanged(old, next) {
        seen.push(`${old}->${next}`);
        if (next & IommuNotifierFlag.map) {
          return new IommuNotifierError(
            "device requires iommu MAP notifier which is not currently supported",
          );
        }
        return undefined;
      },
    });
    const unmapOnly = recorder("u", [], { flags: IommuNotifierFlag.unmap });
    smmu.registerNotifier(unmapOnly);
    assert.throws(() => smmu.registerNotifier(recorder("v", [])), /MAP notifier/);
    assert.equal(smmu.notifiers.length, 1);
    assert.equal(smmu.notifierFlags, IommuNotifierFlag.unmap);
    smmu.unregisterNotifier(unmapOnly);
    assert.deepEqual(seen, ["0->1", "1->3", "1->0"]);
  });

  test("bad notifiers are refused", () => {
    const { iommu } = setup();
    assert.throws(
      () => iommu.registerNotifier(recorder("n", [], { flags: 0 })),
      IommuNotifierError,
    );
    assert.throws(
      () => iommu.registerNotifier(recorder("n", [], { start: 5n, end: 4n })),
      IommuNotifierError,
    );
  });
});

describe("replay", () => {
  test("a custom replay visits only populated entries, in order", () => {
    const { table, iommu } = setup(1n << 40n);
    table.map(0x5000n, 0x50000n, 3);
    table.map(0x1000n, 0x10000n, 1);
    const log: string[] = [];
    // Replay is a direct call: no cropping to the range, no flag filtering.
    iommu.replay(
      recorder("n", log, { start: 0x5000n, end: 0x5fffn, flags: IommuNotifierFlag.unmap }),
    );
    assert.deepEqual(log, ["n map 1000/fff -> 10000 1", "n map 5000/fff -> 50000 3"]);
  });

  test("replaying 10^4 entries of a 2^40-byte region costs 10^4 translate calls", () => {
    const { table, iommu } = setup(1n << 40n);
    for (let i = 0; i < 10_000; i++) table.map(BigInt(i) * 0x1000000n, BigInt(i) * 0x1000n, 3);
    iommu.translateCount = 0;
    let seen = 0;
    iommu.replay({ ...recorder("n", []), notify: () => void seen++ });
    assert.equal(seen, 10_000);
    assert.ok(iommu.translateCount <= 10_000 + 2, `${iommu.translateCount} translate calls`);
  });

  test("the default replay walks the whole region at the minimum page size, as QEMU", () => {
    const m = new MemorySystem();
    const mapped = new Set([0x3000n, 0xff000n]);
    const iommu = new IommuRegion(m, "walk", 1n << 20n, {
      translate: (addr) => ({
        targetAs: null,
        iova: addr,
        translatedAddr: addr,
        addrMask: 0xfffn,
        perm: mapped.has(addr) ? 3 : 0,
      }),
    });
    const log: string[] = [];
    iommu.replay(recorder("n", log));
    assert.equal(iommu.translateCount, 256);
    assert.deepEqual(log, ["n map 3000/fff -> 3000 3", "n map ff000/fff -> ff000 3"]);
  });

  test("a default replay QEMU would spend 2^52 translations on is refused, not hung", () => {
    const m = new MemorySystem();
    const iommu = new IommuRegion(m, "smmu", 1n << 64n, {
      translate: nothingMapped,
    });
    assert.throws(() => iommu.replay(recorder("n", [])), /would translate 4503599627370496 pages/);
    assert.equal(iommu.translateCount, 0);
  });
});
