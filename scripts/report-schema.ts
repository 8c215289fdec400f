/** Writes schema/report.schema.json from the report's one definition (src/scenario/report.ts). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { reportJsonSchema } from "../src/scenario/report.ts";

const path = join(import.meta.dirname, "../schema/report.schema.json");
writeFileSync(path, `${JSON.stringify(reportJsonSchema(), null, 2)}\n`);
console.log(`wrote ${path}`);
