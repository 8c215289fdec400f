/**
 * The scenario code of a fuzz campaign as one module, bundled (worker-bundle.ts): on a worker
 * thread it runs chunks until none is left; the campaign's own thread imports it for `workChunks`
 * (loading the bundle is quicker than compiling the TypeScript module graph).
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { workChunks } from "./chunks.ts";
import type { Chunk } from "./split.ts";

export { runChunk, workChunks } from "./chunks.ts";

const job = workerData as {
  fuzzCampaign?: true;
  shared: Int32Array;
  chunks: Chunk[];
  seed: number;
};
if (!isMainThread && job?.fuzzCampaign) {
  workChunks(job.shared, job.chunks, job.seed, (k, result) =>
    parentPort!.postMessage({ k, result }),
  );
}
