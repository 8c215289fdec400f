/** One thread of a fuzz campaign (see campaign.ts): runs chunks until none is left. */
import { parentPort, workerData } from "node:worker_threads";
import { workChunks } from "./chunks.ts";
import type { Chunk } from "./split.ts";

const { shared, chunks, seed } = workerData as {
  shared: Int32Array;
  chunks: Chunk[];
  seed: number;
};
workChunks(shared, chunks, seed, (k, result) => parentPort!.postMessage({ k, result }));
