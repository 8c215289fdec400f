/** One job of a fuzz campaign on a worker thread (see campaign.ts). */
import { parentPort, workerData } from "node:worker_threads";
import { runJob } from "./campaign.ts";

const { runs, seed } = workerData as { runs: number; seed: number };
const result = runJob(runs, seed, (done) => {
  if (done % 50 === 0) parentPort!.postMessage({ progress: done });
});
parentPort!.postMessage({ progress: result.checked, result });
