/**
 * Differential test: random region trees (aliases, overlaps, priorities, disabled and read-only
 * regions, sizes and addresses touching 2^64) rendered by the flat-view renderer agree, address by
 * address, with a brute-force reference that resolves one address at a time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { MemorySystem } from "../../src/memory/memory-system.ts";
import type { MemoryRegion } from "../../src/memory/region.ts";
import { NOOP_OPS, reaches } from "./helpers.ts";

const TOP = 1n << 64n;

interface Hit {
  mr: MemoryRegion;
  offset: bigint;
  readonly: boolean;
  nonvolatile: boolean;
}

/** The reference: which terminating region answers address `x`, straight from the rules. */
function resolve(mr: MemoryRegion, base: bigint, x: bigint, ro: boolean, nv: boolean): Hit | null {
  if (!mr.enabled) return null;
  const pos = base + mr.addr;
  if (x < pos || x >= pos + mr.size) return null;
  ro ||= mr.readonly;
  nv ||= mr.nonvolatile;
  const target = mr.alias;
  if (target) return resolve(target, pos - target.addr - mr.aliasOffset, x, ro, nv);
  for (const sub of mr.subregions) {
    const hit = resolve(sub, pos, x, ro, nv);
    if (hit) return hit;
  }
  return mr.terminates ? { mr, offset: x - pos, readonly: ro, nonvolatile: nv } : null;
}

const bigChoice = (fixed: bigint[], max: bigint) =>
  fc.oneof(fc.constantFrom(...fixed), fc.bigInt({ min: 0n, max }));

/** True with probability `p` (in tenths), reproducibly from the seed. */
const chance = (p: number) => fc.integer({ min: 0, max: 9 }).map((n) => n < p * 10);

const regionOp = fc.record({
  kind: fc.constantFrom("ram", "io", "container", "alias", "alias", "rom"),
  size: bigChoice([0n, 1n, 0x10n, 0x1000n, 0x3000n, 0x10000n, 1n << 63n, TOP], 0x20000n),
  addr: bigChoice([0n, 0x800n, 0x1000n, 1n << 63n, TOP - 0x1000n, TOP - 1n], 0x20000n),
  priority: fc.integer({ min: -2, max: 2 }),
  parent: fc.nat(),
  target: fc.nat(),
  aliasOffset: bigChoice([0n, 0x800n, 0x1000n, TOP - 0x800n], 0x20000n),
  enabled: chance(0.8),
  readonly: chance(0.15),
  nonvolatile: chance(0.1),
  attach: chance(0.9),
  probes: fc.array(fc.bigInt({ min: 0n, max: TOP - 1n }), { maxLength: 4 }),
});

type RegionOp = typeof regionOp extends fc.Arbitrary<infer T> ? T : never;

function build(ops: RegionOp[]) {
  const m = new MemorySystem();
  const root = m.container("root", TOP);
  const all: MemoryRegion[] = [root];
  const probes: bigint[] = [];
  m.transaction(() => {
    ops.forEach((op, i) => {
      const name = `r${i}`;
      const parent = all[op.parent % all.length];
      let mr: MemoryRegion;
      if (op.kind === "alias") {
        const target = all[op.target % all.length];
        // Rendering an alias that leads back to its own container would never end.
        if (reaches(target, parent)) return;
        mr = m.alias(name, target, op.aliasOffset, op.size);
      } else if (op.kind === "ram") mr = m.ram(name, op.size);
      else if (op.kind === "rom") mr = m.rom(name, op.size);
      else if (op.kind === "io") mr = m.io(name, op.size, NOOP_OPS);
      else mr = m.container(name, op.size);
      if (!op.enabled) mr.setEnabled(false);
      if (op.readonly) mr.setReadonly(true);
      if (op.nonvolatile) mr.setNonvolatile(true);
      if (op.attach) parent.addSubregionOverlap(mr, op.addr, op.priority);
      all.push(mr);
      probes.push(...op.probes);
    });
  });
  return { as: m.addressSpace(root, "memory"), root, all, probes };
}

/** Absolute boundaries along container chains: where the answer is most likely to change. */
function boundaries(all: MemoryRegion[]): bigint[] {
  const out: bigint[] = [];
  for (const mr of all) {
    let pos = mr.addr;
    for (let c = mr.container; c; c = c.container) pos += c.addr;
    for (const p of [pos, pos + mr.size]) out.push(p - 1n, p, p + 1n);
  }
  return out;
}

test("the flat view agrees with per-address resolution on random trees", () => {
  fc.assert(
    fc.property(fc.array(regionOp, { minLength: 1, maxLength: 14 }), (ops) => {
      const { as, root, all, probes } = build(ops);
      const ranges = as.view.ranges;
      const points = [...probes, ...boundaries(all)];
      for (const fr of ranges) points.push(fr.start, fr.end - 1n, fr.end);
      for (const x of points) {
        if (x < 0n || x >= TOP) continue;
        const want = resolve(root, 0n, x, false, false);
        const fr = as.view.lookup(x);
        const got = fr && {
          mr: fr.mr,
          offset: fr.offsetInRegion + (x - fr.start),
          readonly: fr.readonly,
          nonvolatile: fr.nonvolatile,
        };
        assert.deepEqual(
          got ? { ...got, mr: got.mr.name } : null,
          want ? { ...want, mr: want.mr.name } : null,
          `address 0x${x.toString(16)}`,
        );
        if (got && want) assert.equal(got.mr, want.mr);
      }
      // Sorted, disjoint, and merged as far as QEMU merges.
      for (let i = 1; i < ranges.length; i++) {
        const a = ranges[i - 1];
        const b = ranges[i];
        assert.ok(a.end <= b.start, "ranges overlap or are unsorted");
        const mergeable =
          a.end === b.start &&
          a.mr === b.mr &&
          a.offsetInRegion + (a.end - a.start) === b.offsetInRegion &&
          a.readonly === b.readonly &&
          a.nonvolatile === b.nonvolatile &&
          a.romdMode === b.romdMode &&
          a.dirtyLogMask === b.dirtyLogMask;
        assert.ok(!mergeable, "two neighbours should have been merged");
      }
    }),
    { numRuns: 2000, seed: 1 },
  );
});
