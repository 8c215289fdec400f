/**
 * Recognising a QEMU from its `query-version` reply: the replies the real 7.2 and 10.0 binaries
 * sent are named as such, and malformed replies are QmpErrors, never crashes or guesses.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { QmpError } from "../../src/qemu/qmp.ts";
import { identifyQemu, parseQueryVersion, qemuLine } from "../../src/qemu/version.ts";

const recorded = JSON.parse(
  readFileSync(join(import.meta.dirname, "fixtures/query-version.json"), "utf8"),
) as Record<string, unknown>;

test("Debian 12's QEMU 7.2 reply is 7.2.22, modelled as QEMU 7.2", () => {
  const q = identifyQemu(parseQueryVersion(recorded["qemu-7.2"]));
  assert.equal(q.text, "7.2.22");
  assert.equal(q.line, "7.2");
  assert.equal(q.modelled, true);
  assert.equal(q.version.package, "Debian 1:7.2+dfsg-7+deb12u18+b3");
  assert.equal(
    q.summary,
    "QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3): modelled as QEMU 7.2 (--qemu 7.2)",
  );
});

test("bookworm-backports' QEMU 10.0 reply is 10.0.2, modelled as QEMU 10.0", () => {
  const q = identifyQemu(parseQueryVersion(recorded["qemu-10.0"]));
  assert.equal(q.text, "10.0.2");
  assert.equal(q.line, "10.0");
  assert.equal(q.modelled, true);
  assert.equal(
    q.summary,
    "QEMU 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1): modelled as QEMU 10.0 (--qemu 10.0)",
  );
});

test("an upstream build (empty package) and an unknown release line are named plainly", () => {
  const q = identifyQemu(
    parseQueryVersion({ qemu: { major: 9, minor: 2, micro: 0 }, package: "" }),
  );
  assert.equal(q.line, undefined);
  assert.equal(q.modelled, false);
  assert.match(q.summary, /^QEMU 9\.2\.0: iova models QEMU 7\.2 and 10\.0, not this release;/);
  // 7.1 and 10.1 are other release lines, not 7.2 or 10.0.
  assert.equal(qemuLine({ major: 7, minor: 1, micro: 0, package: "" }), undefined);
  assert.equal(qemuLine({ major: 10, minor: 1, micro: 0, package: "" }), undefined);
});

test("malformed query-version replies are QmpErrors saying what is wrong", () => {
  const cases: [unknown, RegExp][] = [
    [null, /not an object/],
    ["10.0.2", /not an object/],
    [{ package: "x" }, /no 'qemu' object/],
    [{ qemu: { major: 10, minor: 0 } }, /major, minor and micro/],
    [{ qemu: { major: -1, minor: 0, micro: 0 } }, /non-negative integers/],
    [{ qemu: { major: 1.5, minor: 0, micro: 0 } }, /non-negative integers/],
    [{ qemu: { major: "10", minor: 0, micro: 0 } }, /non-negative integers/],
    [{ qemu: { major: 10, minor: 0, micro: 2 }, package: 7 }, /'package' is not a string/],
  ];
  for (const [reply, message] of cases) {
    assert.throws(
      () => parseQueryVersion(reply),
      (e: unknown) => e instanceof QmpError && message.test(e.message),
      JSON.stringify(reply),
    );
  }
});
