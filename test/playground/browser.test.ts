/**
 * The playground in a real browser (Debian's chromium through playwright-core), opened as a file
 * with no server: every example runs and shows the verdict `iova run` gives, a recorded `info
 * mtree` dump and a dropped trace log show their maps, a scenario's mistake is marked at its line
 * and column in the editor, and a link restores the state exactly. Screenshots go to
 * test-artifacts/ (playground-*.png).
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
import { after, before, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
// @ts-expect-error: a plain ESM build script without types
import { buildPlayground } from "../../scripts/build-playground.mjs";
import { main } from "../../src/cli/main.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const root = join(import.meta.dirname, "../..");
const artifacts = join(root, "test-artifacts");
const read = (...p: string[]) => readFileSync(join(root, ...p), "utf8");
let browser: Browser;
let pageUrl: string;

before(async () => {
  assert.ok(CHROMIUM, "chromium is installed (.ci/run installs Debian's chromium)");
  // Built here from the sources, as `npm run build` builds dist/playground.html.
  const file = join(mkdtempSync(join(tmpdir(), "iova-playground-")), "playground.html");
  writeFileSync(file, buildPlayground());
  pageUrl = `file://${file}`;
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

/** A new page of the playground; every request it makes is recorded. */
async function open(url = pageUrl): Promise<{ page: Page; requests: string[]; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await settled(page);
  return { page, requests, errors };
}

/** Waits until the page has shown the result of its latest run. */
async function settled(page: Page): Promise<string> {
  await page.waitForFunction(
    () => {
      const v = document.body.dataset.verdict;
      return v !== undefined && v !== "running";
    },
    null,
    { timeout: 60_000 },
  );
  return (await page.locator("body").getAttribute("data-verdict")) ?? "";
}

/** The text the report page in the frame shows (its markup is src/view's to change). */
async function reportText(page: Page): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, not the inlined script's
  return page.frameLocator("#report").locator("body").innerText();
}

/** The verdict `iova run --quiet` prints for an example. */
function cliVerdict(name: string): string {
  let out = "";
  main(
    ["run", "--quiet", join(root, "examples", name)],
    (s) => {
      out += s;
    },
    () => {},
  );
  return out.trim();
}

test("the page opened as a file runs the featured example with no request beyond itself", async (t) => {
  const started = performance.now();
  const { page, requests, errors } = await open();
  const loaded = await page.evaluate(
    () =>
      (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).loadEventEnd,
  );
  t.diagnostic(
    `page loaded in ${Math.round(loaded)} ms; opened and ran the first example in ${Math.round(performance.now() - started)} ms (${await page.locator("#status").textContent()})`,
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(
    requests.filter(
      (u) => !u.startsWith("file://") && !u.startsWith("about:") && !u.startsWith("data:"),
    ),
    [],
  );
  assert.equal(await page.locator("#example").inputValue(), "e04-seed-2016-prefix.yaml");
  assert.equal(await page.locator("#verdict").textContent(), "FAILED");
  // The report page of src/view, checked only for what any version of it shows (its own tests
  // check its drawing): the scenario, its verdict, the failed check, a map.
  const report = await reportText(page);
  for (const words of ["e04-seed-2016-prefix", "FAILED", "shadow"])
    assert.ok(report.includes(words), words);
  assert.ok((await page.frameLocator("#report").locator("svg").count()) > 0);
  assert.match((await page.locator("#mtree-text").textContent()) ?? "", /^address-space: memory/m);
  assert.match((await page.locator("#mtree-flat-text").textContent()) ?? "", /^FlatView #0/m);
  await page.screenshot({ path: join(artifacts, "playground-scenario.png") });
  await page.close();
});

test("every example in examples/ runs in the page and shows the verdict iova run gives", async () => {
  const { page } = await open();
  const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml"));
  assert.equal(await page.locator("#example option").count(), examples.length + 1);
  for (const name of examples) {
    await page.locator("#example").selectOption(name);
    const verdict = await settled(page);
    assert.equal(verdict, cliVerdict(name), name);
    assert.equal(await page.locator("#verdict").textContent(), verdict);
    const scenarioName = (/^name: (\S+)/m.exec(read("examples", name)) ?? [])[1];
    const report = await reportText(page);
    assert.ok(
      report.includes(scenarioName) && report.includes(verdict),
      `${name}: the report's verdict`,
    );
    assert.ok(
      (await page.frameLocator("#report").locator("svg").count()) > 0,
      `${name}: a map is drawn`,
    );
  }
  await page.close();
});

test("a recorded info mtree dump pasted as one text (tree, then -f) shows the flat views", async () => {
  const { page } = await open();
  const data = "test/conformance/data/ppc64-pseries-hotplug-pci";
  await page.getByRole("tab", { name: "info mtree" }).click();
  await page.locator("#mtree-tree").fill(read(data, "mtree-D.txt") + read(data, "mtree-f.txt"));
  await page.locator("#mtree-flat").fill("");
  await page.locator("#run").click();
  assert.equal(await settled(page), "imported");
  assert.ok((await reportText(page)).includes("tce-iommu-80000000"));
  assert.ok((await page.frameLocator("#report").locator("svg").count()) > 0);
  assert.match(
    (await page.locator("#mtree-flat-text").textContent()) ?? "",
    /AS "pci@800000020000000"/,
  );
  await page.locator("#report").scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(artifacts, "playground-mtree.png") });
  // A line that is not QEMU's is named by its line.
  const lines = read(data, "mtree-D.txt").split("\n");
  lines.splice(4, 0, "    this is not a region");
  await page.locator("#mtree-tree").fill(lines.join("\n"));
  await page.locator("#run").click();
  assert.equal(await settled(page), "error");
  assert.match(
    (await page.locator("#problems li").first().textContent()) ?? "",
    /^info mtree:5: expected /,
  );
  assert.ok(await page.locator("#report").isHidden());
  await page.close();
});

