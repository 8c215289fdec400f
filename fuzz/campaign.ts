/**
 * A fuzz campaign: `runs` scenarios from `seed`, on this thread or spread over `jobs` threads (this
 * one and jobs - 1 workers). The runs are cut into chunks (chunks.ts) that every thread takes in
 * turn from a shared counter, so a thread drawing heavier scenarios takes fewer chunks; which
 * scenarios are checked is fixed by (runs, seed) alone, so `--jobs N` checks exactly what one
 * thread does, and a failure reproduces with the same seed on one thread.
 */
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { ChunkFailure, ChunkResult } from "./chunks.ts";
import { CHECKED, FIRST_FAILED, SHARED_SLOTS, splitCampaign } from "./split.ts";
import { workerBundle } from "./worker-bundle.ts";

/** What a campaign found. */
export interface CampaignResult {
  readonly seed: number;
  readonly runs: number;
  /** Threads that took part, this one included. */
  readonly threads: number;
  /** Scenarios checked (past the first failure, only those chunks that ran anyway). */
  readonly checked: number;
  /** The chunks that ran, in campaign order. */
  readonly chunks: readonly ChunkResult[];
  /** Per thread (0: this one), the time spent running chunks, in ms. */
  readonly busyMs: readonly number[];
  /** The campaign's first failure (lowest run index), shrunk: what one thread would report. */
  readonly failure?: ChunkFailure;
}

/** Runs a campaign over `jobs` threads; `onProgress` gets the number of scenario checks so far. */
export async function runCampaign(
  runs: number,
  seed: number,
  jobs: number,
  onProgress?: (done: number) => void,
  /** false: this thread only waits, every chunk runs on a worker (for tests). */
  thisThreadWorks = true,
): Promise<CampaignResult> {
  const chunks = splitCampaign(runs, jobs);
  const threads = thisThreadWorks ? Math.max(1, Math.min(jobs, chunks.length)) : jobs + 1;
  const shared = new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * 4));
  shared[FIRST_FAILED] = chunks.length;
  const results: (ChunkResult | undefined)[] = chunks.map(() => undefined);
  const busyMs = Array.from({ length: threads }, () => 0);
  const finished = () => {
    const needed = Math.min(chunks.length, Atomics.load(shared, FIRST_FAILED) + 1);
    for (let k = 0; k < needed; k++) if (!results[k]) return false;
    return true;
  };
  const workers: Worker[] = [];
  let over = false;
  let workersDone: Promise<void> = Promise.resolve();
  const file = await workerBundle();
  if (threads > 1) {
    workersDone = new Promise<void>((resolve, reject) => {
      for (let t = 1; t < threads; t++) {
        // No execArgv: the bundle is plain JavaScript and needs none of this process's loaders.
        const worker = new Worker(file, {
          workerData: { fuzzCampaign: true, shared, chunks, seed },
          execArgv: [],
        });
        workers.push(worker);
        worker.on("message", (m: { k: number; result: ChunkResult }) => {
          results[m.k] = m.result;
          busyMs[t] += m.result.ms;
          onProgress?.(Atomics.load(shared, CHECKED));
          if (finished()) resolve();
        });
        worker.on("error", (e) => over || reject(e));
        worker.on("exit", (code) => {
          if (code !== 0 && !over) reject(new Error(`fuzz worker ${t} exited with ${code}`));
        });
      }
    });
    // Handled by the await below; a worker failing after the campaign is over changes nothing.
    workersDone.catch(() => {});
  }
  try {
    // This thread takes chunks too, while the workers start: the scenario code is loaded only now,
    // so that the workers start while it loads, and from the same bundle.
    const { workChunks } = (await import(pathToFileURL(file).href)) as typeof import("./chunks.ts");
    if (thisThreadWorks)
      workChunks(
        shared,
        chunks,
        seed,
        (k, result) => {
          results[k] = result;
          busyMs[0] += result.ms;
        },
        onProgress && (() => onProgress(Atomics.load(shared, CHECKED))),
      );
    if (!finished()) await workersDone;
  } finally {
    over = true;
    // Workers still starting when the last chunk was taken have nothing left to do.
    for (const w of workers) void w.terminate();
  }
  const ran = results.filter((r): r is ChunkResult => r !== undefined);
  const first = Atomics.load(shared, FIRST_FAILED);
  return {
    seed,
    runs,
    threads,
    checked: ran.reduce((n, r) => n + r.checked, 0),
    chunks: ran,
    busyMs,
    failure: first < chunks.length ? results[first]?.failure : undefined,
  };
}
