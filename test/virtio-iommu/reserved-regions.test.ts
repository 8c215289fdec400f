/**
 * QEMU 10.0's per-function reserved regions, against simple reference models: inserting regions
 * one by one (`resv_region_list_insert`) keeps a sorted, disjoint list in which every address has
 * the type of the last region inserted over it; the host's reserved ranges are exactly the
 * addresses no usable range holds (`range_inverse_array`), in order and disjoint.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { complementRanges, insertReservedRegion } from "../../src/virtio-iommu/reserved-regions.ts";
import type { ReservedRegion } from "../../src/virtio-iommu/virtio-iommu.ts";

const U64_MAX = (1n << 64n) - 1n;

/** Addresses near the interesting places: every bound, one either side, and the space's ends. */
function probes(bounds: readonly bigint[]): bigint[] {
  const out = new Set<bigint>([0n, U64_MAX]);
  for (const b of bounds)
    for (const d of [-1n, 0n, 1n]) if (b + d >= 0n && b + d <= U64_MAX) out.add(b + d);
  return [...out];
}

// Small addresses, so that regions overlap often, plus the top of the space.
const address = fc.oneof(
  fc.bigInt({ min: 0n, max: 64n }),
  fc.bigInt({ min: U64_MAX - 8n, max: U64_MAX }),
);
const region = fc
  .tuple(address, address, fc.constantFrom<0 | 1>(0, 1))
  .map(
    ([a, b, type]): ReservedRegion =>
      a <= b ? { low: a, high: b, type } : { low: b, high: a, type },
  );

test("inserted regions: sorted and disjoint, each address of the type last inserted over it", () => {
  fc.assert(
    fc.property(fc.array(region, { maxLength: 8 }), (regions) => {
      const list = regions.reduce<ReservedRegion[]>(insertReservedRegion, []);
      for (let i = 0; i < list.length; i++) {
        assert.ok(list[i].low <= list[i].high);
        if (i > 0) assert.ok(list[i - 1].high < list[i].low);
      }
      for (const a of probes(regions.flatMap((r) => [r.low, r.high]))) {
        const expected = [...regions].reverse().find((r) => a >= r.low && a <= r.high)?.type;
        const found = list.find((r) => a >= r.low && a <= r.high)?.type;
        assert.equal(found, expected, `address ${a}`);
      }
    }),
  );
});

test("q35's MSI window over the host's hole at the same place leaves one MSI region", () => {
  const host: ReservedRegion = { low: 0xfee00000n, high: 0xfeefffffn, type: 0 };
  const msi: ReservedRegion = { low: 0xfee00000n, high: 0xfeefffffn, type: 1 };
  assert.deepEqual(insertReservedRegion([host], msi), [msi]);
});

test("the host's reserved ranges are the addresses outside the usable ones", () => {
  const usable = fc.array(fc.tuple(address, address), { maxLength: 6 }).map((pairs) => {
    // Sorted and disjoint, as the container's list is.
    const sorted = pairs
      .map(([a, b]) => (a <= b ? { start: a, last: b } : { start: b, last: a }))
      .sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
    const out: { start: bigint; last: bigint }[] = [];
    for (const r of sorted) if (!out.length || r.start > out[out.length - 1].last) out.push(r);
    return out;
  });
  fc.assert(
    fc.property(usable, (ranges) => {
      const gaps = complementRanges(ranges);
      for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i - 1].last < gaps[i].start);
      for (const a of probes(ranges.flatMap((r) => [r.start, r.last]))) {
        const isUsable = ranges.some((r) => a >= r.start && a <= r.last);
        const inGap = gaps.filter((g) => a >= g.start && a <= g.last).length;
        assert.equal(inGap, isUsable ? 0 : 1, `address ${a}`);
      }
    }),
  );
  // The usual x86 host: below and above the MSI window, 48 bits.
  assert.deepEqual(
    complementRanges([
      { start: 0n, last: 0xfedfffffn },
      { start: 0xfef00000n, last: (1n << 48n) - 1n },
    ]),
    [
      { start: 0xfee00000n, last: 0xfeefffffn },
      { start: 1n << 48n, last: U64_MAX },
    ],
  );
  assert.deepEqual(complementRanges([]), [{ start: 0n, last: U64_MAX }]);
  assert.deepEqual(complementRanges([{ start: 0n, last: U64_MAX }]), []);
});
