/**
 * Against real QEMUs side by side: `iova qemu` and `iova attach` say which QEMU they talk to
 * (query-version), in text (stderr) and in --json; a QEMU 10.0 pseries is recognised as 10.0 and
 * its memory map still rebuilt exactly. The 10.0 tests need scripts/install-qemu-10.sh's tree
 * (IOVA_QEMU10_DIR, default ~/.cache/iova/qemu-10.0) and are skipped, saying so, without it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { launchQemu } from "../../src/qemu/launch.ts";
import { qemu10Command } from "../../src/qemu/qemu-10.ts";
import { readLiveQemu } from "../../src/qemu/version.ts";
import { runCliAsync } from "../cli/run-cli.ts";
import { skipWithoutQemu10, QEMU10_WRAPPER as WRAPPER } from "./installed.ts";
import { assertReproducesFlatViews } from "./reproduces.ts";

const skip10 = skipWithoutQemu10("qemu-system-ppc64");

const PSERIES_ARGS = ["-M", "pseries", "-m", "1G", "-nodefaults", "-nographic"];
const PSERIES_10 = [WRAPPER, "qemu-system-ppc64", ...PSERIES_ARGS, "-device", "qemu-xhci"];

test("iova qemu picks the 7.2 model for Debian's QEMU 7.2 and says so", {
  timeout: 60_000,
}, async () => {
  const r = await runCliAsync("qemu", "-f", "--", "qemu-system-ppc64", ...PSERIES_ARGS);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /^iova: QEMU 7\.2\.\d+ \(Debian 1:7\.2[^)]*\): modelled as QEMU 7\.2 \(--qemu 7\.2\)\n$/,
  );
});

test("iova qemu --json names QEMU 10.0 and its model in qemuVersion, and stays quiet on stderr", {
  timeout: 60_000,
  skip: skip10,
}, async () => {
  const r = await runCliAsync("qemu", "--json", "--", ...PSERIES_10);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, "");
  const report = JSON.parse(r.out) as { qemuVersion: Record<string, unknown>; mtree: string };
  assert.equal(report.qemuVersion.major, 10);
  assert.equal(report.qemuVersion.minor, 0);
  assert.equal(report.qemuVersion.text, `10.0.${report.qemuVersion.micro}`);
  assert.equal(report.qemuVersion.modelled, true);
  assert.equal(report.qemuVersion.model, "10.0");
  assert.match(String(report.qemuVersion.package), /bpo12/);
  assert.match(report.mtree, /^address-space: memory$/m);
});

test("iova attach to a running QEMU 10.0 picks the 10.0 model, says so, and prints its map", {
  timeout: 60_000,
  skip: skip10,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "iova-attach10-"));
  const sock = join(dir, "qmp.sock");
  const child = spawn(
    PSERIES_10[0],
    [...PSERIES_10.slice(1), "-S", "-qmp", `unix:${sock},server=on,wait=off`],
    { stdio: "ignore" },
  );
  try {
    const r = await runCliAsync("attach", "--qmp", sock, "-f");
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /^iova: QEMU 10\.0\.\d+ \([^)]*\): modelled as QEMU 10\.0 \(--qemu 10\.0\)\n$/,
    );
    assert.match(r.out, /^FlatView #\d+$/m);
  } finally {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a live QEMU 10.0 pseries is rebuilt exactly: its own info mtree -f", {
  timeout: 60_000,
  skip: skip10,
}, async () => {
  await assertReproducesFlatViews(PSERIES_10);
});

test("qemu10Command starts 10.0 itself (not the host's 7.2) with its own firmware and modules", {
  timeout: 60_000,
  skip: skip10,
}, async () => {
  // x86 loads its BIOS from the -L directories: this is the tree's SeaBIOS, not the host's.
  const { argv, env } = qemu10Command("qemu-system-x86_64", [
    "-M",
    "q35",
    "-m",
    "256M",
    "-nodefaults",
    "-nographic",
    "-device",
    "intel-iommu",
  ]);
  const qemu = await launchQemu(argv, { env });
  try {
    const { qemu: version } = await readLiveQemu(qemu.client);
    assert.equal(version.line, "10.0");
  } finally {
    await qemu.stop();
  }
  await assertReproducesFlatViews(argv, env);
});

test("scripts/qemu-10.sh refuses a missing tree or a path, saying how to install", () => {
  const missing = spawnSync("bash", [WRAPPER, "qemu-system-ppc64", "--version"], {
    env: { ...process.env, IOVA_QEMU10_DIR: join(tmpdir(), "iova-no-such-qemu-10") },
    encoding: "utf8",
  });
  assert.equal(missing.status, 69);
  assert.match(
    missing.stderr,
    /no qemu-system-ppc64 in .*iova-no-such-qemu-10\/usr\/bin \(run scripts\/install-qemu-10\.sh\)/,
  );
  const path = spawnSync("bash", [WRAPPER, "/usr/bin/qemu-system-ppc64"], { encoding: "utf8" });
  assert.equal(path.status, 69);
  const none = spawnSync("bash", [WRAPPER], { encoding: "utf8" });
  assert.equal(none.status, 64);
});
