/**
 * iova against a running QEMU 7.2 over the qtest protocol (TCG, halting firmware): recorded
 * transcripts still reproduce on QEMU, and after the same commands QEMU's `info mtree` equals
 * iova's, which shows GCMD.TE and a pass-through context switching edu between its IOMMU region
 * and `vtd-nodmar`. Skipped, with the reason, when qemu-system-x86_64 is not installed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Q35Machine } from "../../src/machine/q35.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { startQtestQemu } from "../../src/qemu/qtest-client.ts";
import { q35ConfigFromArgv, splitCommandLine } from "../../src/qtest/cmdline.ts";
import { QtestSession } from "../../src/qtest/protocol.ts";
import { parseTranscript } from "../../src/qtest/transcript.ts";
import { blockDifference } from "../conformance/blocks.ts";

const BINARY = "qemu-system-x86_64";
const missing = spawnSync(BINARY, ["--version"]).status !== 0;
const skip = missing
  ? `${BINARY} is not installed (CI installs it: scripts/install-qemu.sh)`
  : false;
const data = join(import.meta.dirname, "..", "conformance", "qtest");

for (const name of ["vtd-translation-on", "vtd-context-switch"]) {
  test(`${name}: QEMU still gives the recorded replies`, { skip, timeout: 60_000 }, async () => {
    const args = splitCommandLine(readFileSync(join(data, `${name}.cmdline`), "utf8"));
    const qemu = await startQtestQemu(BINARY, args);
    try {
      let waited = false;
      for (const l of parseTranscript(readFileSync(join(data, `${name}.qtest`), "utf8"))) {
        if (l.kind === "wait") {
          await new Promise((r) => setTimeout(r, l.ms));
          waited = true;
          continue;
        }
        let reply = await qemu.command(l.command);
        // On a loaded machine QEMU's real-time DMA timer may fire late: poll edu's command
        // register (the read after a wait) a while before comparing.
        for (let i = 0; waited && reply !== l.expected && i < 50; i++) {
          await new Promise((r) => setTimeout(r, 100));
          reply = await qemu.command(l.command);
        }
        waited = false;
        assert.equal(reply, l.expected, `line ${l.line}: ${l.command}`);
      }
    } finally {
      await qemu.stop();
    }
  });
}

const SETUP = [
  "outl 0xcf8 0x80000810",
  "outl 0xcfc 0xfe000000",
  "outl 0xcf8 0x80000804",
  "outw 0xcfc 0x6",
  "writeq 0x10000 0x11001",
  "writeq 0x11080 0x12001",
  "writeq 0x11088 0x101",
  "writeq 0xfed90020 0x10000",
  "writel 0xfed90018 0x40000000",
];

test("info mtree equals QEMU's as translation and pass-through switch edu", {
  skip,
  timeout: 60_000,
}, async () => {
  const args = [
    "-nodefaults",
    "-M",
    "q35",
    "-m",
    "256M",
    "-device",
    "intel-iommu",
    "-device",
    "edu",
  ];
  const qemu = await startQtestQemu(BINARY, args, { qmp: true });
  const iova = new QtestSession(new Q35Machine(q35ConfigFromArgv(args)));
  const both = async (lines: readonly string[]) => {
    for (const line of lines) {
      const theirs = await qemu.command(line);
      assert.deepEqual(iova.execute(line), { reply: theirs }, line);
    }
  };
  const compare = async (when: string) => {
    for (const flags of ["-D", "-f"]) {
      const own = await qemu.qmp!.hmp(`info mtree ${flags}`);
      const ours = formatMtree(
        iova.machine.memory,
        flags === "-f" ? { flat: true } : { disabled: true },
      );
      assert.deepEqual(blockDifference(own, ours), { missing: [], extra: [] }, `${when}, ${flags}`);
    }
  };
  try {
    await both(SETUP);
    await compare("root table set, translation off");
    await both(["writel 0xfed90018 0x80000000"]);
    await compare("translation on");
    assert.ok(iova.machine.intelIommu!.addressSpaceOf(0, 0x08).translating);
    // edu's context becomes pass-through; a device-selective context invalidation re-switches.
    await both(["writeq 0x11080 0x12009", "writeq 0xfed90028 0xe000000000080000"]);
    await compare("pass-through context");
    assert.ok(!iova.machine.intelIommu!.addressSpaceOf(0, 0x08).translating);
  } finally {
    await qemu.stop();
  }
});
