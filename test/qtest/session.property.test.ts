/**
 * Hostile qtest input: any command line, and any sequence of register writes to intel-iommu and
 * edu over random guest memory, gets a reply or ends the session as QEMU would die; nothing
 * throws.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Q35Machine } from "../../src/machine/q35.ts";
import { QtestSession } from "../../src/qtest/protocol.ts";
import { parseTranscript } from "../../src/qtest/transcript.ts";

const settled = (r: unknown) =>
  typeof r === "object" && r !== null && ("reply" in r || "abort" in r);

test("any command line gets a reply or ends the session", () => {
  const words = fc.oneof(
    fc.constantFrom(
      "readb",
      "readw",
      "readl",
      "readq",
      "writeb",
      "writel",
      "writeq",
      "read",
      "write",
      "memset",
      "inb",
      "outl",
      "inq",
      "",
      "rtas",
    ),
    fc.string({ maxLength: 12 }),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => `0x${v.toString(16)}`),
    fc.nat().map(String),
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.array(words, { maxLength: 5 }).map((w) => w.join(" ")),
        { maxLength: 20 },
      ),
      (lines) => {
        const s = new QtestSession(
          new Q35Machine({ memory: 16n << 20n, intelIommu: {}, devices: [{ driver: "edu" }] }),
        );
        for (const l of lines) assert.ok(settled(s.execute(l)));
        assert.ok(settled(s.passTime()));
      },
    ),
    { numRuns: 200, seed: 20261201 },
  );
});

test("random intel-iommu and edu register writes over random memory never throw", () => {
  const reg = fc.record({
    target: fc.constantFrom("vtd", "edu", "ram"),
    offset: fc.nat(0x22f),
    size: fc.constantFrom(4, 8),
    value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  });
  fc.assert(
    fc.property(fc.array(reg, { maxLength: 60 }), fc.boolean(), (writes, cachingMode) => {
      const m = new Q35Machine({
        memory: 16n << 20n,
        intelIommu: { cachingMode, walkLimit: 20_000 },
        devices: [{ driver: "edu" }],
      });
      const s = new QtestSession(m);
      for (const l of [
        "outl 0xcf8 0x80000810",
        "outl 0xcfc 0xfe000000",
        "outl 0xcf8 0x80000804",
        "outw 0xcfc 0x6",
      ]) {
        s.execute(l);
      }
      for (const w of writes) {
        const base = w.target === "vtd" ? 0xfed90000n : w.target === "edu" ? 0xfe000000n : 0x10000n;
        const addr = base + BigInt(w.offset & ~(w.size - 1));
        const cmd = `${w.size === 8 ? "writeq" : "writel"} 0x${addr.toString(16)} 0x${w.value.toString(16)}`;
        assert.ok(settled(s.execute(cmd)));
        assert.ok(settled(s.passTime()));
      }
    }),
    { numRuns: 200, seed: 20261201 },
  );
});

test("transcript parsing takes any text", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 2000 }), (text) => {
      for (const l of parseTranscript(text)) assert.ok(l.line >= 1);
    }),
  );
});
