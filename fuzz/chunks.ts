/**
 * The pieces of a fuzz campaign that every thread runs. A campaign of R runs from seed S checks
 * exactly the scenarios fast-check draws for `fc.check(property, { seed: S, numRuns: R })`: run i
 * is the i-th value of seed S's stream (its bias depends on i too). The runs are cut into chunks
 * of consecutive indices; a chunk [from, from + runs) replays that part of the stream (fast-check's
 * `path: "from"` skips the first values without generating them), so whatever thread runs a chunk,
 * and in whatever order, the campaign checks the same scenarios as one thread, and its first
 * failure (lowest index) shrinks to the same minimal scenario with the same replay path.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { checkScenario, scenarioArb } from "./scenario-fuzz.ts";
import { CHECKED, type Chunk, FIRST_FAILED, NEXT_CHUNK } from "./split.ts";

export { type Chunk, splitCampaign } from "./split.ts";

/** What a chunk found. */
export interface ChunkResult extends Chunk {
  /** Scenarios checked: `runs`, or up to and including the first failing one. */
  readonly checked: number;
  /** A hash of every scenario text checked, in order: which scenarios a thread really ran. */
  readonly digest: string;
  /** The chunk's own time, in ms. */
  readonly ms: number;
  /** The first failure, shrunk. */
  readonly failure?: ChunkFailure;
}

export interface ChunkFailure {
  /** The failing run's index in the campaign's stream. */
  readonly index: number;
  /** The first line of the error the minimal scenario raises. */
  readonly error: string;
  /** The minimal scenario. */
  readonly yaml: string;
  /** fast-check's replay path of the minimal scenario (`npm run fuzz -- --seed S --path P`). */
  readonly path: string;
}

/** Every scenario check, as a property (fuzz-failure tests give their own check). */
export type ScenarioCheck = (yaml: string) => void;

/** Runs one chunk of the campaign from `seed` on this thread. */
export function runChunk(
  chunk: Chunk,
  seed: number,
  options: {
    onChecked?: () => void;
    check?: ScenarioCheck;
    /** A replay path (`from:shrink:steps`) to run instead of the chunk's runs from `from`. */
    path?: string;
  } = {},
): ChunkResult {
  const { onChecked, check = checkScenario } = options;
  const path = options.path ?? (chunk.from > 0 ? String(chunk.from) : undefined);
  const started = performance.now();
  const digest = createHash("sha1");
  const result = fc.check(
    fc.property(scenarioArb, (yaml) => {
      onChecked?.();
      digest.update(yaml);
      check(yaml);
    }),
    // No path for a chunk from 0: the very call a one-thread campaign makes.
    path === undefined ? { numRuns: chunk.runs, seed } : { numRuns: chunk.runs, seed, path },
  );
  const ms = performance.now() - started;
  if (!result.failed) return { ...chunk, checked: chunk.runs, digest: digest.digest("hex"), ms };
  const [yaml] = result.counterexample ?? [""];
  const failedPath = result.counterexamplePath ?? "";
  return {
    ...chunk,
    checked: result.numRuns,
    digest: digest.digest("hex"),
    ms,
    failure: {
      index: Number(failedPath.split(":")[0]),
      error: String(result.errorInstance).split("\n")[0],
      yaml,
      path: failedPath,
    },
  };
}

/**
 * Takes chunks in turn from the shared counter and runs them, until none is left or every chunk
 * that could hold the campaign's first failure is taken. Reports each chunk's result.
 */
export function workChunks(
  shared: Int32Array,
  chunks: readonly Chunk[],
  seed: number,
  onChunk: (k: number, result: ChunkResult) => void,
  onChecked?: () => void,
  check?: ScenarioCheck,
): void {
  for (;;) {
    const k = Atomics.add(shared, NEXT_CHUNK, 1);
    if (k >= chunks.length || k > Atomics.load(shared, FIRST_FAILED)) return;
    const result = runChunk(chunks[k], seed, {
      onChecked: () => {
        Atomics.add(shared, CHECKED, 1);
        onChecked?.();
      },
      check,
    });
    if (result.failure) {
      for (let low = Atomics.load(shared, FIRST_FAILED); k < low; ) {
        const was = Atomics.compareExchange(shared, FIRST_FAILED, low, k);
        if (was === low) break;
        low = was;
      }
    }
    onChunk(k, result);
  }
}

/** Runs a whole campaign on this thread: one `fc.check` of `runs` runs. */
export function runJob(runs: number, seed: number, onProgress?: (done: number) => void) {
  let done = 0;
  return runChunk({ from: 0, runs }, seed, { onChecked: onProgress && (() => onProgress(++done)) });
}
