/** The playground's SHA-256 agrees with node:crypto's, on every length around the block edges. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { sha256Hex } from "../../src/playground/sha256.ts";

const reference = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test("sha256Hex of the empty input and of 'abc' are FIPS 180-4's examples", () => {
  assert.equal(
    sha256Hex(new Uint8Array()),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    sha256Hex(new TextEncoder().encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

test("sha256Hex agrees with node:crypto for every length 0..200 and random inputs", () => {
  for (let n = 0; n <= 200; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff);
    assert.equal(sha256Hex(b), reference(b), `length ${n}`);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), (b) => {
      assert.equal(sha256Hex(b), reference(b));
    }),
    { seed: 19, numRuns: 200 },
  );
});
