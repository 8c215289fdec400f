/**
 * The README's JSON recipes pipe cleanly into jq: each `npm run -s iova -- ... --json | jq ...`
 * command, run as written, puts nothing but the report on stdout (no npm banner), and where jq is
 * installed the whole pipeline succeeds (jq, the last command, exits 0 with output).
 */
import assert from "node:assert/strict";
import { execSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "../..");

/** The JSON recipes of the README, with their `\` continuations joined. */
function recipes(): string[] {
  const readme = readFileSync(join(root, "README.md"), "utf8").replace(/\\\n\s*/g, "");
  return readme.split("\n").filter((l) => /^npm run -s iova -- .*--json \| jq /.test(l));
}

const hasJq = spawnSync("jq", ["--version"]).status === 0;

test("the README has JSON recipes", () => assert.ok(recipes().length >= 3));

test("the first README JSON recipe prints only the report on stdout (JSON.parse takes it whole)", () => {
  const [recipe] = recipes();
  const command = recipe.slice(0, recipe.indexOf(" | jq "));
  const stdout = execSync(command, {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const report = JSON.parse(stdout);
  assert.equal(report.ok, true);
  assert.ok(report.summary.steps > 0);
});

test("every README JSON recipe runs through jq", {
  skip: hasJq ? false : "jq is not installed",
}, () => {
  for (const recipe of recipes()) {
    const r = spawnSync("sh", ["-c", recipe], {
      cwd: root,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, `${recipe}\n${r.stderr}`);
    assert.notEqual(r.stdout.trim(), "", recipe);
  }
});
