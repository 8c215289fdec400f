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

/** Runs [from, from + runs) of the campaign's stream. */
export interface Chunk {
  readonly from: number;
  readonly runs: number;
}

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

/**
 * The chunks of a campaign of `runs` runs for `jobs` threads: one chunk on one thread; on several,
 * chunks that shrink as the campaign goes (a quarter of each thread's share of what is left), so
 * that threads drawing heavier scenarios are evened out by the small chunks at the end. The last
 * chunks stay at least 1/64 of the campaign, since a chunk starting at run i first skips i values
 * (about 2 µs each). Which scenarios are checked does not depend on the cut.
 */
export function splitCampaign(runs: number, jobs: number): Chunk[] {
  if (jobs <= 1 || runs <= 1) return [{ from: 0, runs }];
  const least = Math.max(8, Math.ceil(runs / 64));
  const chunks: Chunk[] = [];
  for (let from = 0; from < runs; ) {
    const left = runs - from;
    const size = Math.min(left, Math.max(least, Math.ceil(left / (4 * jobs))));
    chunks.push({ from, runs: size });
    from += size;
  }
  return chunks;
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

/** Slots of the Int32Array every thread of a campaign shares. */
export const NEXT_CHUNK = 0;
export const CHECKED = 1;
/** The lowest failing chunk so far (the chunk count while none failed). */
export const FIRST_FAILED = 2;
export const SHARED_SLOTS = 3;

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
