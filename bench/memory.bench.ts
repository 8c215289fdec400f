/**
 * Memory-layer benchmarks: flat-view rendering as the region count doubles, and address lookup
 * against a raw Float64Array binary search over the same starts.
 */
import { MemorySystem } from "../src/memory/memory-system.ts";
import type { MemoryRegion } from "../src/memory/region.ts";
import { renderFlatView } from "../src/memory/render.ts";
import { type BenchResult, medianMs, medianRatio, seededRandom } from "./harness.ts";

const NOOP = { read: () => 0n, write: () => 0 };

/**
 * A machine-like tree of `n` regions: containers of 64 MMIO regions each, added in a shuffled
 * order, with a few overlapping high-priority regions and aliases onto RAM.
 */
function buildTree(n: number): MemoryRegion {
  const m = new MemorySystem();
  const random = seededRandom(n);
  const root = m.container("system", (1n << 64n) - 1n);
  const ram = m.ram("ram", 1n << 40n);
  m.transaction(() => {
    root.addSubregion(ram, 0n);
    const perContainer = 64;
    const containers = Math.ceil(n / perContainer);
    const order = [...Array(containers).keys()].sort(() => random() - 0.5);
    for (const c of order) {
      const k = m.container(`bus${c}`, 1n << 24n);
      const slots = [...Array(perContainer).keys()].sort(() => random() - 0.5);
      for (const s of slots) {
        const size = 0x1000n << BigInt(Math.floor(random() * 4));
        const prio = random() < 0.1 ? 1 : 0;
        const child =
          random() < 0.2
            ? m.alias(`a${c}.${s}`, ram, BigInt(c * perContainer + s) << 16n, size)
            : m.io(`r${c}.${s}`, size, NOOP);
        k.addSubregionOverlap(child, BigInt(s) << 16n, prio);
      }
      root.addSubregionOverlap(k, (1n << 41n) + (BigInt(c) << 24n), 0);
    }
  });
  return root;
}

export function memoryBenchmarks(): BenchResult[] {
  const results: BenchResult[] = [];
  const sizes = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];
  const times = new Map<number, number>();
  for (const n of sizes) {
    const root = buildTree(n);
    const ms = medianMs(() => renderFlatView(root), n >= 50_000 ? 3 : 7, 1);
    times.set(n, ms);
    results.push({
      name: `render.ms_${n}`,
      value: ms,
      unit: "ms",
      baseline: null,
      ratio: null,
      note: `flat-view render of ${n} regions`,
    });
  }
  // The doubling itself: the two sizes rendered back to back, pair by pair.
  const half = buildTree(50_000);
  const full = buildTree(100_000);
  const doubling = medianRatio(
    () => renderFlatView(half),
    () => renderFlatView(full),
    7,
  );
  results.push({
    name: "render.doubling_ratio",
    value: doubling.ratio,
    unit: "ratio",
    baseline: doubling.baselineMs,
    ratio: doubling.ratio,
    note: "render time of 10^5 regions over 5*10^4 (2 is linear)",
  });

  // Lookup on 10^4 flat ranges.
  const m = new MemorySystem();
  const root = m.container("system", (1n << 64n) - 1n);
  m.transaction(() => {
    for (let i = 0; i < 10_000; i++) {
      root.addSubregion(m.io(`r${i}`, 0x800n, NOOP), BigInt(i) * 0x1000n + (1n << 40n));
    }
  });
  const as = m.addressSpace(root, "memory");
  const view = as.view;
  const random = seededRandom(7);
  const probes = Array.from(
    { length: 1 << 16 },
    () => BigInt(Math.floor(random() * 10_000 * 0x1000)) + (1n << 40n),
  );
  const probeNumbers = new Float64Array(probes.map(Number));
  const starts = new Float64Array(view.ranges.map((r) => Number(r.start)));
  let sink = 0;
  const bsearch = (key: number) => {
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  };
  const pair = medianRatio(
    () => {
      for (let i = 0; i < probeNumbers.length; i++) sink += bsearch(probeNumbers[i]);
    },
    () => {
      for (let i = 0; i < probes.length; i++) sink += view.lookup(probes[i]) ? 1 : 0;
    },
    15,
  );
  const baseline = pair.baselineMs;
  const lookup = pair.subjectMs;
  if (sink === -1) console.log(sink);
  const perSecond = (ms: number) => (probes.length / ms) * 1000;
  results.push({
    name: "lookup.per_s",
    value: perSecond(lookup),
    unit: "lookups/s",
    baseline: perSecond(baseline),
    ratio: perSecond(baseline) / perSecond(lookup),
    note: "address-to-section lookups on 10^4 ranges (bigint addresses)",
  });
  results.push({
    name: "lookup.ratio_vs_f64_bsearch",
    value: pair.ratio,
    unit: "ratio",
    baseline,
    ratio: pair.ratio,
    note: "lookup time over a raw Float64Array binary search of the same probes",
  });
  return results;
}
