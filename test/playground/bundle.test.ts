/**
 * The playground's bundle is browser code: esbuild (platform browser) resolves everything it
 * reaches without a `node:` module, nothing in it reads Node's globals, and the page it is inlined
 * in is one file with no external resource.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
// @ts-expect-error: a plain ESM build script without types
import { buildPlayground, bundlePlayground } from "../../scripts/build-playground.mjs";

/** Node's globals: each replaced by a marker wherever the bundled code reads the global itself. */
const NODE_GLOBALS = [
  "Buffer",
  "process",
  "global",
  "require",
  "setImmediate",
  "__dirname",
  "__filename",
];

test("the core bundled for the browser imports no node: module and reads no Node global", () => {
  const define = Object.fromEntries(NODE_GLOBALS.map((g) => [g, `__NODE_GLOBAL_${g}__`]));
  const { script, metafile } = bundlePlayground({ define, minify: false });
  const inputs = Object.keys(metafile.inputs);
  assert.ok(
    inputs.some((i: string) => i.endsWith("src/scenario/run.ts")),
    "the runner is bundled",
  );
  assert.ok(
    inputs.some((i: string) => i.endsWith("src/trace/replay.ts")),
    "the trace replay is bundled",
  );
  assert.ok(
    inputs.some((i: string) => i.endsWith("src/view/html.ts")),
    "the report renderer is bundled",
  );
  assert.deepEqual(
    inputs.filter((i: string) => i.startsWith("node:")),
    [],
  );
  const reads = [...new Set(script.match(/__NODE_GLOBAL_\w+__/g) ?? [])];
  assert.deepEqual(reads, [], "Node globals read by the bundled code");
});

test("the page is one self-contained file: no src, href or import reaches outside it", () => {
  const html: string = buildPlayground();
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|<img[^>]+src=|@import/);
  assert.equal(
    html.match(/<\/script>/g)?.length,
    2,
    "the examples and the script, each closed once",
  );
});
