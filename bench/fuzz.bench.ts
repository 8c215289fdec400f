/**
 * Fuzzer throughput, as `npm run fuzz` runs it: each campaign is a fresh process (start-up, cold
 * JIT), one thread against two threads on the very same scenarios, back to back in alternating
 * order. `fuzz.sequences_per_s` is the one-thread rate; `fuzz.jobs2_speedup` the wall-clock
 * ratio (goal: at least 1.7 on 2 cores). A shared host gives a process a slice of the cores
 * whatever its thread count, so the CPU times are reported too: how much more work two threads do
 * (each warms its own JIT), how many cores each side kept busy, and the speed-up those CPU times
 * give on 2 otherwise idle cores; and, as the ceiling, two independent one-thread processes each
 * checking half the campaign at once.
 */
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { workerBundle } from "../fuzz/worker-bundle.ts";
import type { BenchResult } from "./harness.ts";

interface CampaignRun {
  /** Wall clock of the whole process. */
  readonly seconds: number;
  /** CPU time of the whole process: every thread, V8's GC and compiler threads too. */
  readonly cpuSeconds: number;
  /** CPU time of the process's main thread (null off Linux). */
  readonly threadCpuSeconds: number | null;
  readonly checked: number;
}

const runTs = fileURLToPath(new URL("../fuzz/run.ts", import.meta.url));

function campaign(runs: number, seed: number, jobs: number): CampaignRun {
  const t = performance.now();
  const child = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      runTs,
      "--runs",
      `${runs}`,
      "--seed",
      `${seed}`,
      "--jobs",
      `${jobs}`,
      "--json",
    ],
    { encoding: "utf8" },
  );
  const seconds = (performance.now() - t) / 1000;
  const line = child.stdout.trim().split("\n").at(-1) ?? "";
  if (child.status !== 0 || !line.startsWith("{"))
    throw new Error(`fuzz campaign (seed ${seed}, ${jobs} jobs) failed: ${child.stderr || line}`);
  const out = JSON.parse(line) as Omit<CampaignRun, "seconds">;
  return { ...out, seconds };
}

/**
 * The same campaign as two independent one-thread processes started together, each checking half
 * of it (the second from the middle of the seed's stream, `--path`): what a perfect split reaches on
 * this machine at this moment, with nothing shared between the halves. Wall clock of both.
 */
async function twoProcesses(runs: number, seed: number): Promise<number> {
  const half = Math.floor(runs / 2);
  const halves = [
    ["--runs", `${half}`, "--seed", `${seed}`],
    ["--runs", `${runs - half}`, "--seed", `${seed}`, "--path", `${half}`],
  ];
  const t = performance.now();
  await Promise.all(
    halves.map(
      (args) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, ["--import", "tsx", runTs, ...args], {
            stdio: ["ignore", "pipe", "pipe"],
          });
          let out = "";
          child.stdout.on("data", (d) => {
            out += d;
          });
          child.stderr.on("data", (d) => {
            out += d;
          });
          child.on("error", reject);
          child.on("exit", (code) =>
            code === 0 && /^ok: \d+ scenarios/m.test(out)
              ? resolve()
              : reject(new Error(`fuzz half (${args.join(" ")}) failed: ${out.trim()}`)),
          );
        }),
    ),
  );
  return (performance.now() - t) / 1000;
}

/** Runs [from, from + runs) of seed 7's stream on one thread; its own time in ms. */
type ChunkRunner = (from: number, runs: number) => Promise<number>;

/** A worker thread that runs chunks of the campaign's stream on request, from the fuzz bundle. */
function chunkWorker(bundle: string): { run: ChunkRunner; close: () => Promise<number> } {
  const source = `
const { parentPort } = require("node:worker_threads");
let bundle;
parentPort.on("message", async ({ from, runs, seed }) => {
  bundle ??= await import(${JSON.stringify(pathToFileURL(bundle).href)});
  parentPort.postMessage(bundle.runChunk({ from, runs }, seed).ms);
});`;
  const worker = new Worker(source, { eval: true });
  return {
    run: (from, runs) =>
      new Promise((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
        worker.postMessage({ from, runs, seed: 7 });
      }),
    close: () => worker.terminate(),
  };
}

/**
 * Two threads once their JIT has settled: each first runs `warm` scenarios alone, then each runs
 * `runs` alone and `runs` while the other does too (other parts of the same stream). The ratio of
 * the two alone times to the together wall clock is what a long campaign tends to, start-up and
 * warm-up aside; it is the ceiling of `--jobs 2` on this machine for this code.
 */
