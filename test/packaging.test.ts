/**
 * `npm pack` gives a package whose `iova` command works from a clean directory.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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

test("the package carries the examples, the scenario schema and the MIT LICENSE", () => {
  const [pack] = JSON.parse(
    execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts", "--silent"], {
      cwd: root,
      encoding: "utf8",
    }),
  ) as { files: { path: string }[] }[];
  const files = new Set(pack.files.map((f) => f.path));
  const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml"));
  assert.ok(examples.length > 0);
  for (const f of examples) assert.ok(files.has(`examples/${f}`), `examples/${f} is packed`);
  assert.ok(files.has("schema/scenario.schema.json"));
  assert.ok(files.has("LICENSE"));
  assert.match(readFileSync(join(root, "LICENSE"), "utf8"), /^MIT License/);
  assert.equal(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).license, "MIT");
});
