/**
 * The HTML report in a real browser (Debian's chromium, driven by playwright-core): every example
 * loads without a script error and shows its verdict and its map; the 2016 example writes out the
 * two addresses of its first mismatch and draws it; zoom (buttons, wheel, keys), pan (keys, drag)
 * and a click on a finding move the view; hover describes a bar; the timeline scrubs with the
 * keyboard; a type1 host's default window is not marked missing; a page of a million scattered
 * entries draws with its merged bars counted; q35 pages draw a lane per device's VT-d or
 * virtio-iommu mappings, the x01 page its NIC's agreeing with the host. Screenshots go to
 * test-artifacts/.
 */
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { main } from "../../src/cli/main.ts";
import { renderReportHtml } from "../../src/view/html.ts";
import type { ReportView } from "../../src/view/model.ts";
import { largeRunReport } from "./large-run.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const artifacts = join(import.meta.dirname, "../../test-artifacts");
const examples = join(import.meta.dirname, "../../examples");
let browser: Browser;

function report(...args: string[]): string {
  const file = join(mkdtempSync(join(tmpdir(), "iova-html-")), "report.html");
  main(
    ["run", "--quiet", "--html", file, ...args],
    () => {},
    () => {},
  );
  return file;
}

/**
 * Opens a page and collects its script errors; waits for its first bar unless told the page may
 * have none (a q35 machine that did not start, or whose devices' DMA nothing translates).
 */
async function open(file: string, bars = true): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`file://${file}`);
  await page
    .locator(bars ? "#map svg g.bar" : "#map svg")
    .first()
    .waitFor();
  return { page, errors };
}

/** The shown range, read once the page has drawn (it redraws on the next animation frame). */
const view = async (page: Page) => {
  await page.evaluate(
    () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))),
  );
  return {
    from: BigInt((await page.locator("#map").getAttribute("data-from")) ?? "0x0"),
    to: BigInt((await page.locator("#map").getAttribute("data-to")) ?? "0x0"),
  };
};

before(async () => {
  assert.ok(CHROMIUM, "chromium is installed (.ci/run installs Debian's chromium)");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, ".keep"), "");
});

after(async () => {
  await browser?.close();
});

describe("every example's page loads with its verdict and its map", () => {
  for (const name of readdirSync(examples).filter((f) => f.endsWith(".yaml"))) {
    test(name, async () => {
      const text = readFileSync(join(examples, name), "utf8");
      const meantToFail = /demonstrates a failure|meant to fail|exits 1/.test(
        text.split("\nname:")[0],
      );
      const q35 = /^\s+type: q35$/m.test(text);
      const { page, errors } = await open(report(join(examples, name)), !q35);
      assert.deepEqual(errors, []);
      const verdict = await page.locator(".verdict").textContent();
      if (meantToFail) assert.equal(verdict, "FAILED");
      if (q35) {
        // q35 has no windows: a lane per device's guest IOMMU mappings, named by the IOMMU.
        const shown = JSON.parse(
          (await page.locator("#iova-view").textContent()) ?? "{}",
        ) as ReportView;
        const lanes = shown.frames[shown.frames.length - 1].spaces.length;
        assert.equal(
          await page.locator("#map text.lane", { hasText: /^(VT-d|virtio-iommu)/ }).count(),
          lanes,
          "a guest IOMMU lane per space",
        );
      } else
        assert.ok((await page.locator("#map svg g.bar.guest.window").count()) > 0, "guest windows");
      const refused = await page.locator("#iova-view").textContent();
      // A machine QEMU refuses to start runs no step.
      if (!(JSON.parse(refused ?? "{}") as ReportView).error)
        assert.ok((await page.locator("ol.steps li.step").count()) > 0, "steps listed");
      if (await page.locator("#map text.lane", { hasText: "host IOMMU mappings" }).count()) {
        // With a host, either the findings or the agreement sentence says how they compare.
        const said =
          (await page.locator(".findings li").count()) + (await page.locator(".agree").count());
        assert.ok(said > 0, "findings or agreement");
      }
      await page.close();
    });
  }
});

