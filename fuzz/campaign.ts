/**
 * A fuzz campaign: `runs` scenarios from `seed`, on one thread or spread over `jobs` worker
 * threads. The split is fixed by (runs, seed, jobs): job j runs its share of the scenarios with
 * seed `seed + j`, so a failure names the seed and run count that reproduce it on one thread
 * (`npm run fuzz -- --runs R --seed S`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import fc from "fast-check";
import { checkScenario, scenarioArb } from "./scenario-fuzz.ts";

/**
 * The worker's code as one bundle (esbuild, with its dependencies): a worker starts without this
 * process's module hooks, and compiling the TypeScript module graph again in every worker took
 * longer than a short campaign. Written to a temporary directory, removed when the campaign ends.
 */
async function bundleWorker(): Promise<{ file: string; dispose: () => void }> {
  const { buildSync } = await import("esbuild");
  const dir = mkdtempSync(join(tmpdir(), "iova-fuzz-"));
  const file = join(dir, "worker.mjs");
  buildSync({
    entryPoints: [fileURLToPath(new URL("./worker.ts", import.meta.url))],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: file,
    logLevel: "error",
    // Bundled CommonJS dependencies may call require: give the module one.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  return { file, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What one job (or a whole campaign) found. */
export interface JobResult {
  readonly seed: number;
  readonly runs: number;
  /** Scenarios checked. */
  readonly checked: number;
  /** How long the job took once started (its thread's start-up left out), in ms. */
  readonly ms: number;
  /** The failure, shrunk: its first error line and the minimal scenario. */
  readonly failure?: { readonly error: string; readonly yaml: string };
}

/** The jobs of a campaign: each one's seed and how many scenarios it runs. */
export function splitCampaign(
  runs: number,
  seed: number,
  jobs: number,
): { seed: number; runs: number }[] {
  const n = Math.max(1, Math.min(jobs, runs));
  return Array.from({ length: n }, (_, j) => ({
    seed: (seed + j) % 2 ** 31,
    runs: Math.floor(runs / n) + (j < runs % n ? 1 : 0),
  }));
}

/** Runs one job on this thread. */
export function runJob(runs: number, seed: number, onProgress?: (done: number) => void): JobResult {
  let checked = 0;
  const started = performance.now();
  const result = fc.check(
    fc.property(scenarioArb, (yaml) => {
      checked++;
      onProgress?.(checked);
      checkScenario(yaml);
    }),
    { numRuns: runs, seed },
  );
  const ms = performance.now() - started;
  if (!result.failed) return { seed, runs, checked, ms };
  const [yaml] = result.counterexample ?? [""];
  return {
    seed,
    runs,
    checked,
    ms,
    failure: { error: String(result.errorInstance).split("\n")[0], yaml },
  };
}

/**
 * Runs the jobs of a campaign, each on a worker thread when there are several (the worker
 * inherits this process's flags, so `--import tsx` reaches it). Resolves with every job's result,
 * in job order.
 */
export async function runCampaign(
  runs: number,
  seed: number,
  jobs: number,
  onProgress?: (done: number) => void,
): Promise<JobResult[]> {
  const split = splitCampaign(runs, seed, jobs);
  if (split.length === 1) return [runJob(split[0].runs, split[0].seed, onProgress)];
  const done = split.map(() => 0);
  const bundle = await bundleWorker();
  const workers: Worker[] = [];
  try {
    return await Promise.all(
      split.map(
        (job, j) =>
          new Promise<JobResult>((resolve, reject) => {
            const worker = new Worker(bundle.file, { workerData: job });
            workers.push(worker);
            worker.on("message", (m: { progress?: number; result?: JobResult }) => {
              if (m.progress !== undefined) {
                done[j] = m.progress;
                onProgress?.(done.reduce((a, b) => a + b, 0));
              }
              if (m.result) resolve(m.result);
            });
            worker.on("error", reject);
            worker.on("exit", (code) => {
              if (code !== 0)
                reject(new Error(`fuzz job ${j} (seed ${job.seed}) exited with ${code}`));
            });
          }),
      ),
    );
  } finally {
    for (const w of workers) void w.terminate();
    bundle.dispose();
  }
}
