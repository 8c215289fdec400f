/**
 * What is derived from the format's one definition is committed current: the JSON Schema and the
 * reference tables in the docs (regenerate both with `npm run gen:format`).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { scenarioJsonSchema, withReferenceTables } from "../../src/scenario/format-outputs.ts";

const root = join(import.meta.dirname, "../..");

test("schema/scenario.schema.json is the one generated from src/scenario/schema.ts", () => {
  const committed = readFileSync(join(root, "schema/scenario.schema.json"), "utf8");
  assert.ok(committed === scenarioJsonSchema(), "stale: run npm run gen:format");
});

test("the reference tables in docs/scenario-reference.md are the generated ones", () => {
  const doc = readFileSync(join(root, "docs/scenario-reference.md"), "utf8");
  assert.ok(doc === withReferenceTables(doc), "stale: run npm run gen:format");
});
