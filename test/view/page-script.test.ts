/** The page script inlined in reports is the current bundle of src/view/page/main.ts. */
import assert from "node:assert/strict";
import { test } from "node:test";
// @ts-expect-error: a plain ESM build script without types
import { bundlePageScript } from "../../scripts/build-page.mjs";
import { PAGE_SCRIPT } from "../../src/view/page-script.ts";

test("src/view/page-script.ts is up to date (npm run build:page)", () => {
  assert.equal(PAGE_SCRIPT, bundlePageScript());
});
