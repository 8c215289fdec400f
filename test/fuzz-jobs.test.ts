/**
 * `npm run fuzz -- --jobs N`: a campaign split over worker threads runs exactly the scenarios the
 * jobs' seeds give on one thread, so a failure's seed reproduces it without workers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCampaign, runJob, splitCampaign } from "../fuzz/campaign.ts";

test("a campaign splits into jobs by seed + j, covering every run once, the same way every time", () => {
  assert.deepEqual(splitCampaign(10, 7, 3), [
    { seed: 7, runs: 4 },
    { seed: 8, runs: 3 },
    { seed: 9, runs: 3 },
  ]);
  assert.deepEqual(splitCampaign(2, 2 ** 31 - 1, 4), [
    { seed: 2 ** 31 - 1, runs: 1 },
    { seed: 0, runs: 1 },
  ]);
  assert.deepEqual(splitCampaign(5, 1, 1), [{ seed: 1, runs: 5 }]);
});

test("jobs on worker threads check what the same seeds check on one thread", async () => {
  const threaded = await runCampaign(6, 20261128, 2);
  const alone = splitCampaign(6, 20261128, 2).map((j) => runJob(j.runs, j.seed));
  const strip = (r: { seed: number; runs: number; checked: number; failure?: unknown }) => ({
    seed: r.seed,
    runs: r.runs,
    checked: r.checked,
    failure: r.failure,
  });
  assert.deepEqual(threaded.map(strip), alone.map(strip));
  assert.equal(
    threaded.reduce((n, r) => n + r.checked, 0),
    6,
  );
});
