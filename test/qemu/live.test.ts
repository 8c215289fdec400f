/**
 * Against a real QEMU 7.2 (Debian's qemu-system-ppc; .ci/run installs it): `iova qemu` and
 * `iova attach` rebuild the running machine's memory map and reproduce QEMU's own `info mtree -f`
 * (blocks as sets); `iova diff` reports exactly what a DDW creation changes; failures are clear.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { QmpClient } from "../../src/qemu/qmp.ts";
import { runCliAsync } from "../cli/run-cli.ts";
import { assertReproducesFlatViews } from "./reproduces.ts";

const PSERIES = [
  "qemu-system-ppc64",
  "-M",
  "pseries",
  "-m",
  "1G",
  "-nodefaults",
  "-nographic",
  "-device",
  "qemu-xhci",
  "-device",
  "spapr-pci-host-bridge,index=1",
];

test("a live pseries with QEMU's own info mtree -f as the hint: a consistent model exists that prints it back", {
  timeout: 60_000,
}, async () => {
  await assertReproducesFlatViews(PSERIES);
});

test("iova qemu prints the rebuilt flat views, and quits QEMU", { timeout: 60_000 }, async () => {
  const r = await runCliAsync("qemu", "-f", "--", ...PSERIES);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /AS "pci@800000020000001", root: pci@800000020000001\.iommu-root/);
  assert.match(
    r.out,
    / {2}0000000000000000-000000003fffffff \(prio 0, i\/o\): tce-iommu-80000100\n/,
  );
});

test("iova attach reads a running QEMU without changing it", { timeout: 60_000 }, async () => {
  const sock = join(mkdtempSync(join(tmpdir(), "iova-attach-")), "qmp.sock");
  const child = spawn(
    PSERIES[0],
    [...PSERIES.slice(1), "-S", "-qmp", `unix:${sock},server=on,wait=off`],
    { stdio: "ignore" },
  );
  try {
    const r = await runCliAsync("attach", "--qmp", sock, "-D");
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /bus master @pci@800000020000000\.iommu-root 0000000000000000-ffffffffffffffff \[disabled\]/,
    );
    // Still paused and answering: attach only queried.
    const client = await QmpClient.connect(sock);
    assert.deepEqual(
      ((await client.execute("query-status")) as { status: string }).status,
      "prelaunch",
    );
    client.close();
  } finally {
    child.kill("SIGKILL");
  }
});

test("a missing binary or a refused command line is a clear error, not a hang", {
  timeout: 60_000,
}, async () => {
  const missing = await runCliAsync("qemu", "--", "qemu-system-nonexistent", "-M", "none");
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot start qemu-system-nonexistent: no such program/);
  const refused = await runCliAsync("qemu", "--", "qemu-system-ppc64", "-M", "no-such-machine");
  assert.equal(refused.code, 2);
  assert.match(
    refused.err,
    /qemu-system-ppc64 exited \(1\): qemu-system-ppc64: unsupported machine type/,
  );
});

/** `iova diff` of two recorded pseries dumps: before and after the guest created a DDW. */
const corpus = (c: string, f: string) => join(import.meta.dirname, "../conformance/data", c, f);
const DDW_DIFF = [
  "diff",
  corpus("ppc64-pseries-xhci-enabled", "mtree-D.txt"),
  corpus("ppc64-pseries-xhci-ddw", "mtree-D.txt"),
  "--flat-a",
  corpus("ppc64-pseries-xhci-enabled", "mtree-f.txt"),
  "--flat-b",
  corpus("ppc64-pseries-xhci-ddw", "mtree-f.txt"),
];

test("iova diff reports exactly the DDW window a guest created", async () => {
  const r = await runCliAsync(...DDW_DIFF, "--json");
  assert.equal(r.code, 1, r.err); // the two sides differ, as diff(1) says with 1
  const diff = JSON.parse(r.out);
  assert.deepEqual(
    diff.regions.appeared.map((x: { path: string }) => x.path),
    ["pci@800000020000000.iommu-root / tce-root-80000001 / tce-iommu-80000001"],
  );
  assert.deepEqual(diff.regions.vanished, []);
  // The two cases also differ in RAM size (1G vs 2G): that moves ppc_spapr.ram too.
  assert.deepEqual(
    diff.regions.moved.map((x: { path: string }) => x.path),
    ["system / ppc_spapr.ram"],
  );
  const pci = diff.flat.find(
    (f: { addressSpace: string }) => f.addressSpace === "pci@800000020000000",
  );
  assert.deepEqual(pci, {
    addressSpace: "pci@800000020000000",
    added: ["0800000000000000-080000007fffffff (prio 0, i/o): tce-iommu-80000001"],
    removed: [],
  });
});

test("iova diff draws the same difference as HTML", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "iova-diff-")), "diff.html");
  const r = await runCliAsync(...DDW_DIFF, "--html", out);
  assert.equal(r.code, 1, r.err);
  const html = readFileSync(out, "utf8");
  assert.match(
    html,
    /<li class="added">\+ pci@800000020000000\.iommu-root \/ tce-root-80000001 \/ tce-iommu-80000001: /,
  );
  assert.match(
    html,
    /<li class="added">\+ 0800000000000000-080000007fffffff \(prio 0, i\/o\): tce-iommu-80000001<\/li>/,
  );
});
