/**
 * Fuzzer throughput: scenarios checked per second on one thread (`fuzz.sequences_per_s`), and the
 * same campaign (the very same scenarios) on two threads against it, run back to back in
 * alternating order (`fuzz.jobs2_speedup`, wall clock with the worker's start-up; on 2 idle cores
 * the goal is at least 1.7). The cores each side kept busy (process CPU time over wall time, every
 * thread of the process: V8's own GC and compiler threads too) say how much room a second job had.
 */
import { cpus } from "node:os";
import { runCampaign } from "../fuzz/campaign.ts";
import { runJob } from "../fuzz/chunks.ts";
import type { BenchResult } from "./harness.ts";

/** Wall seconds and cores used (CPU time over wall time) of one campaign. */
async function timed(run: () => unknown): Promise<{ seconds: number; cores: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await run();
  const seconds = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  return { seconds, cores: (used.user + used.system) / 1e6 / seconds };
}

export async function fuzzBenchmarks(runs = 400, pairs = 3): Promise<BenchResult[]> {
  runJob(20, 1); // warm up
  await runCampaign(20, 1, 2); // and build the worker bundle if needed
  const singles: number[] = [];
  const speedups: number[] = [];
  const cores1: number[] = [];
  const cores2: number[] = [];
  for (let p = 0; p < pairs; p++) {
    const seed = 20261201 + p;
    const one = () => timed(() => runJob(runs, seed));
    const two = () => timed(() => runCampaign(runs, seed, 2));
    let a: { seconds: number; cores: number };
    let b: { seconds: number; cores: number };
    if (p % 2 === 0) {
      a = await one();
      b = await two();
    } else {
      b = await two();
      a = await one();
    }
    singles.push(runs / a.seconds);
    speedups.push(a.seconds / b.seconds);
    cores1.push(a.cores);
    cores2.push(b.cores);
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const host = `${cpus().length} cores`;
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
      note: `the same scenarios on 2 threads (--jobs 2) over one thread, wall clock, start-up included (${host})`,
    },
    {
      name: "fuzz.jobs1_cores",
      value: median(cores1),
      unit: "cores",
      baseline: null,
      ratio: null,
      note: "process CPU time over wall time of the one-thread campaign (GC and compiler threads included)",
    },
    {
      name: "fuzz.jobs2_cores",
      value: median(cores2),
      unit: "cores",
      baseline: null,
      ratio: null,
      note: "the same for the two-thread campaign",
    },
  ];
}