test("the 2016 example writes out both addresses of its first mismatch and draws them", async () => {
  const { page } = await open(report(join(examples, "e04-seed-2016-prefix.yaml")));
  assert.equal(await page.locator(".verdict").textContent(), "FAILED");
  const first = (await page.locator(".findings li").first().textContent()) ?? "";
  assert.match(first, /bus 0x0 to guest physical 0x12345000/);
  assert.match(first, /the host maps bus 0x0 to guest physical 0x0/);
  assert.match(
    (await page.locator(".findings").textContent()) ?? "",
    /the host mapping lacks the window offset 0x800000000000000/,
  );
  assert.equal(
    await page.locator('#map g.bar.k-wrong[data-role="guest-map"][data-start="0x0"]').count(),
    1,
  );
  assert.equal(
    await page
      .locator('#map g.bar.k-missing[data-role="guest-map"][data-start="0x800000000000000"]')
      .count(),
    1,
  );
  await page.screenshot({ path: join(artifacts, "e04-2016-report.png"), fullPage: true });
  // A click on the finding of the DDW's first entries zooms the map to them.
  await page.locator('.findings li[data-bus="0x800000000000000"]').click();
  const v = await view(page);
  assert.ok(v.from <= 0x800000000000000n && v.to >= 0x80000000005ffffn, `${v.from}-${v.to}`);
  assert.ok(v.to - v.from < 0x100000n, "zoomed to pages");
  await page.locator('#map g.bar[data-role="guest-map"][data-start="0x800000000000000"]').hover();
  assert.match(
    (await page.locator("#detail").textContent()) ?? "",
    /guest entries: bus 0x800000000000000–0x80000000005ffff \(384 KiB\), 6 entries → guest physical 0x0 \(rw\); MISSING on the host/,
  );
  await page.locator("#map").screenshot({ path: join(artifacts, "e04-2016-zoomed.png") });
  await page.close();
});

test("zoom and pan move the view: buttons, keys, wheel and drag; Tab describes a bar", async () => {
  const { page } = await open(report(join(examples, "e04-seed-2016-prefix.yaml")));
  const whole = await view(page);
  assert.equal(whole.from, 0n);
  assert.equal(whole.to, (1n << 64n) - 1n);
  await page.locator('#map button[data-act="in"]').click();
  const zoomed = await view(page);
  assert.ok(zoomed.to - zoomed.from < whole.to - whole.from, "the + button zooms in");
  const svg = page.locator("#map svg");
  // Tab reaches the bars: the focused one is described in full.
  await svg.focus();
  await page.keyboard.press("Tab");
  assert.match(
    (await page.locator("#detail").textContent()) ?? "",
    /^guest DMA window LIOBN 0x80000001: bus 0x800000000000000–0x8000000ffffffff \(4 GiB\), 64 KiB pages, 8 valid entries; a host IOMMU window covers it$/,
  );
  await svg.focus();
  await page.keyboard.press("+");
  await page.keyboard.press("+");
  const keyed = await view(page);
  assert.ok(keyed.to - keyed.from < zoomed.to - zoomed.from, "+ zooms in");
  await page.keyboard.press("ArrowRight");
  const panned = await view(page);
  assert.ok(panned.from > keyed.from, "→ pans right");
  await page.keyboard.press("-");
  const out = await view(page);
  assert.ok(out.to - out.from > panned.to - panned.from, "- zooms out");
  await page.keyboard.press("0");
  assert.deepEqual(await view(page), whole);
  const box = (await svg.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.4, box.y + 60);
  await page.mouse.wheel(0, -400);
  await page.waitForFunction(
    () => document.querySelector("#map")?.getAttribute("data-from") !== "0x0",
  );
  const wheeled = await view(page);
  assert.ok(wheeled.to - wheeled.from < whole.to - whole.from, "the wheel zooms in");
  await page.mouse.move(box.x + box.width * 0.5, box.y + 60);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.2, box.y + 60, { steps: 5 });
  await page.mouse.up();
  const dragged = await view(page);
  assert.ok(dragged.from > wheeled.from, "dragging left pans right");
  await page.close();
});

test("the seed's timeline scrubs with the keyboard and says what each step changed", async () => {
  const { page } = await open(report());
  const slider = page.locator("#timeline");
  await slider.focus();
  await page.keyboard.press("Home");
  assert.equal(
    await page.locator("#timeline-label").textContent(),
    "after step 1: rtas ibm,write-pci-config",
  );
  const window = '#map g.bar.guest.window[data-start="0x800000000000000"]';
  assert.equal(await page.locator(window).count(), 0);
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  assert.match(
    (await page.locator("#timeline-label").textContent()) ?? "",
    /^after step 3: rtas ibm,create-pe-dma-window/,
  );
  assert.equal(await page.locator(window).count(), 1);
  assert.match(
    (await page.locator("#changes").textContent()) ?? "",
    /guest window 0x80000001 added at 0x800000000000000/,
  );
  await page.keyboard.press("End");
  await page.locator('#map g.bar.host.window[data-start="0x800000000000000"]').hover();
  assert.match(
    (await page.locator("#detail").textContent()) ?? "",
    /host IOMMU window: bus 0x800000000000000–0x8000000ffffffff \(4 GiB\), 64 KiB pages/,
  );
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.ok(overflow <= 0, `horizontal scroll of ${overflow}px`);
  await page.close();
});

