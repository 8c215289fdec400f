/**
 * `iova serve`: the playground on 127.0.0.1 (the page, and nothing for other paths, methods or
 * host names), stopped by SIGINT with exit 0; a bad or busy port is one `iova:` line and exit 2.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { mainAsync } from "../../src/cli/main.ts";

const bin = join(import.meta.dirname, "../../src/cli/bin.ts");

/** Runs `iova ARGS` in this process; its output and exit code. */
async function iova(...args: string[]) {
  let out = "";
  let err = "";
  const code = await mainAsync(
    args,
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
  );
  return { out, err, code };
}

/** Starts `iova serve --port 0` as a process; resolves with it and the URL it prints. */
async function serve(): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", bin, "serve", "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr?.on("data", (d) => {
    err += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (d) => {
      out += d;
      const m = /^iova playground: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, url, stderr: () => err };
}

test("iova serve answers the page on 127.0.0.1, refuses other paths, methods and hosts, stops on SIGINT", {
  timeout: 60_000,
}, async () => {
  const { child, url, stderr } = await serve();
  try {
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    const html = await page.text();
    assert.match(html, /<title>iova playground<\/title>/);
    assert.match(html, /e04-seed-2016-prefix\.yaml/, "the examples are in the page");
    assert.equal((await fetch(`${url}nothing-else`)).status, 404);
    assert.equal((await fetch(url, { method: "POST", body: "x" })).status, 405);
    const port = new URL(url).port;
    assert.equal((await fetch(`http://localhost:${port}/`)).status, 200);
    // A name that resolves here but is not ours (DNS rebinding) is refused.
    const rebound = await new Promise<number>((resolve, reject) => {
      import("node:http").then(({ request }) =>
        request(
          { host: "127.0.0.1", port, path: "/", headers: { host: `evil.example:${port}` } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
          .on("error", reject)
          .end(),
      );
    });
    assert.equal(rebound, 403);
  } finally {
    child.kill("SIGINT");
  }
  const [code] = await once(child, "exit");
  assert.equal(code, 0, stderr());
  assert.match(stderr(), /iova: stopped/);
});

test("iova serve refuses a port that is not one with exit 2 and one iova: line", async () => {
  for (const port of ["65536", "-1", "http", "80.5", ""]) {
    const { code, err, out } = await iova("serve", "--port", port);
    assert.equal(code, 2, port);
    assert.equal(out, "");
    assert.match(err, /^iova: --port takes a port number from 0 to 65535, not '.*'\n$/, port);
  }
});

test("iova serve on a busy port says so with exit 2", { timeout: 60_000 }, async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  const port = (busy.address() as { port: number }).port;
  try {
    const { code, err } = await iova("serve", "--port", String(port));
    assert.equal(code, 2);
    assert.match(
      err,
      new RegExp(
        `^iova: (building .*\\n)?iova: port ${port} on 127\\.0\\.0\\.1 is in use \\(try --port N\\)\\n$`,
      ),
    );
  } finally {
    busy.close();
  }
});
