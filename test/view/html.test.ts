/**
 * The HTML report is a pure function of the report: the seed's windows at 0x0 and
 * 0x800000000000000 are drawn with their labels beside the host's; under the 2016 behaviour the
 * host's wrong mappings and missing mirrors are marked as differences.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { SEED_SCENARIO } from "../../src/scenario/seed.ts";
import { CompressedAxis, formatSize, renderReportHtml } from "../../src/view/html.ts";

const seed = (behaviour?: "qemu-2016-prefix") =>
  runScenario(loadScenario(SEED_SCENARIO, "seed"), { behaviour }).report;

test("the seed's two windows are drawn with their labels, guest beside host, nothing marked", () => {
  const html = renderReportHtml(seed());
  assert.match(html, /<g class="guest" tabindex="0" data-start="0x0" data-detail=/);
  assert.match(html, /<g class="guest" tabindex="0" data-start="0x800000000000000" data-detail=/);
  assert.match(html, />0x80000001 @ 0x800000000000000</);
  assert.match(
    html,
    /<g class="host" tabindex="0" data-start="0x800000000000000" data-detail="host window 0x800000000000000 \+4 GiB, 64 KiB pages">/,
  );
  assert.doesNotMatch(html, /class="(host differs|missing|map differs)"/);
  assert.match(html, /<span class="verdict ok">ok<\/span>/);
});

test("under qemu-2016-prefix the difference is marked", () => {
  const html = renderReportHtml(seed("qemu-2016-prefix"));
  assert.match(html, /<span class="verdict FAILED">FAILED<\/span>/);
  assert.match(html, /class="map differs"/);
  assert.match(html, /class="guest differs" tabindex="0" data-start="0x800000000000000"/);
  assert.match(html, /shadow: \d+ violations/);
});

test("the page needs no network: no external URL, script or stylesheet", () => {
  const html = renderReportHtml(seed());
  assert.doesNotMatch(html, /(src|href)="https?:/);
});

test("the axis keeps ranges in order and compresses the gaps between them", () => {
  const axis = new CompressedAxis([
    { start: 0n, end: 0x40000000n },
    { start: 1n << 59n, end: (1n << 59n) + (1n << 32n) },
  ]);
  assert.ok(axis.x(0n) < axis.x(0x3fffffffn));
  assert.ok(axis.x(0x3fffffffn) < axis.x(1n << 59n));
  assert.ok(axis.width < 1200, `fits a 1280-pixel window: ${axis.width}`);
  assert.deepEqual(
    axis.gaps().map((g) => formatSize(g.size)),
    [formatSize((1n << 59n) - 0x40000000n), formatSize((1n << 64n) - (1n << 59n) - (1n << 32n))],
  );
});

test("sizes print in the largest exact unit", () => {
  assert.deepEqual([0x1000n, 0x40000000n, 3n << 30n, 0x1001n].map(formatSize), [
    "4 KiB",
    "1 GiB",
    "3 GiB",
    "4097 B",
  ]);
});
