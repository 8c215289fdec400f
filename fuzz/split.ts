/**
 * How a fuzz campaign is cut into chunks, kept apart from the scenario code so that a campaign can
 * start its workers before this thread loads the model.
 */
/** Runs [from, from + runs) of the campaign's stream. */
export interface Chunk {
  readonly from: number;
  readonly runs: number;
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

/** Slots of the Int32Array every thread of a campaign shares. */
export const NEXT_CHUNK = 0;
export const CHECKED = 1;
/** The lowest failing chunk so far (the chunk count while none failed). */
export const FIRST_FAILED = 2;
export const SHARED_SLOTS = 3;