test("a trace log and its command line dropped on the page replay to the verdict iova trace gives", async () => {
  const { page } = await open();
  const dir = "examples/trace/linux-6.1-xhci-4g";
  const files = [
    { name: "trace.log", text: read(dir, "trace.log") },
    { name: "cmdline.txt", text: read(dir, "cmdline.txt") },
  ];
  const transfer = await page.evaluateHandle((fs) => {
    const dt = new DataTransfer();
    for (const f of fs) dt.items.add(new File([f.text], f.name, { type: "text/plain" }));
    return dt;
  }, files);
  await page.locator("body").dispatchEvent("drop", { dataTransfer: transfer });
  await page.waitForFunction(() =>
    /^trace: (?!running)/.test(document.querySelector("#status")?.textContent ?? ""),
  );
  const verdict = await settled(page);
  let cli = "";
  main(
    ["trace", join(root, dir, "trace.log"), "--machine", join(root, dir, "cmdline.txt"), "--quiet"],
    (s) => {
      cli += s;
    },
    () => {},
  );
  assert.equal(verdict, cli.trim());
  assert.equal(
    await page.getByRole("tab", { name: "Trace log" }).getAttribute("aria-selected"),
    "true",
  );
  assert.match((await page.locator("#text-report").textContent()) ?? "", /no divergence/);
  // The 64-bit window the guest created is in the report's map.
  assert.ok((await reportText(page)).includes("0x800000000000000"));
  assert.ok((await page.frameLocator("#report").locator("svg").count()) > 0);
  assert.match((await page.locator("#rebuilt-text").textContent()) ?? "", /H_PUT_TCE_INDIRECT/);
  await page.screenshot({ path: join(artifacts, "playground-trace.png") });
  await page.close();
});

const BAD_TCE =
  "name: x\nmachine:\n  type: pseries\n  memory: 1G\nsteps:\n  - hcall: H_PUT_TCE\n    args: { liobn: 0x80000000, ioba: 0x0, tce: nope }\n";

