/**
 * The whole built-in seed scenario, in process: loading, building the machine, every step, checks;
 * and loading alone as the steps double (the time should double with them).
 */
import fc from "fast-check";
import { scenarioArb } from "../fuzz/scenario-fuzz.ts";
import { loadScenario } from "../src/scenario/load.ts";
import { runScenario } from "../src/scenario/run.ts";
import { SEED_SCENARIO } from "../src/scenario/seed.ts";
import { type BenchResult, medianMs, medianRatio } from "./harness.ts";

const HEAD = "name: big\nmachine:\n  memory: 1G\nsteps:\n";
const steps = (n: number) => HEAD + "  - cpu: { read: 0x1000, length: 8 }\n".repeat(n);
/** The same steps with a trailing comma, which the fast step reader leaves to the yaml library. */
const yamlSteps = (n: number) => HEAD + "  - cpu: { read: 0x1000, length: 8, }\n".repeat(n);

export function scenarioBenchmarks(): BenchResult[] {
  const ms = medianMs(() => runScenario(loadScenario(SEED_SCENARIO, "seed")), 9);
  const small = steps(20_000);
  const large = steps(40_000);
  const smallMs = medianMs(() => loadScenario(small, "small"), 3);
  const largeMs = medianMs(() => loadScenario(large, "large"), 3);
  const viaYaml = yamlSteps(20_000);
  const fast = medianRatio(
    () => loadScenario(viaYaml, "yaml"),
    () => loadScenario(small, "fast"),
    3,
  );
  // Fuzz scenarios (a head, a few steps): with the fast readers no yaml document is made at all.
  const fuzz = fc.sample(scenarioArb, { numRuns: 500, seed: 7 });
  const fuzzLoad = medianRatio(
    () => {
      for (const text of fuzz) loadScenario(text, "fuzz", { fast: false });
    },
    () => {
      for (const text of fuzz) loadScenario(text, "fuzz");
    },
    5,
  );
  return [
    { name: "scenario.seed_run_ms", value: ms, unit: "ms", baseline: null, ratio: null },
    {
      name: "scenario.load_40k_steps_ms",
      value: largeMs,
      unit: "ms",
      baseline: smallMs,
      ratio: largeMs / smallMs,
      note: "loading 40 000 one-line cpu steps against 20 000 (linear: about 2)",
    },
    {
      name: "scenario.load_fast_reader_ratio",
      value: fast.subjectMs,
      unit: "ms",
      baseline: fast.baselineMs,
      ratio: fast.ratio,
      note: "20 000 one-line cpu steps by the fast step reader, over the same through the yaml library",
    },
    {
      name: "scenario.load_fuzz_fast_ratio",
      value: fuzzLoad.subjectMs,
      unit: "ms",
      baseline: fuzzLoad.baselineMs,
      ratio: fuzzLoad.ratio,
      note: "500 generated fuzz scenarios loaded with the fast readers, over the same with the yaml library only",
    },
  ];
}
