/**
 * `iova trace`: the recorded Linux boot replays to ok; a malformed or truncated line is
 * `LOG:line:column: expected …` with exit 2 and no stack trace; --json, --scenario and --html
 * write what they say; a divergence exits 1.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runCli } from "./run-cli.ts";

const example = join(import.meta.dirname, "../../examples/trace/linux-6.1-xhci-4g");
const log = join(example, "trace.log");
const cmdline = join(example, "cmdline.txt");
const tmp = mkdtempSync(join(tmpdir(), "iova-trace-"));
const recorded = readFileSync(log, "utf8");

test("the recorded boot replays to ok, printing windows, comparison and what the log does not say", () => {
  const r = runCli("trace", log, "--machine", cmdline);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /PHB 0 liobn 0x80000001: 0x800000000000000 \+0x100000000, 16384 KiB pages/);
  assert.match(r.out, /no divergence/);
  assert.match(r.out, /window 0x80000001: 255 entries unknown at the end/);
  assert.match(r.out, /trace verdict: ok/);
});

test("a malformed line is LOG:line:column with exit 2", () => {
  const bad = join(tmp, "bad.log");
  const lines = recorded.split("\n");
  lines[9] = "spapr_iommu_pci_put liobn=0x80000000 ioba=0x1000 tce=0x7e373003 ret=zero";
  writeFileSync(bad, lines.join("\n"));
  const r = runCli("trace", bad, "--machine", cmdline);
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.equal(
    r.err,
    `iova: ${bad}:10:69: expected a signed decimal number in spapr_iommu_pci_put (format "liobn=0x%lx ioba=0x%lx tce=0x%lx ret=%ld")\n`,
  );
});

test("a log cut in the middle of a line is refused at that line, not a crash", () => {
  const cut = join(tmp, "cut.log");
  const end = recorded.indexOf("ddw_create") + 40;
  writeFileSync(cut, recorded.slice(0, end));
  const r = runCli("trace", cut, "--machine", cmdline);
  assert.equal(r.code, 2);
  assert.match(r.err, new RegExp(`^iova: ${cut}:\\d+:\\d+: expected `));
});

test("a command line iova cannot read is CMDLINE:line with exit 2", () => {
  const bad = join(tmp, "cmdline-bad.txt");
  writeFileSync(bad, "qemu-system-ppc64 \\\n  -M pseries \\\n  -m 'four gigs'\n");
  const r = runCli("trace", log, "--machine", bad);
  assert.equal(r.code, 2);
  assert.equal(r.err, `iova: ${bad}:3: -m: expected a size like 4G or 4096; got 'four gigs'\n`);
  const x86 = join(tmp, "cmdline-x86.txt");
  writeFileSync(x86, "qemu-system-x86_64 -M q35\n");
  assert.match(
    runCli("trace", log, "--machine", x86).err,
    /:1: expected a qemu-system-ppc64 command line/,
  );
});

test("--scenario writes the rebuilt scenario, which loads and runs to the same windows", () => {
  const out = join(tmp, "rebuilt.yaml");
  const json = runCli("trace", log, "--machine", cmdline, "--scenario", out, "--json");
  assert.equal(json.code, 0);
  const result = JSON.parse(json.out);
  assert.equal(result.ok, true);
  const again = runCli("run", out, "--json");
  assert.equal(again.code, 0);
  assert.deepEqual(JSON.parse(again.out).guest, result.report.guest);
  assert.equal(loadScenario(readFileSync(out, "utf8"), out).steps.length, result.steps);
});

test("--html writes a page", () => {
  const out = join(tmp, "trace.html");
  assert.equal(runCli("trace", log, "--machine", cmdline, "--html", out, "--quiet").code, 0);
  assert.match(readFileSync(out, "utf8"), /^<!doctype html>/i);
});

test("a translation the model does not give exits 1 and is shown with its line", () => {
  const wrong = join(tmp, "wrong.log");
  writeFileSync(
    wrong,
    recorded.replace("0x4000 -> 0x7e370000 perm=3", "0x4000 -> 0x7e371000 perm=3"),
  );
  const r = runCli("trace", wrong, "--machine", cmdline);
  assert.equal(r.code, 1);
  assert.match(
    r.out,
    /wrong\.log:6: spapr_iommu_xlate liobn=0x80000000 0x4000 -> 0x7e371000 perm=3 mask=0xfff\n\s+model: spapr_iommu_xlate liobn=0x80000000 0x4000 -> 0x7e370000 perm=3 mask=0xfff/,
  );
  assert.match(r.out, /trace verdict: FAILED/);
});

test("trace needs one LOG and --machine", () => {
  assert.equal(runCli("trace").code, 2);
  assert.match(runCli("trace", log).err, /--machine CMDLINE-FILE/);
  assert.match(
    runCli("trace", log, "--machine", cmdline, "--assume", "guess").err,
    /--assume <assumption>' argument 'guess' is invalid\. Allowed choices are none, linear/,
  );
});
