/**
 * Bad scenario files: each gives `path:line:column: message` naming the expected form, exit code
 * 2 from the CLI, and no stack trace. One case per class of mistake.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/main.ts";
import { CASES } from "./malformed.ts";

function write(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "iova-bad-")), "bad.yaml");
  writeFileSync(path, text);
  return path;
}

test(`at least 40 malformed files are covered (${CASES.length})`, () =>
  assert.ok(CASES.length >= 40));

for (const [what, text, line, column, message] of CASES) {
  test(`bad scenario: ${what}`, () => {
    const path = write(text);
    let err = "";
    let out = "";
    const code = main(
      ["run", path],
      (s) => {
        out += s;
      },
      (s) => {
        err += s;
      },
    );
    assert.equal(code, 2, `exit code for ${what}: ${err}`);
    assert.equal(out, "");
    assert.match(err, message);
    assert.ok(err.startsWith(`iova: ${path}:${line}:${column}: `), `position: ${err}`);
    assert.doesNotMatch(err, /\n\s+at /);
  });
}
