/**
 * Fuzzer throughput: scenarios checked per second on one thread (`fuzz.sequences_per_s`), and a
 * campaign of the same size spread over two worker threads against it, run back to back
 * (`fuzz.jobs2_speedup`, wall clock with the workers' start-up, and `fuzz.jobs2_speedup_running`
 * without it; on 2 idle cores the goal is at least 1.7).
 */
import { runCampaign, runJob } from "../fuzz/campaign.ts";
import type { BenchResult } from "./harness.ts";

export async function fuzzBenchmarks(runs = 300, pairs = 1): Promise<BenchResult[]> {
  runJob(10, 1); // warm up
  const singles: number[] = [];
  const speedups: number[] = [];
  const steady: number[] = [];
  for (let p = 0; p < pairs; p++) {
    // The same seeds on both sides: one thread runs both jobs' scenarios in turn.
    const seed = 20261201 + 2 * p;
    const t0 = performance.now();
    const half = Math.floor(runs / 2);
    const a = runJob(runs - half, seed);
    const b = runJob(half, seed + 1);
    const one = (a.checked + b.checked) / ((performance.now() - t0) / 1000);
    const t1 = performance.now();
    const results = await runCampaign(runs, seed, 2);
    const two = results.reduce((n, r) => n + r.checked, 0) / ((performance.now() - t1) / 1000);
    // Each job's own time leaves out its thread's start-up (bundling and loading, 3-4 s here).
    const longest = Math.max(...results.map((r) => r.ms)) / 1000;
    singles.push(one);
    speedups.push(two / one);
    steady.push(results.reduce((n, r) => n + r.checked, 0) / longest / one);
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  return [
    {
      name: "fuzz.sequences_per_s",
      value: median(singles),
      unit: "scenarios/s",
      baseline: null,
      ratio: null,
      note: "random scenarios (machine, host, faults, steps) run and checked per second, one thread",
    },
    {
      name: "fuzz.jobs2_speedup",
      value: median(speedups),
      unit: "ratio",
      baseline: median(singles),
      ratio: median(speedups),
      note: "the same scenarios on 2 worker threads (--jobs 2) over one thread, wall clock, start-up included",
    },
    {
      name: "fuzz.jobs2_speedup_running",
      value: median(steady),
      unit: "ratio",
      baseline: median(singles),
      ratio: median(steady),
      note: "the same once the workers run: scenarios over the longest job's own time",
    },
  ];
}
