/**
 * Writes what is derived from the scenario format's definitions: schema/scenario.schema.json and
 * the reference tables in docs/scenario-reference.md (`npm run gen:format`).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scenarioJsonSchema, withReferenceTables } from "../src/scenario/format-outputs.ts";

const root = join(import.meta.dirname, "..");
writeFileSync(join(root, "schema/scenario.schema.json"), scenarioJsonSchema());
const docPath = join(root, "docs/scenario-reference.md");
writeFileSync(docPath, withReferenceTables(readFileSync(docPath, "utf8")));