test("a scenario's mistake is marked in the editor at its line and column, and clicking it goes there", async () => {
  const { page } = await open();
  await page.locator("#scenario-name").fill("bad.yaml");
  await page.locator("#scenario-text").fill(BAD_TCE);
  const problem = page.locator("#problems li").first();
  await problem.waitFor();
  assert.equal(
    await problem.textContent(),
    "bad.yaml:7:48: expected tce as a whole number, decimal or 0x hex",
  );
  const mark = page.locator('#marks .error-line[data-line="7"] mark.error-at[data-column="48"]');
  assert.equal(await mark.textContent(), "n");
  // The mark sits over the `n` of `nope` in the textarea: 47 characters in, on the 7th line.
  const box = await mark.boundingBox();
  const area = await page.locator("#scenario-text").boundingBox();
  const ch = await page.evaluate(() => {
    const probe = document.createElement("span");
    probe.textContent = "x".repeat(100);
    document.querySelector("#marks")?.append(probe);
    const w = probe.getBoundingClientRect().width / 100;
    probe.remove();
    return w;
  });
  assert.ok(box && area);
  assert.ok(Math.abs(box.x - (area.x + 4 + 47 * ch)) < 2, `mark at x=${box.x}`);
  assert.ok(Math.abs(box.y - (area.y + 4 + 6 * 16)) < 3, `mark at y=${box.y}`);
  await problem.click();
  const at = await page
    .locator("#scenario-text")
    .evaluate((t: HTMLTextAreaElement) => t.selectionStart);
  assert.equal(at, BAD_TCE.indexOf("nope"));
  await page.locator("#run").click();
  assert.equal(await settled(page), "error");
  await page.screenshot({ path: join(artifacts, "playground-error.png") });
  // Further down a long file, with the editor scrolled: the mark follows the text.
  await page.locator("#scenario-text").fill("# filler\n".repeat(60) + BAD_TCE);
  const far = page.locator('#marks .error-line[data-line="67"] mark.error-at[data-column="48"]');
  await far.waitFor();
  await page.locator("#scenario-text").evaluate((t: HTMLTextAreaElement) => {
    t.scrollTop = 700;
    t.dispatchEvent(new Event("scroll"));
  });
  const scrolled = await page
    .locator("#scenario-text")
    .evaluate((t: HTMLTextAreaElement) => t.scrollTop);
  const farBox = await far.boundingBox();
  assert.ok(farBox && scrolled > 0);
  assert.ok(
    Math.abs(farBox.y - (area.y + 4 + 66 * 16 - scrolled)) < 3,
    `mark at y=${farBox.y}, scrolled ${scrolled}`,
  );
  assert.ok(Math.abs(farBox.x - (area.x + 4 + 47 * ch)) < 2, `mark at x=${farBox.x}`);
  await page.close();
});

test("a link restores the inputs, the mode and the verdict exactly; a broken link says why", async () => {
  const { page } = await open();
  await page.locator("#example").selectOption("e14-tce-basics.yaml");
  await settled(page);
  const edited = `${read("examples", "e14-tce-basics.yaml")}# édité ☃ 😀\n`;
  await page.locator("#scenario-text").fill(edited);
  await page.locator("#behaviour").selectOption("qemu-2016-prefix");
  // A field of another tab (hidden now) is part of the state too.
  await page.locator("#trace-assume").evaluate((select: HTMLSelectElement) => {
    select.value = "linear";
  });
  await page.locator("#run").click();
  const verdict = await settled(page);
  const fields = [
    "#scenario-name",
    "#scenario-text",
    "#behaviour",
    "#mtree-tree",
    "#mtree-flat",
    "#trace-log",
    "#trace-cmdline",
    "#trace-assume",
  ];
  const values = async (p: Page) => Promise.all(fields.map((f) => p.locator(f).inputValue()));
  const before = await values(page);
  await page.locator("#share").click();
  const link = page.locator("#share-link");
  await link.waitFor();
  const url = await link.inputValue();
  assert.match(url, /^file:\/\/.*#v1=[A-Za-z0-9_-]+$/);
  const restored = await open(url);
  assert.deepEqual(await values(restored.page), before);
  assert.equal(before[1], edited);
  assert.equal(before[7], "linear");
  assert.equal(
    await restored.page.getByRole("tab", { name: "Scenario" }).getAttribute("aria-selected"),
    "true",
  );
  assert.equal(await restored.page.locator("#verdict").textContent(), verdict);
  assert.equal(await restored.page.locator("#example").inputValue(), "");
  await restored.page.close();
  const broken = await open(`${pageUrl}#v1=AAAA`);
  assert.equal(await broken.page.locator("body").getAttribute("data-verdict"), "bad-link");
  assert.match((await broken.page.locator("#status").textContent()) ?? "", /could not be read/);
  await broken.page.close();
  await page.close();
});
