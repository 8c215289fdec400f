/**
 * The HTML report in a real browser (Debian's chromium, driven by playwright-core): the seed's
 * windows at 0x0 and 0x800000000000000 are drawn with their labels, the timeline scrubs with the
 * keyboard, hovering a range describes it, the page fits 1280x800 without horizontal scrolling,
 * and a qemu-2016-prefix report marks the mismatch. Screenshots go to test-artifacts/.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { main } from "../../src/cli/main.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const artifacts = join(import.meta.dirname, "../../test-artifacts");
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
});

after(async () => {
  await browser?.close();
});

test("the seed report draws both windows, scrubs, describes on hover, fits 1280x800", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`file://${report()}`);
  const frame = page.locator(".frame:not([hidden])");
  await assert.doesNotReject(frame.locator('g.guest[data-start="0x0"]').waitFor());
  assert.equal(
    await frame.locator('g.guest[data-start="0x800000000000000"] text').textContent(),
    "0x80000001 @ 0x800000000000000",
  );
  assert.equal(await frame.locator('g.host[data-start="0x800000000000000"]').count(), 1);
  // Scrub back to the first step with the keyboard: no DDW yet, no host container.
  const slider = page.locator("#timeline");
  await slider.focus();
  await page.keyboard.press("Home");
  assert.equal(
    await page.locator("#timeline-label").textContent(),
    "after step 1: rtas ibm,write-pci-config",
  );
  assert.equal(
    await page.locator('.frame:not([hidden]) g.guest[data-start="0x800000000000000"]').count(),
    0,
  );
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  assert.match(
    (await page.locator("#timeline-label").textContent()) ?? "",
    /^after step 3: rtas ibm,create-pe-dma-window/,
  );
  assert.equal(
    await page.locator('.frame:not([hidden]) g.guest[data-start="0x800000000000000"]').count(),
    1,
  );
  await page.keyboard.press("End");
  // Hover a range: its description appears.
  await page.locator('.frame:not([hidden]) g.host[data-start="0x800000000000000"]').hover();
  assert.match(
    (await page.locator("#detail").textContent()) ?? "",
    /host window 0x800000000000000 \+4 GiB, 64 KiB pages/,
  );
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.ok(overflow <= 0, `horizontal scroll of ${overflow}px`);
  await page.screenshot({ path: join(artifacts, "seed-report.png"), fullPage: false });
  await page.close();
});

test("a qemu-2016-prefix report marks the mismatch", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`file://${report("--behaviour", "qemu-2016-prefix")}`);
  assert.ok((await page.locator(".frame:not([hidden]) g.differs").count()) >= 2);
  assert.equal(await page.locator(".verdict").textContent(), "FAILED");
  await page.screenshot({ path: join(artifacts, "seed-2016-report.png") });
  await page.close();
});

test("an imported info mtree page shows the flat views", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "iova-mtree-")), "mtree.html");
  const example = (f: string) => join(import.meta.dirname, "../../examples/mtree", f);
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
  writeFileSync(join(artifacts, ".keep"), "");
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`file://${out}`);
  assert.ok(await page.getByText("tce-iommu-80000001", { exact: true }).first().isVisible());
  await page.screenshot({ path: join(artifacts, "mtree-import.png") });
  await page.close();
});
