/**
 * `npm run fuzz -- --runs N --seed S [--jobs J]`: runs the scenario fuzzer, on J threads when
 * J > 1. The campaign checks the same N scenarios whatever J (see chunks.ts), so its first failure
 * is the one `--jobs 1` finds: it is shrunk to a minimal scenario written to
 * fuzz-failures/seed-S.yaml, which `iova run` replays, and the lines printed say how to reproduce
 * it on one thread (`--path P` replays the minimal scenario directly).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runCampaign } from "./campaign.ts";
import type { ChunkFailure } from "./chunks.ts";

function usage(message: string): never {
  console.error(`fuzz: ${message}`);
  process.exit(2);
}

let values: { runs: string; seed?: string; jobs: string; path?: string; json?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      runs: { type: "string", default: "1000" },
      seed: { type: "string" },
      jobs: { type: "string", default: "1" },
      path: { type: "string" },
      json: { type: "boolean" },
    },
  }));
} catch (e) {
  usage((e as Error).message);
}
const runs = Number(values.runs);
const jobs = Number(values.jobs);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(jobs) || jobs < 1)
  usage("--runs and --jobs take positive integers");
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
if (!Number.isInteger(seed)) usage("--seed takes an integer");
if (values.path !== undefined && !/^\d+(:\d+)*$/.test(values.path))
  usage("--path takes a replay path such as 1234:0:2 (printed with a failure)");

function report(failure: ChunkFailure): void {
  mkdirSync("fuzz-failures", { recursive: true });
  const file = `fuzz-failures/seed-${seed}.yaml`;
  writeFileSync(
    file,
    `# fuzz seed ${seed}, run ${failure.index}: ${failure.error}\n${failure.yaml}`,
  );
  console.log(
    `FAILED at run ${failure.index} of seed ${seed} (reproduce on one thread: npm run fuzz -- --runs ${failure.index + 1} --seed ${seed}; the minimal scenario alone: npm run fuzz -- --seed ${seed} --path ${failure.path}); minimal scenario: ${file}`,
  );
  console.log(failure.error);
}

if (values.path !== undefined) {
  // Replay: from a run index, `runs` runs; from a shrink path, that scenario and its shrinking.
  const from = Number(values.path.split(":")[0]);
  const { runChunk } = await import("./chunks.ts");
  const result = runChunk({ from, runs }, seed, { path: values.path });
  if (result.failure) {
    report(result.failure);
    process.exitCode = 1;
  } else console.log(`ok: ${result.checked} scenarios (seed ${seed}, path ${values.path})`);
} else {
  const started = performance.now();
  let lastShown = 0;
  const result = await runCampaign(runs, seed, jobs, (done) => {
    if (process.stderr.isTTY && done - lastShown >= 100) {
      lastShown = done;
      process.stderr.write(`\rfuzz: ${Math.min(done, runs)}/${runs}`);
    } else if (!process.stderr.isTTY && done - lastShown >= 10000) {
      lastShown = done;
      process.stderr.write(`fuzz: ${Math.min(done, runs)}/${runs}\n`);
    }
  }).catch((e: unknown) => {
    // A worker that could not start or died: say so, without a stack trace.
    console.error(`fuzz: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  });
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  const elapsed = (performance.now() - started) / 1000;
  if (values.json) {
    // For benchmarks: the process's CPU time (every thread, start-up included) and this thread's.
    const cpu = process.cpuUsage();
    let threadCpuSeconds: number | null = null;
    try {
      const stat = readFileSync("/proc/thread-self/stat", "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      threadCpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // Not Linux: no per-thread figure.
    }
    console.log(
      JSON.stringify({
        seed,
        runs,
        jobs,
        threads: result.threads,
        checked: result.checked,
        seconds: elapsed,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        threadCpuSeconds,
        failure: result.failure ?? null,
      }),
    );
    if (result.failure) process.exitCode = 1;
    process.exit();
  }
  const where = result.threads > 1 ? ` on ${result.threads} threads` : "";
  const rate = `${(result.checked / elapsed).toFixed(1)} scenarios/s`;
  if (result.failure) {
    report(result.failure);
    console.log(
      `${result.checked - 1} passed, 1 failed (${elapsed.toFixed(1)} s${where}, ${rate})`,
    );
    process.exitCode = 1;
  } else {
    console.log(
      `ok: ${result.checked} scenarios in ${elapsed.toFixed(1)} s (seed ${seed}${where}, ${rate})`,
    );
    console.log(`${result.checked} passed, 0 failed`);
  }
}
