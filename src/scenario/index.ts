/** Scenarios: the file format, the loader, the step runner and the report. */
export * from "./load.ts";
export { parseNumber, ScenarioError } from "./reader.ts";
export * from "./release-diff.ts";
export * from "./report.ts";
export * from "./run.ts";
export * from "./schema.ts";
export { SEED_SCENARIO, SEED_SOURCE } from "./seed.ts";