test("the x01 page draws the NIC's VT-d lane beside the host's mappings, agreeing", async () => {
  const { page, errors } = await open(report(join(examples, "x01-q35-vtd-map.yaml")));
  assert.deepEqual(errors, []);
  assert.equal(await page.locator(".verdict").textContent(), "ok");
  assert.equal(
    await page.locator("#map text.lane", { hasText: "VT-d domain 1 (device nic)" }).count(),
    1,
  );
  assert.equal(await page.locator("#map text", { hasText: /TCE|LIOBN|PHB/ }).count(), 0);
  // What the scenario leaves: 0x101000 → guest physical 0x201000, on both sides.
  const guest = page.locator('#map g.bar.k-ok.guest[data-role="guest-map"][data-start="0x101000"]');
  assert.equal(await guest.count(), 1);
  assert.equal(
    await page.locator('#map g.bar.k-ok[data-role="host-map"][data-start="0x101000"]').count(),
    1,
  );
  assert.equal(await page.locator("#map g.bar.k-missing, #map g.bar.k-extra").count(), 0);
  await page.screenshot({ path: join(artifacts, "x01-q35-vtd-report.png"), fullPage: true });
  // Focus describes the bar (a 4 KiB run in a 256 TiB host window is too thin to hover).
  await guest.focus();
  assert.match(
    (await page.locator("#detail").textContent()) ?? "",
    /bus 0x101000.* → guest physical 0x201000 \(rw\)/,
  );
  await page.close();
});

test("the v3 page marks the 4 KiB virtio-iommu MAP the host refused as missing, in words", async () => {
  const { page } = await open(
    report(join(examples, "v3-virtio-iommu-map-finer-than-host-page.yaml")),
  );
  assert.equal(await page.locator(".verdict").textContent(), "FAILED");
  assert.equal(
    await page.locator('#map g.bar.k-missing[data-role="guest-map"][data-start="0x1000"]').count(),
    1,
  );
  assert.match(
    (await page.locator(".findings").textContent()) ?? "",
    /the guest maps bus 0x1000 to guest physical 0x200000 \(rw\); the host has nothing there/,
  );
  await page.close();
});

test("a type1 host covering the default window does not mark it missing", async () => {
  const { page } = await open(report(join(examples, "b2-iova-above-host-iommu-width.yaml")));
  assert.equal(await page.locator('#map g.bar.guest.window.k-ok[data-start="0x0"]').count(), 1);
  assert.equal(
    await page.locator('#map g.bar.guest.window.k-missing[data-start="0x800000000000000"]').count(),
    1,
  );
  assert.match(
    (await page.locator(".findings").textContent()) ?? "",
    /lies outside every host IOMMU window/,
  );
  await page.screenshot({ path: join(artifacts, "b2-type1-report.png"), fullPage: false });
  await page.close();
});

test("a page of a million scattered entries draws, its merged bars counting their runs", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "iova-large-")), "large.html");
  writeFileSync(file, renderReportHtml(largeRunReport(1_000_000, true)));
  const { page, errors } = await open(file);
  assert.deepEqual(errors, []);
  assert.equal(
    await page.locator("#map text.lane", { hasText: "1000000 runs drawn as 1500 bars" }).count(),
    2,
  );
  await page.locator('#map g.bar[data-role="guest-map"]').first().hover();
  assert.match((await page.locator("#detail").textContent()) ?? "", /runs drawn as one bar/);
  await page.screenshot({ path: join(artifacts, "large-run-report.png"), fullPage: false });
  await page.close();
});

test("an imported info mtree page shows the flat views", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "iova-mtree-")), "mtree.html");
  const example = (f: string) => join(examples, "mtree", f);
  main(
    [
      "mtree",
      "--import",
      example("pseries-xhci-ddw.mtree-D.txt"),
      "--flat",
      example("pseries-xhci-ddw.mtree-f.txt"),
      "--html",
      out,
    ],
    () => {},
    () => {},
  );
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`file://${out}`);
  assert.ok(await page.getByText("tce-iommu-80000001", { exact: true }).first().isVisible());
  await page.screenshot({ path: join(artifacts, "mtree-import.png") });
  await page.close();
});
