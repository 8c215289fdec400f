/**
 * Regression tests named after the real-world bugs of spec/known-bugs.md that iova can express.
 * Each runs the example scenario that reproduces (or rules out) the bug and checks its verdict.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";

const run = (file: string, behaviour?: "qemu-7.2" | "qemu-2016-prefix") => {
  const text = readFileSync(join(import.meta.dirname, "../../examples", file), "utf8");
  return runScenario(loadScenario(text, file), { behaviour }).report;
};

test("B1c: creating a DDW does not replay billions of empty TCEs", () => {
  const r = run("b1c-ddw-creation-skips-replay.yaml");
  // QEMU's levels heuristic: 2^24 entries of 8 bytes = 2^27 bits over 24 per level = 2 levels.
  assert.deepEqual(r.steps[0].result.ioctls, [
    "TCE_CREATE(page_shift=16, window_size=0x10000000000, levels=2) = 0",
  ]);
  assert.equal(r.ok, true);
});

test("B2: IOVAs above the host IOMMU width fail with EINVAL", () => {
  const r = run("b2-iova-above-host-iommu-width.yaml");
  assert.ok(
    (r.steps[4].result.qemu_log as string[]).some((l) => l.endsWith("= -22 (Invalid argument)")),
  );
});

test("B3c: replugging after the last device left remaps everything", () => {
  assert.equal(run("b3c-replug-remaps.yaml").ok, true);
});

test("B4: a host that allows one TCE level cannot create a two-level window", () => {
  const r = run("b4-tce-levels-limited.yaml");
  assert.equal(r.steps[0].qemu_aborts, true);
  assert.deepEqual(r.steps[0].result.ioctls, [
    "TCE_CREATE(page_shift=16, window_size=0x10000000000, levels=2) = -EINVAL",
    "TCE_CREATE(page_shift=16, window_size=0x10000000000, levels=3) = -EINVAL",
  ]);
});

test("B4b: host window at the wrong place; host page size unsupported", () => {
  assert.match(
    run("e08-hotplug-with-only-ddw.yaml").steps[2].result.qemu_log!.toString(),
    /Host doesn't support DMA window at 800000000000000, must be 0/,
  );
  assert.match(
    run("e09d-host-page-size-unsupported.yaml").steps[0].result.qemu_log!.toString(),
    /Host doesn't support page size 0x1000, the supported mask is 0x1010000/,
  );
});

test("B5: an unaligned section is logged and left unmapped", () => {
  const r = run("b5-unaligned-window.yaml");
  assert.match(String(r.steps[1].result.qemu_log), /received unaligned region tce-iommu-80000000/);
  assert.equal(r.checks.find((c) => c.name === "shadow")?.ok, false);
});

test("the 2016 iova prefix bug (the seed): fixed in 7.2, reproduced under qemu-2016-prefix", () => {
  assert.equal(run("e03-seed-hotplug-after-ddw.yaml").ok, true);
  assert.equal(run("e03-seed-hotplug-after-ddw.yaml", "qemu-2016-prefix").ok, false);
});

test("Q1 (QEMU 7.2): a TCE overwritten to point outside RAM keeps its old host mapping; shadow names Q1", () => {
  const r = run("q1-stale-mapping-after-non-ram-tce.yaml");
  const log = r.steps[2].result.qemu_log as string[];
  assert.equal(log.length, 1);
  assert.match(log[0], /^iommu map to non memory area (0x)?1000000000$/);
  // The refused MAP makes no ioctl, and no UNMAP is sent before it.
  assert.equal(r.steps[2].result.ioctls, undefined);
  assert.deepEqual(r.host.containers[0].mappings, [
    { iova: "0x3000", size: "0x1000", gpa: "0x20000000", hva: "0x7fff20000000", perm: "rw" },
  ]);
  const shadow = r.checks.find((c) => c.name === "shadow")!;
  assert.equal(shadow.ok, false);
  assert.deepEqual((shadow as { qemuBugs?: unknown }).qemuBugs, { Q1: 1 });
  assert.match(shadow.violations[0].message, /host maps bus 0x3000 .*\[known QEMU 7\.2 bug Q1: /);
  assert.equal(r.checks.find((c) => c.name === "isolation")!.ok, true);
});

test("Q2 (QEMU 7.2): a write-only TCE is mapped read-and-write on the host; shadow names Q2", () => {
  const r = run("q2-write-only-tce-mapped-read-write.yaml");
  assert.deepEqual(r.steps[2].result.ioctls, [
    "MAP_DMA(iova=0x3000, size=0x1000, vaddr=0x7fff20000000, flags=3) = 0",
  ]);
  const shadow = r.checks.find((c) => c.name === "shadow")!;
  assert.equal(shadow.ok, false);
  assert.deepEqual((shadow as { qemuBugs?: unknown }).qemuBugs, { Q2: 1 });
  assert.match(
    shadow.violations[0].message,
    /guest -> gpa 0x20000000 \(w\), host .* \(rw\) \[known QEMU 7\.2 bug Q2: /,
  );
});

test("a shadow violation no known QEMU bug explains is not attributed", () => {
  const r = run("e03-seed-hotplug-after-ddw.yaml", "qemu-2016-prefix");
  const shadow = r.checks.find((c) => c.name === "shadow")!;
  assert.equal(shadow.ok, false);
  assert.equal((shadow as { qemuBugs?: unknown }).qemuBugs, undefined);
  assert.ok(
    shadow.violations.every(
      (v) => v.qemuBug === undefined && !v.message.includes("known QEMU 7.2 bug"),
    ),
  );
});
