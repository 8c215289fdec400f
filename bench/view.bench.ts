/**
 * The report page at scale, in Chromium (Debian's, through playwright-core): a run with 10^6 TCEs
 * behind an assigned device, scattered (each entry its own run, the worst case) and contiguous
 * (one run). Prints each page's size, the time the page script took to draw the map the first
 * time and to redraw it after a zoom (both measured inside the page), the time from navigation to
 * the map on screen, and the first draw's ratio to the seed report's in the same browser. Run:
 * `node --import tsx bench/view.bench.ts` (it is asynchronous, so not part of `npm run bench`).
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { loadScenario } from "../src/scenario/load.ts";
import { runScenario } from "../src/scenario/run.ts";
import { SEED_SCENARIO } from "../src/scenario/seed.ts";
import { renderReportHtml } from "../src/view/html.ts";
import { largeRunReport } from "../test/view/large-run.ts";
import type { BenchResult } from "./harness.ts";
import { median } from "./harness.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
if (!CHROMIUM) throw new Error("no chromium: scripts/install-chromium.sh installs it");
const dir = mkdtempSync(join(tmpdir(), "iova-view-bench-"));
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});

/** Median over `runs` loads: first draw, redraw after a zoom, navigation to map on screen. */
async function measure(file: string, runs = 5) {
  const draws: number[] = [];
  const redraws: number[] = [];
  const loads: number[] = [];
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const t0 = performance.now();
    await page.goto(`file://${file}`);
    await page.locator("#map svg g.bar").first().waitFor();
    loads.push(performance.now() - t0);
    draws.push(Number(await page.locator("#map").getAttribute("data-draw-ms")));
    redraws.push(
      await page.evaluate(() => {
        const button = document.querySelector<HTMLButtonElement>('#map button[data-act="in"]')!;
        button.click();
        const t = performance.now();
        // The zoom redraws on the next animation frame; force it by waiting for one.
        return new Promise<number>((resolve) =>
          requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t))),
        );
      }),
    );
    await page.close();
  }
  return { draw: median(draws), redraw: median(redraws), load: median(loads) };
}

const results: BenchResult[] = [];
const seedFile = join(dir, "seed.html");
writeFileSync(seedFile, renderReportHtml(runScenario(loadScenario(SEED_SCENARIO, "seed")).report));
const seed = await measure(seedFile);
for (const scattered of [true, false]) {
  const name = scattered ? "scattered" : "contiguous";
  const t0 = performance.now();
  const html = renderReportHtml(largeRunReport(1_000_000, scattered));
  const renderMs = performance.now() - t0;
  const file = join(dir, `${name}.html`);
  writeFileSync(file, html);
  const m = await measure(file);
  results.push(
    {
      name: `view.1e6_${name}_page_mb`,
      value: html.length / 1e6,
      unit: "MB",
      baseline: 5,
      ratio: html.length / 5e6,
      note: "page size; the limit is 5 MB",
    },
    {
      name: `view.1e6_${name}_render_ms`,
      value: renderMs,
      unit: "ms",
      baseline: null,
      ratio: null,
      note: "renderReportHtml in Node (report to page)",
    },
    {
      name: `view.1e6_${name}_draw_ms`,
      value: m.draw,
      unit: "ms",
      baseline: seed.draw,
      ratio: m.draw / seed.draw,
      note: "the page script's first drawing of the map, against the seed report's",
    },
    {
      name: `view.1e6_${name}_redraw_ms`,
      value: m.redraw,
      unit: "ms",
      baseline: seed.redraw,
      ratio: m.redraw / seed.redraw,
      note: "a zoom's redraw (two animation frames)",
    },
    {
      name: `view.1e6_${name}_load_ms`,
      value: m.load,
      unit: "ms",
      baseline: seed.load,
      ratio: m.load / seed.load,
      note: "navigation until the map is on screen",
    },
  );
}
await browser.close();
for (const r of results)
  console.log(
    `${r.name.padEnd(32)} ${r.value.toFixed(r.unit === "MB" ? 2 : 0).padStart(8)} ${r.unit.padEnd(3)} ${r.ratio === null ? "" : `ratio ${r.ratio.toFixed(2)}`}  ${r.note}`,
  );