async function warmThreadsSpeedup(runs: number, warm: number, rounds: number): Promise<number[]> {
  const bundle = await workerBundle();
  const { runChunk } = (await import(
    pathToFileURL(bundle).href
  )) as typeof import("../fuzz/chunks.ts");
  const here: ChunkRunner = async (from, runs) => runChunk({ from, runs }, 7).ms;
  const other = chunkWorker(bundle);
  try {
    await here(0, warm);
    await other.run(0, warm);
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const from = warm + r * 3 * runs;
      const alone = (await here(from, runs)) + (await other.run(from, runs));
      const t = performance.now();
      await Promise.all([other.run(from + runs, runs), here(from + 2 * runs, runs)]);
      ratios.push(alone / (performance.now() - t));
    }
    return ratios;
  } finally {
    await other.close();
  }
}

/**
 * The wall clock on 2 otherwise idle cores, from CPU times: at least the main thread's CPU time
 * (one thread's work is not split) and at least the process's CPU time over the 2 cores.
 */
function idleWall(r: CampaignRun): number {
  return Math.max(r.threadCpuSeconds ?? 0, r.cpuSeconds / 2);
}

export async function fuzzBenchmarks(runs = 2000, pairs = 3): Promise<BenchResult[]> {
  campaign(20, 1, 2); // builds the worker bundle if needed
  const singles: number[] = [];
  const speedups: number[] = [];
  const cpuRatios: number[] = [];
  const estimates: number[] = [];
  const cores1: number[] = [];
  const cores2: number[] = [];
  const splitSpeedups: number[] = [];
  const threadsVsProcesses: number[] = [];
  for (let p = 0; p < pairs; p++) {
    const seed = 20261201 + p;
    let one: CampaignRun | undefined;
    let two: CampaignRun | undefined;
    let split = 0;
    // Each of the three goes first, second and third in turn: a drifting machine favours none.
    for (let k = 0; k < 3; k++) {
      const which = (k + p) % 3;
      if (which === 0) one = campaign(runs, seed, 1);
      else if (which === 1) two = campaign(runs, seed, 2);
      else split = await twoProcesses(runs, seed);
    }
    if (!one || !two) throw new Error("unreachable: every campaign ran");
    splitSpeedups.push(one.seconds / split);
    threadsVsProcesses.push(split / two.seconds);
    singles.push(one.checked / one.seconds);
    speedups.push(one.seconds / two.seconds);
    cpuRatios.push(two.cpuSeconds / one.cpuSeconds);
    if (one.threadCpuSeconds !== null) estimates.push(idleWall(one) / idleWall(two));
    cores1.push(one.cpuSeconds / one.seconds);
    cores2.push(two.cpuSeconds / two.seconds);
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const warmSpeedups = await warmThreadsSpeedup(2000, 6000, 3);
  const estimate = estimates.length ? median(estimates) : null;
  return [
    {
      name: "fuzz.sequences_per_s",
      value: median(singles),
      unit: "scenarios/s",
      baseline: null,
      ratio: null,
      note: `random scenarios (machine, host, faults, steps) checked per second, one thread, ${runs} runs with start-up`,
    },
    {
      name: "fuzz.jobs2_speedup",
      value: median(speedups),
      unit: "ratio",
      baseline: median(singles),
      ratio: median(speedups),
      note: "the same scenarios with --jobs 2 over --jobs 1, wall clock of the whole process",
    },
    {
      name: "fuzz.two_processes_speedup",
      value: median(splitSpeedups),
      unit: "ratio",
      baseline: median(singles),
      ratio: median(splitSpeedups),
      note: "the ceiling here and now: the same scenarios as two independent one-thread processes at once, over one",
    },
    {
      name: "fuzz.jobs2_vs_two_processes",
      value: median(threadsVsProcesses),
      unit: "ratio",
      baseline: null,
      ratio: median(threadsVsProcesses),
      note: "--jobs 2 against that ceiling (1: two threads lose nothing against two separate processes)",
    },
    {
      name: "fuzz.warm_threads_speedup",
      value: median(warmSpeedups),
      unit: "ratio",
      baseline: null,
      ratio: median(warmSpeedups),
      note: "two threads past their JIT warm-up (6000 runs each): 2000 runs each alone, then together",
    },
    {
      name: "fuzz.jobs2_cpu_ratio",
      value: median(cpuRatios),
      unit: "ratio",
      baseline: null,
      ratio: median(cpuRatios),
      note: "CPU time of --jobs 2 over --jobs 1 (each thread warms its own JIT)",
    },
    {
      name: "fuzz.jobs2_speedup_idle_estimate",
      value: estimate ?? Number.NaN,
      unit: "ratio",
      baseline: null,
      ratio: estimate,
      note: "the speed-up on 2 idle cores from CPU times: max(main thread, process / 2), one over two",
    },
    {
      name: "fuzz.jobs1_cores",
      value: median(cores1),
      unit: "cores",
      baseline: null,
      ratio: null,
      note: "process CPU time over wall time, --jobs 1",
    },
    {
      name: "fuzz.jobs2_cores",
      value: median(cores2),
      unit: "cores",
      baseline: null,
      ratio: null,
      note: "the same, --jobs 2",
    },
  ];
}
