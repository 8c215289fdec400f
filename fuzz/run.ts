/**
 * `npm run fuzz -- --runs N --seed S`: runs the scenario fuzzer. A failure is shrunk to a minimal
 * scenario written to fuzz-failures/seed-S.yaml, which `iova run` replays.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { checkScenario, scenarioArb } from "./scenario-fuzz.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "1000" }, seed: { type: "string" } },
});
const runs = Number(values.runs);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const started = performance.now();
let done = 0;
const result = fc.check(
  fc.property(scenarioArb, (yaml) => {
    done++;
    if (process.stderr.isTTY && done % 100 === 0) process.stderr.write(`\rfuzz: ${done}/${runs}`);
    else if (!process.stderr.isTTY && done % 10000 === 0)
      process.stderr.write(`fuzz: ${done}/${runs}\n`);
    checkScenario(yaml);
  }),
  { numRuns: runs, seed },
);
if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (result.failed) {
  mkdirSync("fuzz-failures", { recursive: true });
  const file = `fuzz-failures/seed-${seed}.yaml`;
  const [yaml] = result.counterexample ?? [""];
  writeFileSync(
    file,
    `# fuzz seed ${seed}: ${String(result.errorInstance).split("\n")[0]}\n${yaml}`,
  );
  console.log(
    `FAILED after ${result.numRuns} runs (${seconds} s, seed ${seed}); minimal scenario: ${file}`,
  );
  console.log(String(result.errorInstance).split("\n")[0]);
  console.log(`${result.numRuns - 1} passed, 1 failed`);
  process.exitCode = 1;
} else {
  console.log(`ok: ${result.numRuns} scenarios in ${seconds} s (seed ${seed})`);
  console.log(`${result.numRuns} passed, 0 failed`);
}
