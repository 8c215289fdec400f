/**
 * `iova diff --qemu 7.2,10.0 SCENARIO`: the same scenario under two QEMU releases, and what a
 * user would see change when upgrading: a machine type that no longer exists, an address space
 * QEMU 10.0 adds, and (through a runner that changes one release's ioctls, QEMU log and outcome)
 * each step field the comparison reads. Exit 1 when the runs differ, 0 when not, 2 for bad input.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { diffReleases, formatReleaseDiff } from "../../src/scenario/release-diff.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { runCli } from "./run-cli.ts";

const machine = (extra: string, type = "pseries") =>
  `name: upgrade\nmachine:\n  type: ${type}\n  memory: 1G\n${extra}steps: []\n`;

function withFile(text: string, body: (path: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "iova-diffq-"));
  try {
    const file = join(dir, "s.yaml");
    writeFileSync(file, text);
    body(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a machine with maxmem gains QEMU 10.0's device-memory address space: exit 1, named", () => {
  withFile(machine("  maxmem: 4G\n"), (file) => {
    const r = runCli("diff", "--qemu", "7.2,10.0", file);
    assert.equal(r.code, 1, r.err);
    assert.equal(
      r.out,
      "scenario upgrade: QEMU 7.2 -> QEMU 10.0\n  QEMU 7.2: ok\n  QEMU 10.0: ok\n\ninfo mtree\n  + address-space device-memory (root device-memory)\n",
    );
    const json = JSON.parse(runCli("diff", "--qemu", "7.2,10.0", "--json", file).out);
    assert.deepEqual(json.addressSpaces, {
      added: ["device-memory (root device-memory)"],
      removed: [],
    });
    assert.deepEqual(json.releases, ["7.2", "10.0"]);
    // The other way round, it vanishes.
    const back = runCli("diff", "--qemu", "10.0,7.2", file);
    assert.match(back.out, /^ {2}- address-space device-memory \(root device-memory\)$/m);
  });
});

test("--html writes the two releases' info mtree differences as a page named for them", () => {
  withFile(machine("  maxmem: 4G\n"), (file) => {
    const page = join(tmpdir(), `iova-diffq-${process.pid}.html`);
    try {
      const r = runCli("diff", "--qemu", "7.2,10.0", "--html", page, file);
      assert.equal(r.code, 1, r.err);
      const html = readFileSync(page, "utf8");
      assert.match(html, /QEMU 7\.2/);
      assert.match(html, /QEMU 10\.0/);
    } finally {
      rmSync(page, { force: true });
    }
  });
});

test("a machine no release changes: exit 0, no differences", () => {
  withFile(machine(""), (file) => {
    const r = runCli("diff", "--qemu", "7.2,10.0", file);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\nno differences\n$/);
  });
});

test("pseries-2.6 does not exist in 10.0: that side does not start, in QEMU 10.0's words", () => {
  withFile(machine("", "pseries-2.6"), (file) => {
    const r = runCli("diff", "--qemu", "7.2,10.0", file);
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.out,
      /^ {2}QEMU 10\.0: does not start: qemu-system-ppc64: unsupported machine type: "pseries-2\.6"$/m,
    );
    assert.doesNotMatch(r.out, /^steps$/m);
  });
});

test("step outcomes, errors, ioctls and QEMU log lines that change are each listed", () => {
  const scenario = loadScenario(
    `name: s
machine: { memory: 1G }
steps:
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x0, tce: 0x1003 }
  - hcall: H_GET_TCE
    args: { liobn: 0x80000000, ioba: 0x0 }
`,
    "s.yaml",
  );
  // A stand-in for a behaviour change: under 10.0, step 1 logs other ioctls and a message,
  // and step 2 is refused.
  const run: typeof runScenario = (s, options = {}) =>
    runScenario(s, {
      ...options,
      afterStep: (i, report, m) => {
        if (options.qemu === "10.0" && i === 0) {
          (report as { result: Record<string, unknown> }).result = {
            ...report.result,
            ioctls: ["VFIO_IOMMU_MAP_DMA new"],
            qemu_log: ["qemu-system-ppc64: new message"],
          };
        }
        if (options.qemu === "10.0" && i === 1) {
          Object.assign(report, { outcome: "refused", error: "H_PARAMETER" });
        }
        options.afterStep?.(i, report, m);
      },
    });
  const d = diffReleases(scenario, ["7.2", "10.0"], run);
  assert.equal(d.differs, true);
  assert.deepEqual(
    d.steps.map((c) => [c.step, c.field, c.before, c.after]),
    [
      [1, "ioctls", [], ["VFIO_IOMMU_MAP_DMA new"]],
      [1, "qemu_log", [], ["qemu-system-ppc64: new message"]],
      [2, "outcome", "succeeded", "refused"],
      [2, "error", null, "H_PARAMETER"],
    ],
  );
  const text = formatReleaseDiff(d);
  assert.match(
    text,
    /^ {2}step 1 \(line 4\) hcall H_PUT_TCE: ioctls\n {4}\+ VFIO_IOMMU_MAP_DMA new$/m,
  );
  assert.match(text, /^ {2}step 2 \(line 6\) hcall H_GET_TCE: outcome succeeded -> refused$/m);
  // The same runner under one release twice: nothing differs.
  assert.equal(diffReleases(scenario, ["7.2", "7.2"], run).differs, false);
});

test("diff --qemu takes two different releases and one scenario; anything else is exit 2", () => {
  withFile(machine(""), (file) => {
    for (const args of [
      ["--qemu", "7.2,7.2", file],
      ["--qemu", "7.2", file],
      ["--qemu", "7.2,9.2", file],
      ["--qemu", "7.2,10.0", file, file],
      [file],
    ]) {
      const r = runCli("diff", ...args);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.err, /^iova: /);
    }
  });
});
