/** The sparse entry table behind TCE tables and host windows, against a plain Map. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { EntryTable } from "../../src/iommu/entry-table.ts";

type Op =
  | { kind: "set"; index: number; value: bigint }
  | { kind: "clearRange"; first: number; count: number }
  | { kind: "fill"; first: number; count: number; value: bigint }
  | { kind: "series"; first: number; count: number; value: bigint; step: bigint }
  | { kind: "clear" };

// Indexes that cluster in a few leaves, spread over 2^32 entries (the largest TCE window) and
// past it (a host window of 2^59 bytes in 4 KiB pages has 2^47), or crowd two leaves so that
// they turn dense (at 32 entries) and empty again.
const spread = fc.oneof(
  fc.integer({ min: 0, max: 2048 }),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  fc.integer({ min: 2 ** 32 - 2048, max: 2 ** 32 + 2048 }),
  fc.integer({ min: 0, max: 2 ** 47 }),
);
const crowded = fc.integer({ min: 0, max: 1023 });
const value = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
  fc.constantFrom(1n << 64n, -1n, 3n),
);
const op = (index: fc.Arbitrary<number>, setWeight: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: setWeight,
      arbitrary: fc.record({ kind: fc.constant("set" as const), index, value }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("clearRange" as const),
        first: index,
        count: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 2 ** 47 })),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("fill" as const),
        first: index,
        count: fc.integer({ min: 0, max: 1500 }),
        value,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("series" as const),
        first: index,
        count: fc.integer({ min: 0, max: 1500 }),
        // Below 2^63, so that 1500 steps of up to 2^31 stay within 64 bits; words that carry.
        value: fc.oneof(
          fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
          fc.constantFrom(0xfffe0003n, 0xffffffff_fff00003n - (1n << 63n), 0n, 3n),
        ),
        step: fc.constantFrom(0n, 1n, 4096n, 65536n, 1n << 31n),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
  );

/** A step for series walks and drops (0: per entry / equal runs only). */
const stepOf = (ops: readonly Op[]) => [0, 1, 4096, 65536][ops.length % 4];

// Crowded runs mostly set entries, or no leaf would ever fill between two clears.
for (const [name, index, setWeight, maxLength] of [
  ["spread", spread, 6, 200],
  ["crowded", crowded, 60, 400],
] as const) {
  test(`an entry table behaves as a map of non-zero 64-bit entries (${name} indexes)`, () => {
    fc.assert(
      fc.property(fc.array(op(index, setWeight), { maxLength, size: "max" }), (ops) => {
        const table = new EntryTable();
        const model = new Map<number, bigint>();
        for (const o of ops) {
          if (o.kind === "set") {
            const v = BigInt.asUintN(64, o.value);
            table.set(o.index, o.value);
            if (v === 0n) model.delete(o.index);
            else model.set(o.index, v);
          } else if (o.kind === "clearRange") {
            const dropped: [number, bigint][] = [];
            table.clearRange(
              o.first,
              o.count,
              (i, v, n, step) => {
                for (let k = 0; k < n; k++) dropped.push([i + k, v + BigInt(k) * step]);
              },
              stepOf(ops),
            );
            const want = [...model]
              .filter(([i]) => i >= o.first && i < o.first + o.count)
              .sort((a, b) => a[0] - b[0]);
            assert.deepEqual(dropped, want, "clearRange tells of each entry it drops, in order");
            for (const [i] of want) model.delete(i);
          } else if (o.kind === "series") {
            table.setSeries(o.first, o.count, o.value, o.step);
            for (let k = 0; k < o.count; k++) {
              const v = o.value + BigInt(k) * o.step;
              if (v === 0n) model.delete(o.first + k);
              else model.set(o.first + k, v);
            }
          } else if (o.kind === "fill") {
            const v = BigInt.asUintN(64, o.value);
            table.fillRange(o.first, o.count, o.value);
            for (let i = o.first; i < o.first + o.count; i++) {
              if (v === 0n) model.delete(i);
              else model.set(i, v);
            }
          } else {
            table.clear();
            model.clear();
          }
          assert.equal(table.size, model.size);
        }
        const walked: [number, bigint][] = [];
        table.forEach((i, v) => {
          walked.push([i, v]);
        });
        assert.deepEqual(
          walked,
          [...model].sort((a, b) => a[0] - b[0]),
        );
        const runs: [number, bigint][] = [];
        table.forEachRun((first, count, v) => {
          for (let k = 0; k < count; k++) runs.push([first + k, v]);
        });
        assert.deepEqual(runs, walked, "runs cover exactly the entries, in order");
        for (const walkStep of [1, 4096, 65536, 2 ** 31]) {
          const series: [number, bigint][] = [];
          let ends = -1;
          let after: bigint | undefined;
          table.forEachSeries(walkStep, (first, count, v, step) => {
            assert.ok(first >= ends, "series come in order and do not overlap");
            // Entries of leaves (step non-zero) are gathered into the longest series.
            if (step !== 0n && first === ends) assert.notEqual(v, after, "series are maximal");
            ends = first + count;
            after = step === 0n ? undefined : v + BigInt(count) * step;
            for (let k = 0; k < count; k++) series.push([first + k, v + BigInt(k) * step]);
          });
          assert.deepEqual(series, walked, "series cover exactly the entries, in order");
        }
        for (const [i, v] of model) {
          assert.equal(table.get(i), v);
          assert.ok(table.has(i));
          assert.equal(table.get(i + 1), model.get(i + 1) ?? 0n);
        }
      }),
      { seed: 20261128, numRuns: 300 },
    );
  });
}

test("emptied leaves are freed, so a walk after unmapping everything visits nothing", () => {
  const table = new EntryTable();
  for (let i = 0; i < 10_000; i += 7) table.set(i * 4096, 0x10003n);
  table.clearRange(0, 2 ** 32);
  let visits = 0;
  table.forEach(() => {
    visits++;
  });
  assert.equal(visits, 0);
  assert.equal(table.size, 0);
  table.set(5, 1n);
  table.set(5, 0n);
  assert.equal(table.size, 0);
  assert.equal(table.get(5), 0n);
});

test("a fill of 2^31 entries is one record; writing into it, reading and clearing it stay exact", () => {
  const table = new EntryTable();
  const n = 2 ** 31;
  table.fillRange(0, n, 0x10003n);
  assert.equal(table.size, n);
  assert.equal(table.records, 1);
  assert.equal(table.get(n - 1), 0x10003n);
  assert.equal(table.get(n), 0n);
  // An entry written inside splits the run; equal fills that touch join again.
  table.set(1000, 0x20003n);
  assert.equal(table.get(1000), 0x20003n);
  assert.equal(table.get(999), 0x10003n);
  assert.equal(table.get(1001), 0x10003n);
  assert.equal(table.size, n);
  assert.equal(table.records, 3, "two runs and one leaf");
  table.fillRange(1000, 1, 0x10003n);
  assert.equal(table.records, 1, "the run is whole again");
  const pieces: [number, bigint, number][] = [];
  table.clearRange(5, n, (i, v, count) => pieces.push([i, v, count]));
  assert.deepEqual(pieces, [[5, 0x10003n, n - 5]]);
  assert.equal(table.size, 5);
  table.fillRange(0, n, 0n);
  assert.equal(table.size, 0);
  assert.equal(table.records, 0);
});
