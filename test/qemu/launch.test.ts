/**
 * `launchQemu` with a stand-in QEMU (test/qemu/fixtures/fake-qemu.mjs): the child it started is
 * killed and its temporary directory removed on every path, and a missing binary is reported as
 * soon as the system says so.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { launchQemu } from "../../src/qemu/launch.ts";
import { readMtreeDumps } from "../../src/qemu/qmp.ts";

const FAKE = join(import.meta.dirname, "fixtures/fake-qemu.mjs");
const root = mkdtempSync(join(tmpdir(), "iova-launch-"));
after(() => rmSync(root, { recursive: true, force: true }));
let serial = 0;

/** A fresh directory to hold one launch's temporary directory; the stand-in's mode. */
function sandbox(mode: string) {
  process.env.FAKE_QEMU_MODE = mode;
  return { tmpRoot: mkdtempSync(join(root, `run-${serial++}-`)) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("a missing binary is reported without waiting for the connect timeout", async () => {
  const { tmpRoot } = sandbox("sleep");
  // A ten-minute connect timeout: the test ends only if the failure does not wait for it.
  await assert.rejects(
    launchQemu(["/nonexistent/qemu-system-ppc64"], { connectTimeoutMs: 600_000, tmpRoot }),
    /cannot start \/nonexistent\/qemu-system-ppc64: no such program/,
  );
  assert.deepEqual(readdirSync(tmpRoot), [], "the temporary directory is gone");
});

test("a QEMU that refuses its command line: its first error line, directory removed", async () => {
  const { tmpRoot } = sandbox("fail");
  await assert.rejects(
    launchQemu([process.execPath, FAKE], { connectTimeoutMs: 600_000, tmpRoot }),
    /exited \(1\): qemu-system-ppc64: -machine foo: unsupported machine type$/,
  );
  assert.deepEqual(readdirSync(tmpRoot), []);
});

test("a QEMU that never opens its socket is reported and killed", async () => {
  const { tmpRoot } = sandbox("sleep");
  let pid = 0;
  await assert.rejects(
    launchQemu([process.execPath, FAKE], {
      connectTimeoutMs: 300,
      tmpRoot,
      onSpawn: (p) => {
        pid = p;
      },
    }),
    /did not open its QMP socket within 300 ms; it was killed/,
  );
  assert.ok(pid > 0);
  assert.equal(alive(pid), false, "the child is gone");
  assert.deepEqual(readdirSync(tmpRoot), []);
});

test("a started QEMU is read, then quit; stop() removes the directory", async () => {
  const { tmpRoot } = sandbox("qmp");
  const qemu = await launchQemu([process.execPath, FAKE], { tmpRoot });
  const dumps = await readMtreeDumps(qemu.client);
  assert.match(dumps.tree, /^address-space: memory/);
  await qemu.stop();
  assert.equal(alive(qemu.pid), false);
  assert.deepEqual(readdirSync(tmpRoot), []);
});

test("a QEMU that ignores quit is killed after the grace period", async () => {
  const { tmpRoot } = sandbox("stubborn");
  const qemu = await launchQemu([process.execPath, FAKE], { tmpRoot, quitGraceMs: 100 });
  await qemu.stop();
  assert.equal(alive(qemu.pid), false);
  assert.deepEqual(readdirSync(tmpRoot), []);
});

/** Starts a separate iova process that launches the stand-in, says its pid, then runs `then`. */
async function iovaWithQemu(tmpRoot: string, then: string) {
  const script = `
    import { launchQemu } from ${JSON.stringify(join(import.meta.dirname, "../../src/qemu/launch.ts"))};
    const q = await launchQemu([process.execPath, ${JSON.stringify(FAKE)}], { tmpRoot: ${JSON.stringify(tmpRoot)} });
    process.stdout.write(q.pid + "\\n");
    ${then}
  `;
  const iova = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["pipe", "pipe", "ignore"],
  });
  const ended = new Promise<{ code: number | null; signal: string | null }>((r) =>
    iova.once("exit", (code, signal) => r({ code, signal })),
  );
  const qemuPid = await new Promise<number>((resolve) =>
    iova.stdout.once("data", (d) => resolve(Number(String(d).trim()))),
  );
  return { iova, ended, qemuPid };
}

/** The kill is sent as iova goes; wait for the child to be reaped. */
async function reaped(pid: number): Promise<boolean> {
  for (let i = 0; i < 500 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
  return !alive(pid);
}

test("SIGTERM to iova while QEMU runs kills QEMU and removes the directory", async () => {
  const { tmpRoot } = sandbox("qmp");
  const { iova, ended, qemuPid } = await iovaWithQemu(tmpRoot, "setInterval(() => {}, 1000);");
  assert.equal(alive(qemuPid), true);
  assert.equal(readdirSync(tmpRoot).length, 1);
  iova.kill("SIGTERM");
  assert.equal((await ended).signal, "SIGTERM", "iova still ends as the signal says");
  assert.equal(await reaped(qemuPid), true);
  assert.deepEqual(readdirSync(tmpRoot), []);
});

test("an iova that crashes while QEMU runs still kills QEMU and removes the directory", async () => {
  const { tmpRoot } = sandbox("qmp");
  // Crash once told to (stdin closes), after the pid has been read.
  const { iova, ended, qemuPid } = await iovaWithQemu(
    tmpRoot,
    `process.stdin.on("data", () => {}); process.stdin.on("end", () => { throw new Error("boom"); });`,
  );
  assert.equal(alive(qemuPid), true);
  iova.stdin.end();
  assert.equal((await ended).code, 1);
  assert.equal(await reaped(qemuPid), true);
  assert.deepEqual(readdirSync(tmpRoot), []);
});
