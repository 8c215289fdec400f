/**
 * `npm run fuzz -- --jobs N`: a campaign cut into chunks that any thread may run checks exactly
 * the scenarios one `fc.check` of the same seed and run count checks, so its first failure is the
 * one a single thread finds, and the seed reproduces it without workers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { runCampaign } from "../fuzz/campaign.ts";
import { runChunk, runJob, splitCampaign } from "../fuzz/chunks.ts";
import { scenarioArb } from "../fuzz/scenario-fuzz.ts";

test("a campaign is cut into consecutive chunks covering every run once, the same way every time", () => {
  assert.deepEqual(splitCampaign(10, 1), [{ from: 0, runs: 10 }]);
  // Two threads, 100 runs: a quarter of each thread's share of what is left, at least 8.
  assert.deepEqual(
    splitCampaign(100, 2).map((c) => c.runs),
    [13, 11, 10, 9, 8, 8, 8, 8, 8, 8, 8, 1],
  );
  for (const [runs, jobs] of [
    [1, 4],
    [7, 3],
    [3000, 2],
    [100_000, 8],
  ]) {
    const chunks = splitCampaign(runs, jobs);
    let next = 0;
    for (const c of chunks) {
      assert.equal(c.from, next, `${runs} runs on ${jobs}: chunks follow each other`);
      assert.ok(c.runs > 0);
      next += c.runs;
    }
    assert.equal(next, runs);
    assert.deepEqual(splitCampaign(runs, jobs), chunks);
  }
});

/** The scenarios one fc.check of the whole campaign draws, in order. */
function drawn(runs: number, seed: number): string[] {
  const all: string[] = [];
  fc.check(
    fc.property(scenarioArb, (yaml) => {
      all.push(yaml);
    }),
    { numRuns: runs, seed },
  );
  return all;
}

test("chunks run in any order check exactly the scenarios one thread checks", () => {
  const seed = 20261201;
  const whole = drawn(90, seed);
  const seen: string[][] = [];
  const chunks = splitCampaign(90, 3);
  assert.ok(chunks.length > 3);
  for (const [k, c] of [...chunks.entries()].reverse()) {
    seen[k] = [];
    const r = runChunk(c, seed, { check: (yaml) => void seen[k].push(yaml) });
    assert.equal(r.checked, c.runs);
  }
  assert.deepEqual(seen.flat(), whole);
});

test("the campaign's first failure is the one a single thread finds, with the same minimal scenario and replay path", () => {
  const seed = 7;
  // A planted bug that many scenarios hit, so that several chunks fail and the lowest must win.
  const check = (yaml: string) => {
    if (yaml.includes("device_del")) throw new Error("planted: device_del");
  };
  const one = runChunk({ from: 0, runs: 200 }, seed, { check });
  assert.ok(one.failure, "the planted bug is found");
  const results = splitCampaign(200, 4)
    .reverse()
    .map((c) => runChunk(c, seed, { check }));
  const failing = results.filter((r) => r.failure).sort((a, b) => a.from - b.from);
  assert.ok(failing.length > 1, "several chunks fail");
  const first = failing[0].failure!;
  assert.equal(first.index, one.failure.index);
  assert.equal(first.yaml, one.failure.yaml);
  assert.equal(first.path, one.failure.path);
  assert.ok(first.path.startsWith(`${first.index}:`));
  // The path replays the minimal scenario on its own.
  const replay = runChunk({ from: first.index, runs: 1 }, seed, { check, path: first.path });
  assert.equal(replay.failure?.yaml, first.yaml);
});

test("worker threads check what the same seed checks on one thread", async () => {
  const seed = 20261128;
  const alone = runJob(24, seed);
  // Every chunk on the workers (this thread only waits), then this thread working too.
  for (const thisThreadWorks of [false, true]) {
    const threaded = await runCampaign(24, seed, 2, undefined, thisThreadWorks);
    assert.equal(threaded.checked, 24);
    assert.equal(threaded.failure, undefined);
    if (!thisThreadWorks) assert.equal(threaded.busyMs[0], 0);
    for (const r of threaded.chunks) {
      const local = runChunk(r, seed);
      assert.equal(r.digest, local.digest, `chunk from ${r.from}`);
    }
    assert.deepEqual(
      threaded.chunks.map((r) => [r.from, r.runs]),
      splitCampaign(24, 2).map((c) => [c.from, c.runs]),
    );
  }
  assert.equal(alone.checked, 24);
});
