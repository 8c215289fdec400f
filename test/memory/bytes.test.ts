/** The browser-safe byte helpers agree with Node's Buffer, which the core used before. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  base64ToBytes,
  bytesEqual,
  bytesToBase64,
  bytesToHex,
  utf8Compare,
} from "../../src/memory/bytes.ts";

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

test("bytesToHex writes what Buffer#toString('hex') writes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      assert.equal(bytesToHex(bytes), Buffer.from(bytes).toString("hex"));
    }),
    { seed: 19, numRuns: 300 },
  );
});

test("bytesEqual agrees with Buffer#equals, also on arrays that differ in one byte", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 16 }), fc.nat(), fc.boolean(), (a, at, change) => {
      const b = Uint8Array.from(a);
      if (change && b.length) b[at % b.length] ^= 1;
      assert.equal(bytesEqual(a, b), Buffer.from(a).equals(Buffer.from(b)));
      assert.equal(bytesEqual(a, a.subarray(1)), Buffer.from(a).equals(Buffer.from(a.subarray(1))));
    }),
    { seed: 19, numRuns: 300 },
  );
});

test("utf8Compare orders strings as Buffer.compare orders their UTF-8 bytes, surrogates included", () => {
  // Strings from a small alphabet that mixes ASCII, U+E000..U+FFFF, astral pairs and lone halves,
  // so that shared prefixes and the code-unit/code-point disagreements are common.
  const unit = fc.constantFrom(
    "a",
    "b",
    "\u00e9",
    "\ue000",
    "\uffff",
    "\ud83d\ude00",
    "\ud83d",
    "\ude00",
    "\ud800\udc00",
  );
  const text = fc.array(unit, { maxLength: 6 }).map((a) => a.join(""));
  fc.assert(
    fc.property(text, text, (a, b) => {
      assert.equal(
        utf8Compare(a, b),
        sign(Buffer.compare(Buffer.from(a), Buffer.from(b))),
        `${JSON.stringify(a)} vs ${JSON.stringify(b)}`,
      );
    }),
    { seed: 19, numRuns: 2000 },
  );
});

test("bytesToBase64 writes what Buffer#toString('base64') writes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      assert.equal(bytesToBase64(bytes), Buffer.from(bytes).toString("base64"));
    }),
    { seed: 19, numRuns: 300 },
  );
});

test("base64ToBytes decodes any text as leniently as Buffer.from(text, 'base64')", () => {
  const alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_= *\n\u00e9\u20ac".split("");
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (chars) => {
      const text = chars.join("");
      assert.deepEqual(base64ToBytes(text), new Uint8Array(Buffer.from(text, "base64")));
    }),
    { seed: 19, numRuns: 2000 },
  );
});
