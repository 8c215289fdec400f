/**
 * qtest transcripts recorded on real QEMU 7.2 (`scripts/record-qtest.ts`: intel-iommu and edu
 * driven through registers, tables written into guest RAM, edu's DMA polled) replay unchanged in
 * iova: every reply equal to QEMU's, and afterwards `info mtree -D` and `-f` equal to what QEMU
 * printed after the same commands (which shows each function's switch between its VT-d region
 * and `vtd-nodmar`).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Q35Machine } from "../../src/machine/q35.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { q35ConfigFromArgv, splitCommandLine } from "../../src/qtest/cmdline.ts";
import { QtestSession } from "../../src/qtest/protocol.ts";
import { parseTranscript, replayTranscript } from "../../src/qtest/transcript.ts";
import { blockDifference } from "./blocks.ts";

const dir = join(import.meta.dirname, "qtest");
const cases = readdirSync(dir)
  .filter((f) => f.endsWith(".qtest"))
  .map((f) => f.slice(0, -".qtest".length));

test("there are at least 10 recorded cases, each with its machine", () => {
  assert.ok(cases.length >= 10);
  for (const c of cases) assert.ok(readFileSync(join(dir, `${c}.cmdline`), "utf8").length > 0);
});

for (const name of cases) {
  test(`${name}: every reply equals QEMU's`, () => {
    const args = splitCommandLine(readFileSync(join(dir, `${name}.cmdline`), "utf8"));
    const lines = parseTranscript(readFileSync(join(dir, `${name}.qtest`), "utf8"));
    const unrecorded = lines.filter((l) => l.kind === "command" && l.expected === undefined);
    assert.deepEqual(unrecorded, [], "every command has QEMU's reply");
    const machine = new Q35Machine(q35ConfigFromArgv(args));
    const result = replayTranscript(new QtestSession(machine), lines);
    assert.equal(result.mismatch, undefined);
    for (const [file, options] of [
      ["mtree-D.txt", { disabled: true }],
      ["mtree-f.txt", { flat: true }],
    ] as const) {
      const path = join(dir, `${name}.${file}`);
      if (!existsSync(path)) continue;
      const diff = blockDifference(
        readFileSync(path, "utf8"),
        formatMtree(machine.memory, options),
      );
      assert.deepEqual(diff, { missing: [], extra: [] }, file);
    }
  });
}
