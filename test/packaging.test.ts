/**
 * `npm pack` gives a package whose `iova` command works from a clean directory.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "..");

test("the packed package installs, runs the seed and serves the playground from a clean directory", {
  timeout: 240_000,
}, async () => {
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
  // The playground page is in the package, and `iova serve` serves it without building anything.
  const page = join(app, "node_modules", "iova", "dist", "playground.html");
  assert.match(readFileSync(page, "utf8"), /<title>iova playground<\/title>/);
  const served = await serveOnce(join(app, "node_modules", ".bin", "iova"), app);
  assert.match(served.stdout, /^iova playground: http:\/\/127\.0\.0\.1:\d+\/\n$/);
  assert.equal(served.status, 200);
  assert.equal(served.stderr, "iova: stopped\n");
  assert.equal(served.code, 0);
});

/** Runs `iova serve --port 0`, fetches the URL it prints, stops it with SIGINT. */
async function serveOnce(iova: string, cwd: string) {
  const child = spawn(iova, ["serve", "--port", "0"], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      stdout += d;
      const m = /(http:\/\/\S+)\n/.exec(stdout);
      if (m) resolve(m[1]);
    });
    child.once("exit", () => reject(new Error(`iova serve exited: ${stderr}`)));
  });
  const status = (await fetch(url)).status;
  const exited = once(child, "exit");
  child.kill("SIGINT");
  const [code] = await exited;
  return { stdout, stderr, status, code };
}

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
