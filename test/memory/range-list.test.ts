/** The block list used by rendering behaves as one sorted array, across block splits. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Extent, RangeList } from "../../src/memory/range-list.ts";

test("filling gaps in random order gives the same sorted ranges as a plain array", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 1500 }),
      (slots) => {
        const list = new RangeList<Extent>();
        for (const s of slots) {
          const start = BigInt(s) * 16n;
          const c = list.firstEndingAfter(start);
          assert.ok(!list.at(c) || list.at(c)!.start > start);
          list.insertBefore(c, { start, end: start + 16n });
        }
        const want = [...slots].sort((a, b) => a - b).map((s) => BigInt(s) * 16n);
        assert.deepEqual(
          list.toArray().map((r) => r.start),
          want,
        );
      },
    ),
    { numRuns: 60, seed: 1 },
  );
});
