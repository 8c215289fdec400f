/**
 * TCE tables and the TCE hypercalls: translation per entry, exactly one notification per written
 * entry, partial failures, sparse storage, replay and its skip during window creation.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MaterialisationLimitError } from "../../src/iommu/limits.ts";
import { IommuNotifierFlag } from "../../src/iommu/notifier.ts";
import { PseriesMachine } from "../../src/machine/pseries.ts";
import type { IommuTlbEntry } from "../../src/memory/iommu-types.ts";
import { H } from "../../src/spapr/constants.ts";
import { hGetTce, hPutTce, hPutTceIndirect, hStuffTce } from "../../src/spapr/hcalls.ts";
import { ddwPageSizeMask, rtasCall } from "../../src/spapr/rtas.ts";

const BUID = [0x8000000, 0x20000000];

function machineWithDdw() {
  const m = new PseriesMachine({ memory: 4n << 30n });
  const rets = rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, 24, 32], 4);
  assert.deepEqual(rets, [0, 0x80000001, 0x8000000, 0]);
  return m;
}

function listen(m: PseriesMachine, liobn: bigint) {
  const table = m.findTable(liobn)!;
  const events: string[] = [];
  table.iommu.registerNotifier({
    flags: IommuNotifierFlag.iotlbEvents,
    start: 0n,
    end: table.windowSize - 1n,
    iommuIdx: 0,
    notify: (e: IommuTlbEntry) =>
      events.push(
        `${e.perm ? "map" : "unmap"} ${e.iova.toString(16)} -> ${e.translatedAddr.toString(16)}/${e.perm}`,
      ),
  });
  return { table, events };
}

describe("translation", () => {
  test("an entry translates its page, region-relative, with the TCE's permission bits", () => {
    const m = machineWithDdw();
    hPutTce(m, 0x80000001n, 0x800000002000000n, 0x7f000001n);
    const table = m.findTable(0x80000001n)!;
    const e = table.translate(0x2345678n, 0, 0);
    assert.deepEqual(
      [e.iova, e.translatedAddr, e.addrMask, e.perm],
      [0x2000000n, 0x7f000000n, 0xffffffn, 1],
    );
    const out = table.translate(0x100000000n, 0, 0);
    assert.deepEqual([out.perm, out.addrMask], [0, (1n << 64n) - 1n]);
  });
});

describe("hypercalls", () => {
  test("H_PUT_TCE masks the ioba down and notifies one MAP; clearing notifies one UNMAP", () => {
    const m = machineWithDdw();
    const { events } = listen(m, 0x80000000n);
    assert.equal(hPutTce(m, 0x80000000n, 0x1fffn, 0x5003n).ret, H.success);
    assert.equal(hPutTce(m, 0x80000000n, 0x1000n, 0x6003n).ret, H.success);
    assert.equal(hPutTce(m, 0x80000000n, 0x1000n, 0x0n).ret, H.success);
    assert.deepEqual(events, ["map 1000 -> 5000/3", "map 1000 -> 6000/3", "unmap 1000 -> 0/0"]);
    assert.deepEqual(hGetTce(m, 0x80000000n, 0x1abcn), { ret: H.success, tce: 0n });
  });

  test("H_PUT_TCE_INDIRECT reads big-endian TCEs from guest memory and stops at the first failure", () => {
    const m = machineWithDdw();
    const { events } = listen(m, 0x80000001n);
    const list = new Uint8Array(32);
    const view = new DataView(list.buffer);
    for (let k = 0; k < 4; k++) view.setBigUint64(k * 8, (BigInt(k) << 24n) | 3n, false);
    m.cpuMemory.write(0x7f000000n, list);
    const r = hPutTceIndirect(m, 0x80000001n, 0x8000000fe000000n, {
      address: 0x7f000000n,
      npages: 4n,
    });
    assert.deepEqual(r, { ret: H.parameter, written: 2 });
    assert.deepEqual(events, ["map fe000000 -> 0/3", "map ff000000 -> 1000000/3"]);
  });

  test("H_PUT_TCE_INDIRECT refuses more than 512 entries and unaligned lists, writing nothing", () => {
    const m = machineWithDdw();
    const { events } = listen(m, 0x80000001n);
    const base = 0x800000000000000n;
    assert.equal(
      hPutTceIndirect(m, 0x80000001n, base, { address: 0x7f000000n, npages: 513n }).ret,
      H.parameter,
    );
    assert.equal(
      hPutTceIndirect(m, 0x80000001n, base, { address: 0x7f000008n, npages: 1n }).ret,
      H.parameter,
    );
    assert.equal(
      hPutTceIndirect(m, 0x80000001n, base, { address: 0x7f000000n, npages: 0n }).ret,
      H.parameter,
    );
    assert.deepEqual(events, []);
  });

  test("zero-length H_STUFF_TCE and H_PUT_TCE_INDIRECT answer H_PARAMETER and write nothing (h_stuff_tce, h_put_tce_indirect)", () => {
    const m = machineWithDdw();
    const { events } = listen(m, 0x80000001n);
    const base = 0x800000000000000n;
    assert.deepEqual(hStuffTce(m, 0x80000001n, base, 0x3n, 0n), { ret: H.parameter, written: 0 });
    assert.deepEqual(hPutTceIndirect(m, 0x80000001n, base, { address: 0x7f000000n, npages: 0n }), {
      ret: H.parameter,
      written: 0,
    });
    assert.deepEqual(hPutTceIndirect(m, 0x80000001n, base, { tces: [] }), {
      ret: H.parameter,
      written: 0,
    });
    assert.deepEqual(events, []);
  });

  test("H_STUFF_TCE refuses npages above the window and clears up to the failing entry", () => {
    const m = machineWithDdw();
    hPutTce(m, 0x80000001n, 0x8000000ff000000n, 0x3n);
    const { events } = listen(m, 0x80000001n);
    assert.equal(hStuffTce(m, 0x80000001n, 0x800000000000000n, 0n, 257n).ret, H.parameter);
    assert.deepEqual(hStuffTce(m, 0x80000001n, 0x8000000ff000000n, 0n, 2n), {
      ret: H.parameter,
      written: 1,
    });
    assert.deepEqual(events, ["unmap ff000000 -> 0/0"]);
  });

  test("LIOBNs above 32 bits, unknown LIOBNs and iobas below the window are H_PARAMETER", () => {
    const m = machineWithDdw();
    assert.equal(hPutTce(m, 0x180000000n, 0n, 3n).ret, H.parameter);
    assert.equal(hPutTce(m, 0x80000002n, 0n, 3n).ret, H.parameter);
    assert.equal(hPutTce(m, 0x80000001n, 0x7ffffffffffffffn, 3n).ret, H.parameter);
    assert.equal(hGetTce(m, 0x80000000n, 0x40000000n).ret, H.parameter);
  });
});

describe("storage and replay", () => {
  test("a 2^40-byte window (2^24 entries) holding 10^3 scattered entries stores 10^3 one-entry leaves and no slab", () => {
    const m = new PseriesMachine({ memory: 1n << 30n });
    assert.deepEqual(rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, 16, 40], 4)[0], 0);
    const table = m.findTable(0x80000001n)!;
    assert.equal(table.nbTable, 1 << 24);
    assert.deepEqual(table.storage, { leaves: 0, slabs: 0 });
    // Entries 4096 apart: each in a leaf of its own, kept as a short list.
    for (let i = 0; i < 1000; i++)
      hPutTce(m, 0x80000001n, 0x800000000000000n + (BigInt(i) << 28n), 0x10003n);
    assert.equal(table.populatedEntries, 1000);
    assert.deepEqual(table.storage, { leaves: 1000, slabs: 0 });
    // Pages 1..511 fill the first leaf (page 0 is taken), which turns dense: one 64 KiB slab.
    for (let i = 0; i < 511; i++)
      hPutTce(m, 0x80000001n, 0x800000000000000n + (BigInt(i) << 16n) + 0x10000n, 0x10003n);
    assert.deepEqual(table.storage, { leaves: 1000, slabs: 1 });
  });

  test("replay visits valid entries only, in order, with one translate each", () => {
    const m = machineWithDdw();
    hPutTce(m, 0x80000001n, 0x800000005000000n, 0x5000003n);
    hPutTce(m, 0x80000001n, 0x800000001000000n, 0x1000001n);
    hPutTce(m, 0x80000001n, 0x800000002000000n, 0x7000000n);
    const table = m.findTable(0x80000001n)!;
    const seen: string[] = [];
    table.iommu.translateCount = 0;
    table.iommu.replay({
      flags: 3,
      start: 0n,
      end: table.windowSize - 1n,
      iommuIdx: 0,
      notify: (e) => seen.push(`${e.iova.toString(16)}/${e.perm}`),
    });
    assert.deepEqual(seen, ["1000000/1", "5000000/3"]);
    assert.equal(table.iommu.translateCount, 3);
  });

  test("replay does nothing while the window is being created", () => {
    const m = machineWithDdw();
    const table = m.findTable(0x80000000n)!;
    hPutTce(m, 0x80000000n, 0n, 0x3n);
    let seen = 0;
    const n = { flags: 3, start: 0n, end: 0x3fffffffn, iommuIdx: 0, notify: () => void seen++ };
    table.skippingReplay = true;
    table.iommu.replay(n);
    table.skippingReplay = false;
    table.iommu.replay(n);
    assert.equal(seen, 1);
  });
});

describe("QEMU 7.2's edges", () => {
  test("create-pe-dma-window with page shifts of 64 and more answers as QEMU 7.2's x86-64 build (recorded over qtest)", () => {
    // [page shift, window shift] -> the status word and the window QEMU 7.2 made (recorded on
    // Debian's QEMU 7.2: the counts act modulo 64, the entry count is a uint32).
    const recorded: [number, number, number, bigint][] = [
      [64, 64, -3, 0n],
      [64, 70, -3, 0n],
      [65, 66, -3, 0n],
      [96, 100, -3, 0n],
      [76, 76, 0, 0x1000n],
      [76, 80, 0, 0x10000n],
      [80, 90, 0, 0x4000000n],
      [16, 80, 0, 0x10000n],
      [16, 90, 0, 0x4000000n],
      [12, 76, 0, 0x1000n],
      [12, 44, -1, 0n],
    ];
    for (const [pageShift, windowShift, status, size] of recorded) {
      const m = new PseriesMachine({ memory: 1n << 30n });
      const rets = rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, pageShift, windowShift], 4);
      assert.equal(rets[0] | 0, status, `page shift ${pageShift}, window shift ${windowShift}`);
      const table = m.findTable(0x80000001n)!;
      assert.equal(table.enabled ? table.windowSize : 0n, size, `${pageShift}/${windowShift}`);
    }
  });

  test("the TCE region refuses a device-IOTLB notifier (spapr_tce_notify_flag_changed)", () => {
    const m = new PseriesMachine({ memory: 1n << 30n });
    const table = m.findTable(0x80000000n)!;
    const n = { flags: IommuNotifierFlag.devIotlbUnmap, start: 0n, end: 0xfffn, iommuIdx: 0 };
    assert.throws(
      () => table.iommu.registerNotifier({ ...n, notify: () => {} }),
      /spart_tce does not support dev-iotlb yet/,
    );
    assert.equal(table.iommu.notifiers.length, 0);
    assert.equal(table.needVfio, false);
  });
});

describe("PHB defaults by machine type", () => {
  test("pseries-2.6 has no DDW; 2.7 to 4.1 offer 4K and 64K pages; 4.2 and later also 2M and 16M", () => {
    assert.equal(
      new PseriesMachine({ machineType: "pseries-2.6", memory: 1n << 30n }).phbs[0].tables.length,
      1,
    );
    assert.equal(
      ddwPageSizeMask(
        new PseriesMachine({ machineType: "pseries-2.7", memory: 1n << 30n }).phbs[0].config.pgsz,
      ),
      0x3,
    );
    assert.equal(
      ddwPageSizeMask(
        new PseriesMachine({ machineType: "pseries-4.1", memory: 1n << 30n }).phbs[0].config.pgsz,
      ),
      0x3,
    );
    assert.equal(
      ddwPageSizeMask(new PseriesMachine({ memory: 1n << 30n }).phbs[0].config.pgsz),
      0x107,
    );
  });

  test("PHB n has BUID base + n and LIOBNs 0x800000nn", () => {
    const m = new PseriesMachine({ memory: 1n << 30n, phbs: [{ index: 0 }, { index: 3 }] });
    assert.equal(m.phbs[1].buid, 0x800000020000003n);
    assert.deepEqual(m.phbs[1].dmaLiobn, [0x80000300, 0x80000301]);
  });
});

describe("H_STUFF_TCE at any length", () => {
  /** A 2^43-byte window of 4 KiB pages: 2^31 entries. */
  function machineWithHugeWindow() {
    const m = new PseriesMachine({ memory: 4n << 30n });
    const rets = rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, 12, 43], 4);
    assert.equal(rets[0], 0);
    return m;
  }
  const LIOBN = 0x80000001n;
  const BASE = 0x800000000000000n;

  test("unobserved, filling and clearing 2^31 entries costs one record, exactly", () => {
    const m = machineWithHugeWindow();
    const table = m.findTable(LIOBN)!;
    assert.equal(table.nbTable, 2 ** 31);
    assert.deepEqual(hStuffTce(m, LIOBN, BASE, 0x7f000003n, 2n ** 31n), {
      ret: H.success,
      written: 2 ** 31,
    });
    assert.equal(table.validEntryCount, 2 ** 31);
    assert.ok(table.storedRecords <= 2, `${table.storedRecords} records`);
    assert.equal(hGetTce(m, LIOBN, BASE + (2n ** 43n - 0x1000n)).tce, 0x7f000003n);
    // One entry written inside the run reads back; its neighbours keep the run's value.
    hPutTce(m, LIOBN, BASE + 0x5000n, 0x1000001n);
    assert.equal(table.entry(5), 0x1000001n);
    assert.equal(table.entry(4), 0x7f000003n);
    assert.equal(table.translate(0x6000n, 0, 0).translatedAddr, 0x7f000000n);
    assert.deepEqual(hStuffTce(m, LIOBN, BASE, 0n, 2n ** 31n), {
      ret: H.success,
      written: 2 ** 31,
    });
    assert.equal(table.populatedEntries, 0);
    assert.equal(table.storedRecords, 0);
  });

  test("a fill running past the window's end writes what fits, then H_PARAMETER", () => {
    const m = machineWithDdw();
    const table = m.findTable(LIOBN)!;
    // 2^32-byte window of 16 MiB pages: 256 entries; start 4 before the end, ask for 10.
    const ioba = BASE + 252n * (1n << 24n);
    assert.deepEqual(hStuffTce(m, LIOBN, ioba, 0x3n, 10n), { ret: H.parameter, written: 4 });
    assert.equal(table.validEntryCount, 4);
    assert.deepEqual(hStuffTce(m, LIOBN, BASE + (1n << 32n), 0x3n, 1n), {
      ret: H.parameter,
      written: 0,
    });
  });

  test("a fill gives the same entries as the same TCE written entry by entry", () => {
    const filled = machineWithDdw();
    const written = machineWithDdw();
    const ops: [bigint, bigint, number][] = [
      [BASE, 0x1000003n, 100],
      [BASE + 50n * (1n << 24n), 0x2000001n, 20],
      [BASE + 60n * (1n << 24n), 0n, 5],
      [BASE + 99n * (1n << 24n), 0x1000003n, 3],
    ];
    for (const [ioba, tce, n] of ops) {
      hStuffTce(filled, LIOBN, ioba, tce, BigInt(n));
      for (let i = 0; i < n; i++) hPutTce(written, LIOBN, ioba + BigInt(i) * (1n << 24n), tce);
    }
    const a = filled.findTable(LIOBN)!;
    const b = written.findTable(LIOBN)!;
    assert.deepEqual(a.validEntries(), b.validEntries());
    assert.equal(a.validEntryCount, b.validEntries().length);
  });

  test("observed, each entry is notified; past the limit the call is refused and nothing changes", () => {
    const m = machineWithDdw();
    const { table, events } = listen(m, LIOBN);
    table.materialisedEntryLimit = 8;
    assert.deepEqual(hStuffTce(m, LIOBN, BASE, 0x1000003n, 8n), { ret: H.success, written: 8 });
    assert.equal(events.length, 8);
    assert.throws(
      () => hStuffTce(m, LIOBN, BASE, 0x2000003n, 9n),
      (e: Error) =>
        e instanceof MaterialisationLimitError &&
        /9 MAP notifications and makes 9 VFIO_IOMMU_MAP_DMA ioctls, one per 16 MiB page/.test(
          e.message,
        ) &&
        /Nothing was changed/.test(e.message),
    );
    assert.equal(events.length, 8);
    assert.equal(table.entry(0), 0x1000003n);
    assert.equal(table.entry(8), 0n);
  });
});
