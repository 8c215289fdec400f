/**
 * The HTML report is a pure function of the report: the seed's windows and entries are in the
 * page's view data beside the host's, all agreeing; under the 2016 behaviour the disagreements
 * are classified and explained in words with both addresses; a type1 host that covers the
 * default window does not call it missing; a million scattered entries make a page under 5 MB
 * whose lanes say how many runs each merged bar holds.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { SEED_SCENARIO } from "../../src/scenario/seed.ts";
import { renderReportHtml } from "../../src/view/html.ts";
import { formatSize, MAX_BARS, type ReportView, reportView } from "../../src/view/model.ts";
import { Axis } from "../../src/view/page/draw.ts";
import { largeRunReport } from "./large-run.ts";

const seed = (behaviour?: "qemu-2016-prefix") =>
  runScenario(loadScenario(SEED_SCENARIO, "seed"), { behaviour }).report;
const example = (name: string) => {
  const file = join(import.meta.dirname, "../../examples", name);
  return runScenario(loadScenario(readFileSync(file, "utf8"), file)).report;
};
const lane = (v: ReportView, role: string) =>
  v.frames[v.frames.length - 1].spaces[0].lanes.find((l) => l.role === role)!;
const embedded = (html: string) =>
  JSON.parse(
    /<script type="application\/json" id="iova-view">(.*?)<\/script>/s.exec(html)![1],
  ) as ReportView;

test("the seed's two windows and its entries are drawn beside the host's, all agreeing", () => {
  const v = reportView(seed());
  assert.deepEqual(
    lane(v, "guest-window").bars.map((b) => [b.s, b.z, b.w, b.k]),
    [
      ["0x0", "0x40000000", "0x80000000", "ok"],
      ["0x800000000000000", "0x100000000", "0x80000001", "ok"],
    ],
  );
  assert.ok(lane(v, "guest-map").bars.length > 0);
  assert.ok(lane(v, "host-map").bars.every((b) => b.k === "ok"));
  assert.ok(lane(v, "guest-map").bars.every((b) => b.k === "ok"));
  assert.deepEqual(
    lane(v, "host-window").bars.map((b) => [b.s, b.z, b.k]),
    [
      ["0x0", "0x40000000", "ok"],
      ["0x800000000000000", "0x100000000", "ok"],
    ],
  );
  assert.deepEqual(v.findings, []);
});

test("the page embeds its view as JSON, and says the verdict", () => {
  const report = seed();
  const html = renderReportHtml(report);
  assert.deepEqual(embedded(html), JSON.parse(JSON.stringify(reportView(report))));
  assert.match(html, /<span class="verdict ok">ok<\/span>/);
  assert.match(html, /Guest and host agree at every bus address/);
});

test("under qemu-2016-prefix both addresses of each disagreement are written out, and why", () => {
  const v = reportView(seed("qemu-2016-prefix"));
  assert.equal(v.ok, false);
  const guest = lane(v, "guest-map").bars;
  // Bus 0 of the default window: the guest says 0x12345000, the host's replayed DDW entry says 0.
  const at0 = guest.find((b) => b.s === "0x0")!;
  assert.equal(at0.k, "wrong");
  assert.equal(at0.t, "0x12345000");
  assert.match(at0.why!, /guest physical 0x12345000.*the host maps bus 0x0 to guest physical 0x0/);
  // The DDW's first entries: nothing on the host at their bus address; the host has them at 0.
  const ddw = guest.find((b) => b.s === "0x800000000000000")!;
  assert.equal(ddw.k, "missing");
  assert.match(
    ddw.why!,
    /maps guest physical 0x0 at bus 0x0 instead: the host mapping lacks the window offset 0x800000000000000/,
  );
  assert.equal(lane(v, "host-map").bars.find((b) => b.s === "0x0")?.k, "wrong");
  assert.equal(v.findings[0].bus, "0x0");
  assert.ok(v.findings.some((f) => /lacks the window offset 0x800000000000000/.test(f.text)));
  const html = renderReportHtml(seed("qemu-2016-prefix"));
  assert.match(html, /<span class="verdict FAILED">FAILED<\/span>/);
  assert.match(html, /<h2>What went wrong<\/h2>/);
  assert.match(html, /shadow: \d+ violations/);
});

test("a type1 host whose IOVA range covers the default window does not call it missing", () => {
  const v = reportView(example("b2-iova-above-host-iommu-width.yaml"));
  const windows = lane(v, "guest-window").bars;
  assert.equal(windows.find((b) => b.s === "0x0")?.k, "ok");
  assert.equal(windows.find((b) => b.s === "0x800000000000000")?.k, "missing");
  assert.match(v.findings[0].text, /bus 0x800000000000000 lies outside every host IOMMU window/);
  assert.match(v.findings[0].text, /MAP_DMA\(iova=0x800000000000000.*= -EINVAL/);
});

test("steps are told in words with what they changed, not as JSON", () => {
  const report = example("e04-seed-2016-prefix.yaml");
  const html = renderReportHtml(report);
  assert.doesNotMatch(html, /\{&quot;/);
  const v = reportView(report);
  assert.equal(v.steps[1].text, "H_PUT_TCE_INDIRECT returned H_SUCCESS (6 entries written)");
  assert.match(v.steps[7].changes.join("\n"), /^ioctls: GROUP_SET_CONTAINER/m);
});

test("the timeline's frames say what each step added", () => {
  const report = seed();
  const v = reportView(report, {
    timeline: [
      { label: "after step 1", state: { guest: { windows: [] }, host: report.host } },
      { label: "after step 2", state: report },
    ],
  });
  assert.equal(v.frames.length, 3);
  assert.match(
    v.steps[1].changes.join("\n"),
    /guest window 0x80000000 added at 0x0 \(1 GiB, 4 KiB pages\)/,
  );
  assert.equal(v.steps[1].frame, 1);
});

test("a million scattered entries make a page under 5 MB; merged bars count their runs", () => {
  const report = largeRunReport(1_000_000, true);
  const html = renderReportHtml(report);
  assert.ok(html.length < 5_000_000, `page of ${html.length} bytes`);
  const v = embedded(html);
  const guest = lane(v, "guest-map");
  assert.equal(guest.runs, 1_000_000);
  assert.ok(guest.bars.length <= MAX_BARS);
  assert.equal(
    guest.bars.reduce((n, b) => n + (b.n ?? 0), 0),
    1_000_000,
    "every entry is counted in some bar",
  );
  assert.ok(guest.bars.every((b) => (b.r ?? 1) > 1));
});

test("the page needs no network: no external URL, script or stylesheet", () => {
  const html = renderReportHtml(seed());
  assert.doesNotMatch(html, /(src|href)="https?:/);
});

test("the axis keeps ranges in order, widens larger windows, compresses the gaps", () => {
  const axis = new Axis([
    { start: 0n, end: 0x40000000n },
    { start: 1n << 59n, end: (1n << 59n) + (1n << 32n) },
  ]);
  assert.ok(axis.u(0n) < axis.u(0x3fffffffn));
  assert.ok(axis.u(0x3fffffffn) < axis.u(1n << 59n));
  const width = (s: bigint, e: bigint) => axis.u(e) - axis.u(s);
  assert.ok(width(1n << 59n, (1n << 59n) + (1n << 32n)) > width(0n, 0x40000000n));
  // Inside a window the scale is linear: halves are equal.
  assert.ok(Math.abs(width(0n, 0x20000000n) - width(0x20000000n, 0x40000000n)) < 1e-9);
  assert.deepEqual(
    axis.segments.filter((s) => s.gap).map((s) => formatSize(s.size)),
    [formatSize((1n << 59n) - 0x40000000n), formatSize((1n << 64n) - (1n << 59n) - (1n << 32n))],
  );
  // A single page far inside the 2^59 window still maps to distinct units.
  const a = (1n << 59n) + 0x12345000n;
  assert.ok(axis.u(a + 0x1000n) > axis.u(a));
  assert.equal(axis.addr(axis.u(0x20000000n)), 0x20000000n);
});

test("sizes print in the largest exact unit", () => {
  assert.deepEqual([0x1000n, 0x40000000n, 3n << 30n, 0x1001n].map(formatSize), [
    "4 KiB",
    "1 GiB",
    "3 GiB",
    "4097 B",
  ]);
});
