/**
 * Benchmark helpers: warm up, run several times, take the median. Every benchmark reports a ratio
 * against a baseline measured in the same process, because these machines are noisy.
 */

/** One benchmark result, as `npm run bench -- --json` prints it. */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** What the value is compared with (a time or rate of the baseline), if anything. */
  readonly baseline: number | null;
  readonly ratio: number | null;
  /** Human note: what was measured. */
  readonly note?: string;
}

/** The median of `xs` (upper median for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/**
 * Wall time of one run of `fn` in milliseconds, garbage collected first (with --expose-gc) so
 * that one run does not pay for another's.
 */
export function timeMs(fn: () => void): number {
  globalThis.gc?.();
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * Median wall time of `fn` in milliseconds over `runs` runs, after at least `warmup` runs and
 * 200 ms of warm-up (so the JIT has settled).
 */
export function medianMs(fn: () => void, runs = 7, warmup = 2): number {
  const warmUntil = performance.now() + 200;
  for (let i = 0; i < warmup || performance.now() < warmUntil; i++) fn();
  return median(Array.from({ length: runs }, () => timeMs(fn)));
}

/**
 * The median over `runs` pairs of `subject`'s time over `baseline`'s, the two run back to back
 * (alternating which goes first) so that both see the same machine: on a noisy host a ratio of
 * medians taken minutes apart drifts with it. Also returns each side's median time.
 */
export function medianRatio(
  baseline: () => void,
  subject: () => void,
  runs = 7,
): { ratio: number; baselineMs: number; subjectMs: number } {
  const warmUntil = performance.now() + 200;
  for (let i = 0; i < 1 || performance.now() < warmUntil; i++) {
    baseline();
    subject();
  }
  const ratios: number[] = [];
  const baseTimes: number[] = [];
  const subjectTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    let b: number;
    let s: number;
    if (i % 2 === 0) {
      b = timeMs(baseline);
      s = timeMs(subject);
    } else {
      s = timeMs(subject);
      b = timeMs(baseline);
    }
    ratios.push(s / b);
    baseTimes.push(b);
    subjectTimes.push(s);
  }
  return {
    ratio: median(ratios),
    baselineMs: median(baseTimes),
    subjectMs: median(subjectTimes),
  };
}

/** A deterministic pseudo-random generator (xorshift32), so every run measures the same work. */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}
