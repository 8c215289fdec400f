/**
 * `iova run` and `iova check`: the seed's verdict and exit codes, the 2016 behaviour, JSON, quiet,
 * and the trace of typed events.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runCli } from "./run-cli.ts";

const run = runCli;

test("iova run with no scenario runs the seed and exits 0 with its verdict", () => {
  const r = run("run");
  assert.equal(r.code, 0);
  assert.match(r.out, /scenario seed-hotplug-after-ddw/);
  assert.match(r.out, /map 0x800000000000000 \+0x100000000 -> gpa 0x0 rw/);
  assert.match(r.out, /verdict: ok\n$/);
});

test("--behaviour qemu-2016-prefix shows the bug and exits 1", () => {
  const r = run("run", "--behaviour", "qemu-2016-prefix");
  assert.equal(r.code, 1);
  assert.match(r.out, /FAIL shadow/);
  assert.match(
    r.out,
    /vfio_dma_map\(0x[0-9a-f]+, 0x40000000, 0x1000000, 0x7fff40000000\) = -6 \(No such device or address\)/,
  );
});

test("--quiet prints only the verdict; check prints the invariants", () => {
  assert.equal(run("run", "--quiet").out, "ok\n");
  const seed = join(import.meta.dirname, "../../examples/e03-seed-hotplug-after-ddw.yaml");
  assert.equal(run("check", seed).out, "ok   shadow\nok   isolation\nok   accounting\nok\n");
});

test("--trace-file writes one JSON event per line, in order", () => {
  const file = join(mkdtempSync(join(tmpdir(), "iova-trace-")), "trace.jsonl");
  assert.equal(run("run", "--quiet", "--trace-file", file).code, 0);
  const events = readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i),
  );
  const kinds = new Set(events.map((e) => e.event));
  for (const k of [
    "step",
    "rtas",
    "hcall",
    "memory_region_notify_iommu",
    "vfio_listener_region_add_iommu",
    "vfio_spapr_create_window",
    "vfio_iommu_map_notify",
    "ioctl",
  ]) {
    assert.ok(kinds.has(k), `trace has ${k}`);
  }
  const create = events.find(
    (e) => e.event === "vfio_spapr_create_window" && e.start === "0x800000000000000",
  );
  assert.deepEqual(
    { page_shift: create.page_shift, levels: create.levels },
    { page_shift: 16, levels: 1 },
  );
});

test("a bad flag value is a usage error", () => {
  const r = run("run", "--behaviour", "qemu-1.0");
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /^iova: option .--behaviour <name>. argument .qemu-1\.0. is invalid\. Allowed choices are qemu-7\.2, qemu-2016-prefix/,
  );
});

test("step numbers count from 1 in the text, the JSON, the trace and the HTML page", () => {
  const dir = mkdtempSync(join(tmpdir(), "iova-steps-"));
  const trace = join(dir, "trace.jsonl");
  const html = join(dir, "page.html");
  const text = run("run");
  assert.match(text.out, /^ {2}ok {5}1\. rtas ibm,write-pci-config /m);
  const report = JSON.parse(run("run", "--json").out);
  assert.deepEqual(
    report.steps.map((s: { step: number }) => s.step),
    report.steps.map((_: unknown, i: number) => i + 1),
  );
  assert.equal(run("run", "--quiet", "--trace-file", trace, "--html", html).code, 0);
  const events = readFileSync(trace, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const stepEvents = events.filter((e) => e.event === "step");
  assert.deepEqual(
    stepEvents.map((e) => e.step),
    report.steps.map((s: { step: number }) => s.step),
  );
  assert.ok(events.every((e) => e.step >= 0 && e.step <= report.steps.length));
  const page = readFileSync(html, "utf8");
  assert.match(
    page,
    /<li class="step ok"[^>]*><span class="mark" title="succeeded">✓<\/span> <b>1\.<\/b> rtas /,
  );
  assert.match(page, /after step 1: rtas ibm,write-pci-config/);
});

test("iova help run says which parts of qemu-2016-prefix come from which code", () => {
  const r = run("help", "run");
  assert.match(r.out, /qemu-2016-prefix\s+plays the tree just before QEMU commit d78c19b5cf/);
  assert.match(r.out, /replay walks the window at\s+the container's smallest IOMMU page/);
  assert.match(
    r.out,
    /window creation \(the RTAS DDW calls, host\s+windows created before replay\) is 7\.2's/,
  );
});
