/**
 * `npm run fuzz -- --runs N --seed S [--jobs J]`: runs the scenario fuzzer, on J worker threads
 * when J > 1 (job j takes its share of the N runs with seed S + j). A failure is shrunk to a
 * minimal scenario written to fuzz-failures/seed-S.yaml (S: the failing job's seed), which
 * `iova run` replays; the line printed says how to reproduce it on one thread.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runCampaign, splitCampaign } from "./campaign.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "1000" },
    seed: { type: "string" },
    jobs: { type: "string", default: "1" },
  },
});
const runs = Number(values.runs);
const jobs = Number(values.jobs);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(jobs) || jobs < 1) {
  console.error("fuzz: --runs and --jobs take positive integers");
  process.exit(2);
}
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const started = performance.now();
let lastShown = 0;
const results = await runCampaign(runs, seed, jobs, (done) => {
  if (process.stderr.isTTY && done - lastShown >= 100) {
    lastShown = done;
    process.stderr.write(`\rfuzz: ${done}/${runs}`);
  } else if (!process.stderr.isTTY && done - lastShown >= 10000) {
    lastShown = done;
    process.stderr.write(`fuzz: ${done}/${runs}\n`);
  }
});
if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
const elapsed = (performance.now() - started) / 1000;
const checked = results.reduce((n, r) => n + r.checked, 0);
const split = splitCampaign(runs, seed, jobs).length;
const where = split > 1 ? ` on ${split} threads, seeds ${seed}..${seed + split - 1}` : "";
const rate = `${(checked / elapsed).toFixed(1)} scenarios/s`;
const failed = results.filter((r) => r.failure);
if (failed.length > 0) {
  mkdirSync("fuzz-failures", { recursive: true });
  for (const r of failed) {
    const file = `fuzz-failures/seed-${r.seed}.yaml`;
    writeFileSync(file, `# fuzz seed ${r.seed}: ${r.failure!.error}\n${r.failure!.yaml}`);
    console.log(
      `FAILED (seed ${r.seed}, reproduce: npm run fuzz -- --runs ${r.runs} --seed ${r.seed}); minimal scenario: ${file}`,
    );
    console.log(r.failure!.error);
  }
  console.log(
    `${checked - failed.length} passed, ${failed.length} failed (${elapsed.toFixed(1)} s${where}, ${rate})`,
  );
  process.exitCode = 1;
} else {
  console.log(
    `ok: ${checked} scenarios in ${elapsed.toFixed(1)} s (seed ${seed}${where}, ${rate})`,
  );
  console.log(`${checked} passed, 0 failed`);
}
