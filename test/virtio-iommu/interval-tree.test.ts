/**
 * The GTree-shaped interval tree behind a virtio-iommu domain: against a plain sorted list under
 * random inserts and removals it holds the same intervals in order, stays an AVL tree (height at
 * most 1.44 log2 n + 2), and a lookup always returns an interval that overlaps the key.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IntervalTree } from "../../src/virtio-iommu/interval-tree.ts";

type Op = { insert: boolean; slot: number; len: number };

test("random inserts and removals keep the reference's intervals, in order, in an AVL shape", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          insert: fc.boolean(),
          slot: fc.integer({ min: 0, max: 200 }),
          len: fc.integer({ min: 1, max: 3 }),
        }),
        { maxLength: 400 },
      ),
      (ops: Op[]) => {
        const tree = new IntervalTree<number>();
        const ref: [bigint, bigint][] = [];
        const overlaps = (lo: bigint, hi: bigint) => ref.some(([a, b]) => !(hi < a || b < lo));
        for (const op of ops) {
          const lo = BigInt(op.slot) * 0x1000n;
          const hi = lo + BigInt(op.len) * 0x1000n - 1n;
          if (op.insert) {
            if (overlaps(lo, hi)) {
              assert.ok(tree.lookup(lo, hi), "an overlap the reference sees, the tree finds");
              continue;
            }
            assert.equal(tree.lookup(lo, hi), undefined);
            tree.insert(lo, hi, op.slot);
            ref.push([lo, hi]);
          } else {
            const found = tree.lookup(lo, hi);
            assert.equal(found !== undefined, overlaps(lo, hi));
            if (!found) continue;
            assert.ok(!(hi < found.low || found.high < lo), "the entry found overlaps the key");
            assert.ok(tree.remove(found.low, found.high));
            ref.splice(
              ref.findIndex(([a]) => a === found.low),
              1,
            );
          }
          ref.sort((a, b) => (a[0] < b[0] ? -1 : 1));
          assert.deepEqual(
            tree.entries().map((e) => [e.low, e.high]),
            ref,
          );
          assert.equal(tree.size, ref.length);
          assert.ok(tree.height() <= Math.floor(1.4405 * Math.log2(ref.length + 2) - 0.3277) + 1);
        }
      },
    ),
    { seed: 18, numRuns: 200 },
  );
});

test("a lookup takes the first overlapping interval on the search path, not the lowest", () => {
  const tree = new IntervalTree<string>();
  // Inserted in order 1, 2, 3: the AVL rotation makes 2 the root.
  tree.insert(0x1000n, 0x1fffn, "a");
  tree.insert(0x2000n, 0x2fffn, "b");
  tree.insert(0x3000n, 0x3fffn, "c");
  assert.equal(tree.lookup(0x0n, 0xffffn)?.value, "b");
  assert.equal(tree.remove(0x2000n, 0x2fffn), true);
  // The root's successor took its place.
  assert.equal(tree.lookup(0x0n, 0xffffn)?.value, "c");
  assert.equal(tree.remove(0x2000n, 0x2fffn), false);
});
