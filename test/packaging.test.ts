/**
 * `npm pack` gives a package whose `iova` command works from a clean directory.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "..");

test("the packed package installs and runs the seed from a clean directory", {
  timeout: 240_000,
}, () => {
  const out = mkdtempSync(join(tmpdir(), "iova-pack-"));
  execFileSync("npm", ["pack", "--pack-destination", out, "--silent"], {
    cwd: root,
    stdio: "pipe",
  });
  const tarball = readdirSync(out).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball, "npm pack made a tarball");
  const app = mkdtempSync(join(tmpdir(), "iova-app-"));
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "app", version: "1.0.0", private: true }),
  );
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", join(out, tarball)], {
    cwd: app,
    stdio: "pipe",
  });
  const verdict = execFileSync(join(app, "node_modules", ".bin", "iova"), ["run", "--quiet"], {
    cwd: app,
    encoding: "utf8",
  });
  assert.equal(verdict, "ok\n");
  const json = JSON.parse(
    execFileSync(join(app, "node_modules", ".bin", "iova"), ["run", "--json"], {
      cwd: app,
      encoding: "utf8",
    }),
  );
  assert.equal(json.scenario, "seed-hotplug-after-ddw");
});
