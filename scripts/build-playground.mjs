// Builds the playground: one self-contained HTML page (src/playground/page.html) with iova's core
// bundled for the browser from src/playground/main.ts and the examples of examples/ inlined.
// `npm run build` writes it to dist/playground.html (the package carries it); the tests build it
// themselves, so a fresh clone needs no build step. `node scripts/build-playground.mjs [OUT]`.

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { buildSync } from "esbuild";

const root = new URL("..", import.meta.url).pathname;

/** The browser bundle of src/playground/main.ts, and the metafile (what it imports). */
export function bundlePlayground(options = {}) {
  const out = buildSync({
    entryPoints: [join(root, "src/playground/main.ts")],
    bundle: true,
    minify: true,
    platform: "browser",
    format: "iife",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
    ...options,
  });
  return { script: out.outputFiles[0].text, metafile: out.metafile };
}

/** The examples the page offers: every scenario, the `info mtree` pair, the trace. */
export function playgroundExamples() {
  const ex = join(root, "examples");
  const read = (...p) => readFileSync(join(ex, ...p), "utf8");
  const scenarios = readdirSync(ex)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((name) => ({ name, text: read(name) }));
  const mtree = readdirSync(join(ex, "mtree"))
    .filter((f) => f.endsWith(".mtree-D.txt"))
    .sort()
    .map((f) => {
      const base = f.slice(0, -".mtree-D.txt".length);
      return { name: base, tree: read("mtree", f), flat: read("mtree", `${base}.mtree-f.txt`) };
    });
  const traces = readdirSync(join(ex, "trace"))
    .sort()
    .map((name) => ({
      name,
      log: read("trace", name, "trace.log"),
      commandLine: read("trace", name, "cmdline.txt"),
    }));
  const featured = scenarios.some((s) => s.name === "e04-seed-2016-prefix.yaml")
    ? "e04-seed-2016-prefix.yaml"
    : scenarios[0]?.name;
  return { featured, scenarios, mtree, traces };
}

/** The whole page. */
export function buildPlayground() {
  const { script } = bundlePlayground();
  // esbuild writes `</script` inside strings as `<\/script`; anything left would end the element.
  if (/<\/script|<!--/i.test(script))
    throw new Error("the bundle holds </script or <!--: it cannot be inlined safely");
  const examples = JSON.stringify(playgroundExamples()).replace(/</g, "\\u003c");
  const page = readFileSync(join(root, "src/playground/page.html"), "utf8");
  return page
    .replace('id="examples">{}<', () => `id="examples">${examples}<`)
    .replace("/*SCRIPT*/", () => script);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop())) {
  const out = process.argv[2] ?? join(root, "dist/playground.html");
  mkdirSync(dirname(out), { recursive: true });
  const html = buildPlayground();
  writeFileSync(out, html);
  console.log(`${out}: ${html.length} bytes`);
}
