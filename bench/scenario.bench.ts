/** The whole built-in seed scenario, in process: loading, building the machine, every step, checks. */
import { loadScenario } from "../src/scenario/load.ts";
import { runScenario } from "../src/scenario/run.ts";
import { SEED_SCENARIO } from "../src/scenario/seed.ts";
import { type BenchResult, medianMs } from "./harness.ts";

export function scenarioBenchmarks(): BenchResult[] {
  const ms = medianMs(() => runScenario(loadScenario(SEED_SCENARIO, "seed")), 9);
  return [{ name: "scenario.seed_run_ms", value: ms, unit: "ms", baseline: null, ratio: null }];
}
