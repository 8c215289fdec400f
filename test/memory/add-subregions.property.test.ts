/**
 * Differential test: adding a list of subregions in one call (`addSubregionsOverlap`, which the
 * `info mtree` importer uses for containers of 10^5 children) leaves the same subregion list,
 * offsets, priorities and flat view as one `addSubregionOverlap` call per entry in turn, for
 * empty and non-empty containers, and fails on the same entry with the same message.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { MemorySystem } from "../../src/memory/memory-system.ts";
import type { MemoryRegion } from "../../src/memory/region.ts";

interface Entry {
  /** Index of the child region (a repeated index adds the same region twice). */
  readonly child: number;
  readonly offset: bigint;
  readonly priority: number;
}

const entries = fc.array(
  fc.record({
    child: fc.nat(11),
    offset: fc.bigInt({ min: 0n, max: 0x3fn }),
    priority: fc.integer({ min: -2, max: 2 }),
  }),
  { maxLength: 12 },
);

/** A machine with a container, `preset` subregions already in it, and 12 RAM children. */
function machine(preset: readonly Entry[]) {
  const system = new MemorySystem();
  const root = system.container("root", 0x100n);
  const kids = Array.from({ length: 12 }, (_, i) => system.ram(`c${i}`, 0x10n + BigInt(i)));
  for (const [i, e] of preset.entries()) {
    root.addSubregionOverlap(system.ram(`pre${i}`, 0x8n), e.offset, e.priority);
  }
  const as = system.addressSpace(root, "memory");
  return { system, root, kids, as };
}

function state(
  root: MemoryRegion,
  view: readonly { start: bigint; end: bigint; mr: MemoryRegion }[],
) {
  return {
    list: root.subregions.map((s) => [s.name, s.addr, s.priority, s.container?.name] as const),
    view: view.map((r) => [r.start, r.end, r.mr.name] as const),
  };
}

test("one call per list gives what one call per subregion gives (errors included)", () => {
  fc.assert(
    fc.property(
      entries,
      fc.array(
        fc.record({
          offset: fc.bigInt({ min: 0n, max: 0x3fn }),
          priority: fc.integer({ min: -2, max: 2 }),
          child: fc.constant(0),
        }),
        { maxLength: 3 },
      ),
      (list, preset) => {
        const one = machine(preset);
        let oneError: string | undefined;
        try {
          one.system.transaction(() => {
            for (const e of list)
              one.root.addSubregionOverlap(one.kids[e.child], e.offset, e.priority);
          });
        } catch (e) {
          oneError = (e as Error).message;
        }
        const bulk = machine(preset);
        let bulkError: string | undefined;
        try {
          bulk.root.addSubregionsOverlap(
            list.map((e) => ({
              region: bulk.kids[e.child],
              offset: e.offset,
              priority: e.priority,
            })),
          );
        } catch (e) {
          bulkError = (e as Error).message;
        }
        assert.equal(bulkError, oneError);
        assert.deepEqual(
          state(bulk.root, bulk.as.view.ranges),
          state(one.root, one.as.view.ranges),
        );
      },
    ),
    { numRuns: 1000, seed: 7 },
  );
});

test("equal-priority subregions added in one call: the last one listed comes first", () => {
  const { root, kids } = machine([]);
  root.addSubregionsOverlap([
    { region: kids[0], offset: 0n, priority: 0 },
    { region: kids[1], offset: 0n, priority: 1 },
    { region: kids[2], offset: 0n, priority: 0 },
  ]);
  assert.deepEqual(
    root.subregions.map((s) => s.name),
    ["c1", "c2", "c0"],
  );
});
