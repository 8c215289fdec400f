/**
 * The streamed JSON writer (src/cli/io.ts `writeJson`) writes exactly what `JSON.stringify(value,
 * null, 2)` writes, whether a value goes out in one piece (small) or piece by piece (large).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ChunkedWriter, writeJson } from "../../src/cli/io.ts";

function written(value: unknown, indent: string, chunk: number): { text: string; pieces: number } {
  const out: string[] = [];
  const w = new ChunkedWriter((s) => out.push(s), chunk);
  writeJson(value, w, indent);
  w.flush();
  return { text: out.join(""), pieces: out.length };
}

const expected = (value: unknown, indent: string) =>
  JSON.stringify(value, null, 2).replace(/\n/g, `\n${indent}`);

test("writeJson writes what JSON.stringify writes, for small and large values at any indent", () => {
  const large = fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: 0, maxLength: 400 });
  fc.assert(
    fc.property(
      fc.oneof(fc.jsonValue(), large, fc.dictionary(fc.string(), large, { maxKeys: 4 })),
      fc.constantFrom("", "  ", "    "),
      (value, indent) => {
        assert.equal(written(value, indent, 1 << 16).text, expected(value, indent));
      },
    ),
    { numRuns: 300 },
  );
});

test("writeJson skips undefined and function members as JSON.stringify does", () => {
  const value = { a: undefined, b: () => 1, c: [undefined, () => 1, 2], d: { toJSON: () => "x" } };
  assert.equal(written(value, "", 1 << 16).text, expected(value, ""));
  const big = Array.from({ length: 2000 }, (_, i) => ({ i, u: undefined, f: [undefined] }));
  assert.equal(written({ big }, "  ", 1 << 16).text, expected({ big }, "  "));
});

test("a large report goes out in pieces, never as one string", () => {
  const steps = Array.from({ length: 20_000 }, (_, i) => ({ step: i + 1, ok: true, data: "ab" }));
  const { text, pieces } = written({ steps }, "", 1 << 12);
  assert.equal(text, expected({ steps }, ""));
  assert.ok(pieces > 100, `${pieces} pieces`);
});
