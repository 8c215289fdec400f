/**
 * The JSON Schemas in schema/: every example scenario validates against the scenario schema;
 * schema/report.schema.json is what the report's one definition (src/scenario/report.ts) generates,
 * and real `iova run --json` output validates against it (the JSON contract).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { main } from "../../src/cli/main.ts";
import { reportJsonSchema } from "../../src/scenario/report.ts";

const root = join(import.meta.dirname, "../..");
const ajv = new Ajv({ allErrors: true, strict: false });
const scenarioSchema = ajv.compile(
  JSON.parse(readFileSync(join(root, "schema/scenario.schema.json"), "utf8")),
);
const reportSchema = ajv.compile(
  JSON.parse(readFileSync(join(root, "schema/report.schema.json"), "utf8")),
);
const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml"));

for (const file of examples) {
  test(`examples/${file} validates against the scenario schema`, () => {
    const doc = parse(readFileSync(join(root, "examples", file), "utf8"));
    assert.ok(scenarioSchema(doc), JSON.stringify(scenarioSchema.errors));
  });
}

test("schema/report.schema.json is the one generated from the report's definition (npm run schema:report)", () => {
  // Compared as data: the committed file may be formatted differently.
  assert.deepEqual(
    JSON.parse(readFileSync(join(root, "schema/report.schema.json"), "utf8")),
    JSON.parse(JSON.stringify(reportJsonSchema())),
  );
});

for (const args of [
  [],
  ["--behaviour", "qemu-2016-prefix"],
  ["examples/e08-hotplug-with-only-ddw.yaml"],
  ...examples.map((f) => [`examples/${f}`]),
  ["test/scenario/data/report-shapes.yaml"],
]) {
  test(`iova run ${args.join(" ")} --json validates against the report schema`, () => {
    let out = "";
    main(
      ["run", ...args.map((a) => (a.startsWith("examples/") ? join(root, a) : a)), "--json"],
      (s) => {
        out += s;
      },
      () => {},
    );
    const report = JSON.parse(out);
    assert.ok(reportSchema(report), JSON.stringify(reportSchema.errors));
  });
}

test("the report schema rejects what breaks the contract", () => {
  let out = "";
  main(
    ["run", "--json"],
    (s) => {
      out += s;
    },
    () => {},
  );
  const report = JSON.parse(out);
  report.guest.windows[0].start = 42;
  assert.equal(reportSchema(report), false);
});

for (const file of examples) {
  test(`examples/${file} points an editor at the scenario schema`, () => {
    const text = readFileSync(join(root, "examples", file), "utf8");
    const line = /^# yaml-language-server: \$schema=(\S+)$/m.exec(text);
    assert.ok(line, "a `# yaml-language-server: $schema=...` line");
    assert.equal(join(root, "examples", line[1]), join(root, "schema/scenario.schema.json"));
  });
}
