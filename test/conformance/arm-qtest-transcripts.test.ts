/**
 * qtest transcripts recorded on a real QEMU 7.2 `-M virt` (test/conformance/qtest-arm/), replayed
 * on iova's arm virt machine through the first CPU's address space: every reply must equal
 * QEMU's. Only memory commands (readb/w/l/q, writeb/w/l/q) are used on arm.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ArmVirtMachine } from "../../src/machine/arm-virt.ts";

const dir = join(import.meta.dirname, "qtest-arm");
const SIZES: Record<string, number> = { b: 1, w: 2, l: 4, q: 8 };

/** Answers one memory command as QEMU's qtest does ("OK" or "OK 0x%016x"). */
function answer(m: ArmVirtMachine, command: string): string {
  const [op, addrText, valueText] = command.split(" ");
  const kind = /^(read|write)([bwlq])$/.exec(op);
  assert.ok(kind, `unsupported command ${command}`);
  const size = SIZES[kind[2]];
  const addr = BigInt(addrText);
  if (kind[1] === "write") {
    const value = BigInt(valueText);
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = Number((value >> BigInt(8 * i)) & 0xffn);
    m.cpuMemory.write(addr, bytes);
    return "OK";
  }
  const data = m.cpuMemory.read(addr, size).data;
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[i]);
  return `OK 0x${v.toString(16).padStart(16, "0")}`;
}

for (const file of readdirSync(dir).filter((f) => f.endsWith(".qtest"))) {
  test(`${file} replays with QEMU's replies`, () => {
    const m = new ArmVirtMachine({ iommu: "smmuv3" });
    const lines = readFileSync(join(dir, file), "utf8").split("\n");
    let checked = 0;
    lines.forEach((line, i) => {
      if (line === "" || line.startsWith("#")) return;
      const [command, expected] = line.split("\t");
      assert.equal(answer(m, command), expected, `${file}:${i + 1}: ${command}`);
      checked++;
    });
    assert.ok(checked > 50);
    assert.equal(m.aborted, undefined);
  });
}
