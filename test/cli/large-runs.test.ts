/**
 * Long and large runs: byte results past a size are summarised (length, SHA-256, first bytes) and
 * can be written in full with --dump-dir; the text report goes out step by step while the run
 * goes, holding no step it has printed; the HTML page draws a million mapping runs as a few
 * ranges; and a step longer than a second shows progress on a terminal (stderr) only.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/main.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import type { Report } from "../../src/scenario/report.ts";
import { type RunOptions, runScenario } from "../../src/scenario/run.ts";
import { SEED_SCENARIO } from "../../src/scenario/seed.ts";
import { renderReportHtml } from "../../src/view/html.ts";
import { reportView } from "../../src/view/model.ts";

const MiB16 = 0x1000000;

function scenarioFile(steps: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "iova-large-")), "s.yaml");
  writeFileSync(path, `name: large\nmachine:\n  memory: 4G\nsteps:\n${steps}`);
  return path;
}

function cli(args: string[], options: Parameters<typeof main>[3] = {}) {
  let out = "";
  let err = "";
  const code = main(
    args,
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
    options,
  );
  return { code, out, err };
}

test("a 16 MiB read is summarised in --json: length, SHA-256 and first bytes, not 32 MB of hex", () => {
  const path = scenarioFile(
    '  - cpu: { write: 0x10, data: "c0ffee" }\n  - cpu: { read: 0x0, length: 0x1000000 }\n  - cpu: { read: 0x0, length: 0x1000000 }\n',
  );
  const r = cli(["run", path, "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.length < 20_000, `report of ${r.out.length} characters`);
  const report: Report = JSON.parse(r.out);
  const bytes = new Uint8Array(MiB16);
  bytes.set([0xc0, 0xff, 0xee], 0x10);
  const summary = report.steps[1].result.data_summary;
  assert.deepEqual(summary, {
    length: MiB16,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    head: Buffer.from(bytes.subarray(0, 32)).toString("hex"),
  });
  assert.equal(report.steps[1].result.data, undefined);
});

test("--dump-dir writes the full bytes of a summarised result and the report names the file", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "iova-dump-")), "bytes");
  const path = scenarioFile(
    '  - cpu: { write: 0x2000, data: "0102" }\n  - cpu: { read: 0x1000, length: 8192 }\n  - cpu: { read: 0x0, length: 16 }\n',
  );
  const r = cli(["run", path, "--json", "--dump-dir", dir]);
  assert.equal(r.code, 0, r.err);
  const report: Report = JSON.parse(r.out);
  const summary = report.steps[1].result.data_summary as { file: string; sha256: string };
  assert.equal(summary.file, join(dir, "step-2-data.bin"));
  const written = readFileSync(summary.file);
  assert.equal(written.length, 8192);
  assert.deepEqual([...written.subarray(0x1000, 0x1002)], [1, 2]);
  assert.equal(createHash("sha256").update(written).digest("hex"), summary.sha256);
  assert.equal(report.steps[2].result.data, "00000000000000000000000000000000", "small reads stay");
});

test("the text report goes out while the run goes (in 64 KiB pieces), and the runner keeps no step", () => {
  const n = 3000;
  const path = scenarioFile(
    Array.from(
      { length: n },
      (_, i) => `  - cpu: { read: 0x${(i * 8).toString(16)}, length: 8 }\n`,
    ).join(""),
  );
  let out = "";
  let kept: boolean | undefined;
  let printedBeforeLastStep = "";
  const code = main(
    ["run", path],
    (s) => (out += s),
    () => {},
    {
      deps: {
        runScenario: (scenario, options?: RunOptions) => {
          kept = options?.keepSteps;
          return runScenario(scenario, {
            ...options,
            beforeStep: (i) => {
              if (i === n - 1) printedBeforeLastStep = out;
            },
          });
        },
      },
    },
  );
  assert.equal(code, 0);
  assert.equal(kept, false);
  assert.match(printedBeforeLastStep, /^scenario large/);
  assert.match(printedBeforeLastStep, /^ {2}ok +1\. cpu memory read 0x0 0{16}$/m);
  assert.match(out, new RegExp(`^  ok +${n}\\. cpu memory read `, "m"));
  assert.match(out, new RegExp(`^steps: ${n} ok$`, "m"));
});

test("with keepSteps false the report holds no step but counts every one", () => {
  const path = scenarioFile(
    "  - cpu: { read: 0x0, length: 8 }\n  - cpu: { read: 0x8, length: 8 }\n",
  );
  const seen: number[] = [];
  const r = cli(["run", path, "--quiet"], {
    deps: {
      runScenario: (scenario, options?: RunOptions) => {
        const result = runScenario(scenario, {
          ...options,
          afterStep: (i, s, m) => {
            seen.push(s.step);
            options?.afterStep?.(i, s, m);
          },
        });
        assert.equal(result.report.steps.length, 0);
        assert.equal(result.report.summary.steps, 2);
        return result;
      },
    },
  });
  assert.equal(r.code, 0);
  assert.deepEqual(seen, [1, 2]);
});

test("the HTML page draws a million host mapping runs as at most 1500 bars that count their entries", () => {
  const { report } = runScenario(loadScenario(SEED_SCENARIO, "seed"));
  const n = 1_000_000;
  const mappings = Array.from({ length: n }, (_, i) => ({
    iova: `0x${(i * 0x1000).toString(16)}`,
    size: "0x1000",
    gpa: "0x0",
    hva: "0x7fff00000000",
    perm: "rw" as const,
  }));
  const big: Report = {
    ...report,
    host: { ...report.host, containers: [{ ...report.host.containers[0], mappings }] },
  };
  const html = renderReportHtml(big);
  assert.ok(html.length < 1_000_000, `page of ${html.length} characters`);
  const host = reportView(big)
    .frames.at(-1)!
    .spaces[0].lanes.find((l) => l.role === "host-map")!;
  assert.equal(host.runs, n);
  assert.ok(host.bars.length <= 1500);
  assert.equal(
    host.bars.reduce((sum, b) => sum + (b.n ?? 0), 0),
    n,
  );
});

test("a step longer than a second shows progress on stderr when it is a terminal, and nothing when not", () => {
  const path = scenarioFile(
    "  - cpu: { read: 0x0, length: 8 }\n  - cpu: { read: 0x8, length: 8 }\n  - cpu: { read: 0x10, length: 8 }\n",
  );
  const withClock = (stderrIsTTY: boolean) => {
    let now = 0;
    return cli(["run", path, "--quiet"], {
      stderrIsTTY,
      deps: {
        now: () => now,
        // Each step takes two seconds of the fake clock.
        runScenario: (scenario, options?: RunOptions) =>
          runScenario(scenario, {
            ...options,
            beforeStep: () => {
              now += 2000;
            },
          }),
      },
    });
  };
  const tty = withClock(true);
  assert.equal(tty.code, 0);
  assert.equal(tty.out, "ok\n");
  assert.match(tty.err, /iova: step 2\/3: cpu \(line 6\)/);
  assert.match(tty.err, /iova: step 3\/3 \(cpu, line 7\) took 2\.0 s\n/);
  assert.equal(withClock(false).err, "");
});

test("a single step that runs longer than a second says on a terminal that it is still going", () => {
  // The hot-plug replays 32768 valid TCEs into the host: the runner hears of the work twice.
  const path = scenarioFile(
    "  - hcall: H_STUFF_TCE\n    args: { liobn: 0x80000000, ioba: 0x0, tce_value: 0x3, npages: 32768 }\n" +
      '  - device_add: { id: hd0, driver: vfio-pci, host: "0001:00:00.0" }\n',
  );
  let now = 0;
  let ticks = 0;
  const r = cli(["run", path, "--quiet"], {
    stderrIsTTY: true,
    deps: {
      now: () => now,
      // Each report of work takes 1.5 s of the fake clock.
      runScenario: (scenario, options?: RunOptions) =>
        runScenario(scenario, {
          ...options,
          onWork: () => {
            ticks++;
            now += 1500;
            options?.onWork?.();
          },
        }),
    },
  });
  assert.equal(r.code, 0, r.err);
  assert.equal(ticks, 2);
  assert.match(r.err, /iova: step 2\/2: device_add \(line 7\) running 1\.5 s/);
  assert.match(r.err, /iova: step 2\/2: device_add \(line 7\) running 3\.0 s/);
  assert.match(r.err, /iova: step 2\/2 \(device_add, line 7\) took 3\.0 s\n/);
});

test("--json streams the steps too: the runner keeps none, and the JSON is the whole report", () => {
  for (const steps of [
    "  []\n",
    '  - cpu: { read: 0x0, length: 8 }\n  - cpu: { write: 0x0, data: "01" }\n',
  ]) {
    const path = scenarioFile(steps);
    let kept: boolean | undefined;
    const r = cli(["run", path, "--json"], {
      deps: {
        runScenario: (scenario, options?: RunOptions) => {
          kept = options?.keepSteps;
          return runScenario(scenario, options);
        },
      },
    });
    assert.equal(r.code, 0, r.err);
    assert.equal(kept, false);
    const whole = runScenario(loadScenario(readFileSync(path, "utf8"), path)).report;
    assert.deepEqual(JSON.parse(r.out), JSON.parse(JSON.stringify(whole)));
  }
});

test("iova run --html of 16384 entries draws them as counted bars that agree and says where the timeline stops", () => {
  const path = join(mkdtempSync(join(tmpdir(), "iova-html-")), "s.yaml");
  writeFileSync(
    path,
    `name: many-entries
machine:
  memory: 8G
  devices:
    - { id: usb0, driver: qemu-xhci }
    - { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
steps:
  - rtas: ibm,create-pe-dma-window
    device: usb0
    page_shift: 12
    window_shift: 33
  - hcall: H_STUFF_TCE
    args: { liobn: 0x80000001, ioba: 0x800000000000000, tce_value: 0x3, npages: 0x4000 }
`,
  );
  const html = join(mkdtempSync(join(tmpdir(), "iova-html-")), "page.html");
  const r = cli(["run", path, "--quiet", "--html", html]);
  assert.equal(r.code, 0, r.err);
  const page = readFileSync(html, "utf8");
  assert.ok(page.length < 1_000_000, `page of ${page.length} characters`);
  // 16384 entries all pointing at page 0 are 16384 runs on each side, drawn as counted bars that
  // agree.
  assert.equal(page.match(/"runs":16384/g)?.length, 2);
  assert.doesNotMatch(page, /"k":"(wrong|missing|extra)"/);
  assert.match(page, /the timeline stops at step 1: step 2 leaves more than 10000 mapping runs\./);
});
