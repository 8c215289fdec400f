/**
 * Consecutive TCEs mirrored as series (one bulk MAP_DMA series in the host and one row in the
 * ioctl log) against the same guest driven with an observer on every notification, which makes
 * QEMU's path go entry by entry: the ioctl log, call by call, the host's entries, the pinned
 * memory's counts, QEMU's log lines and aborts must be the same.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { POWER9_HOST } from "../../src/host/platform.ts";
import { PseriesMachine } from "../../src/machine/pseries.ts";
import { hPutTceIndirect, hStuffTce } from "../../src/spapr/hcalls.ts";
import { rtasCall } from "../../src/spapr/rtas.ts";

const BUID = [0x8000000, 0x20000000];
const LIOBN = 0x80000001n;
const DDW = 0x800000000000000n;
const PAGE = 0x10000n;
/** Guest RAM: 2^30 bytes, 2^14 pages of 64 KiB; the DDW has 2^16 entries. */
const RAM_PAGES = 1 << 14;

type Op =
  | { kind: "indirect"; index: number; tces: bigint[] }
  | { kind: "stuff"; index: number; tce: bigint; npages: number }
  | { kind: "plug" }
  | { kind: "unplug" };

const perm = fc.constantFrom(0n, 1n, 2n, 3n, 3n, 3n);
/** A guest page, mostly in RAM, sometimes past its end (not RAM: QEMU logs it). */
const page = fc.oneof(
  fc.integer({ min: 0, max: RAM_PAGES - 1 }),
  fc.integer({ min: RAM_PAGES - 40, max: RAM_PAGES + 40 }),
);
const tceList = fc.oneof(
  // One to one: consecutive pages, as Linux maps memory.
  fc
    .tuple(page, fc.integer({ min: 1, max: 512 }), perm)
    .map(([p, n, bits]) => Array.from({ length: n }, (_, k) => (BigInt(p + k) << 16n) | bits)),
  // The same TCE again and again.
  fc
    .tuple(page, fc.integer({ min: 1, max: 64 }), perm)
    .map(([p, n, bits]) => Array<bigint>(n).fill((BigInt(p) << 16n) | bits)),
  fc.array(
    fc.tuple(page, perm).map(([p, bits]) => (BigInt(p) << 16n) | bits),
    { maxLength: 40 },
  ),
);
const index = fc.oneof(
  fc.integer({ min: 0, max: 2048 }),
  fc.integer({ min: 0, max: (1 << 16) + 10 }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant("indirect" as const), index, tces: tceList }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("stuff" as const),
      index,
      tce: fc.tuple(page, perm).map(([p, bits]) => (BigInt(p) << 16n) | bits),
      npages: fc.integer({ min: 0, max: 3000 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "plug" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "unplug" as const }) },
);

function machine(behaviour: "qemu-7.2" | "qemu-2016-prefix", oneByOne: boolean) {
  const m = new PseriesMachine({
    memory: 1n << 30n,
    behaviour,
    host: { platform: POWER9_HOST, backend: "spapr-tce-v2" },
    devices: [{ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" }],
  });
  rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, 16, 32], 4);
  if (oneByOne) {
    // Observers see every notification and every QEMU trace point: no series anywhere.
    for (const t of m.tables) t.iommu.onNotify = () => {};
    m.vfio!.onTrace = () => {};
  }
  return m;
}

function run(m: PseriesMachine, ops: readonly Op[]) {
  const answers: unknown[] = [];
  for (const o of ops) {
    const ioba = DDW + (BigInt(o.kind === "plug" || o.kind === "unplug" ? 0 : o.index) << 16n);
    if (o.kind === "indirect") answers.push(hPutTceIndirect(m, LIOBN, ioba, { tces: o.tces }));
    else if (o.kind === "stuff") answers.push(hStuffTce(m, LIOBN, ioba, o.tce, BigInt(o.npages)));
    else if (o.kind === "plug" && !m.devices.has("hostdev0"))
      m.plug({ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" });
    else if (o.kind === "unplug" && m.devices.has("hostdev0")) m.unplug("hostdev0");
  }
  const vfio = m.vfio!;
  return {
    answers,
    log: vfio.io.log.slice(),
    length: vfio.io.log.length,
    entries: vfio.containers.map((c) => c.kernel.entries()),
    mapped: vfio.process.preregistered.map((r) => [r.vaddr, r.size, r.mapped]),
    // The container pointer QEMU prints differs from machine to machine.
    reports: vfio.events.reports.map((line) => line.replace(/0x55d5c0de[0-9a-f]{4}/g, "CONTAINER")),
    aborts: [...vfio.events.aborts],
    guest: m.findTable(LIOBN)!.validEntries(),
  };
}

for (const behaviour of ["qemu-7.2", "qemu-2016-prefix"] as const) {
  test(`series and entry-by-entry mirroring leave the same log, host entries and counts (${behaviour})`, () => {
    let withSeries = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), (ops) => {
        const bulkMachine = machine(behaviour, false);
        const bulk = run(bulkMachine, ops);
        const single = run(machine(behaviour, true), ops);
        assert.deepEqual(bulk, single);
        if (bulkMachine.vfio!.io.log.rows < bulk.length) withSeries++;
      }),
      { seed: 20261201, numRuns: 60 },
    );
    assert.ok(withSeries >= 20, `only ${withSeries} of 60 runs made a series`);
  });
}

test("a one-to-one mapping is mirrored as a series: one log row for thousands of MAP_DMA calls", () => {
  const m = machine("qemu-7.2", false);
  const tces = Array.from({ length: 512 }, (_, k) => (BigInt(k) << 16n) | 3n);
  for (let c = 0; c < 8; c++) hPutTceIndirect(m, LIOBN, DDW + (BigInt(c * 512) << 16n), { tces });
  const log = m.vfio!.io.log;
  const maps = log.slice().filter((r) => r.ioctl === "MAP_DMA");
  assert.equal(maps.length, 8 * 512, "one MAP_DMA per TCE, as QEMU makes");
  assert.ok(log.rows < log.length - 8 * 500, `${log.rows} rows for ${log.length} calls`);
  assert.deepEqual(maps[513].args, {
    iova: DDW + (513n << 16n),
    size: PAGE,
    vaddr: maps[1].args.vaddr,
    flags: 3,
  });
});
