/**
 * Reading QEMU trace logs: both line forms, unknown events counted and skipped, every malformed
 * line reported with its line and column, any split of the input read the same, every truncation
 * of a real log either read or refused (never a crash).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { TRACE_EVENTS } from "../../src/trace/events.ts";
import { compileFormat, matchFormat, printFormat } from "../../src/trace/format.ts";
import { TraceReader } from "../../src/trace/reader.ts";
import { type TraceRecord, TraceSyntaxError } from "../../src/trace/record.ts";

const recorded = readFileSync(
  join(import.meta.dirname, "../../examples/trace/linux-6.1-xhci-4g/trace.log"),
  "utf8",
);

function read(text: string, chunks: readonly string[] = [text]) {
  const records: TraceRecord[] = [];
  const reader = new TraceReader(TRACE_EVENTS, (r) => records.push(r));
  for (const c of chunks) reader.push(c);
  reader.end();
  return { records, unknown: Object.fromEntries(reader.unknown), lines: reader.lines };
}

function syntaxError(text: string): TraceSyntaxError {
  try {
    read(text);
  } catch (e) {
    if (e instanceof TraceSyntaxError) return e;
    throw e;
  }
  assert.fail("expected a TraceSyntaxError");
}

test("a plain line is read into its format's arguments, 64-bit values exact", () => {
  const { records } = read(
    "spapr_iommu_pci_put liobn=0x80000001 ioba=0x8000000ff000000 tce=0xffffffffffff0003 ret=-4\n",
  );
  assert.deepEqual(records, [
    {
      line: 1,
      name: "spapr_iommu_pci_put",
      values: [0x80000001n, 0x8000000ff000000n, 0xffffffffffff0003n, -4n],
    },
  ]);
});

test("a PID@SECONDS.MICROS: prefixed line reads as the plain one", () => {
  const plain = "spapr_iommu_xlate liobn=0x80000000 0x4000 -> 0x7e370000 perm=3 mask=0xfff";
  assert.deepEqual(read(`12345@1701423456.000123:${plain}\n`).records, read(`${plain}\n`).records);
});

test("the recorded Linux boot reads completely, in both line forms", () => {
  const plain = read(recorded);
  assert.equal(plain.records.length, recorded.trimEnd().split("\n").length);
  assert.deepEqual(plain.unknown, {});
  const prefixed = recorded
    .trimEnd()
    .split("\n")
    .map((l, i) => `4242@${1700000000 + i}.${String(i % 1000000).padStart(6, "0")}:${l}`)
    .join("\n");
  assert.deepEqual(read(prefixed).records, plain.records);
});

test("unknown events are counted by name and skipped", () => {
  const text =
    "vtd_iotlb_page_hit sid 0x10 iova 0x1000 slpte 0x3 domain 0x1\nvtd_iotlb_page_hit x\nspapr_iommu_ddw_remove liobn=0x80000001\n";
  const { records, unknown } = read(text);
  assert.deepEqual(unknown, { vtd_iotlb_page_hit: 2 });
  assert.deepEqual(
    records.map((r) => r.name),
    ["spapr_iommu_ddw_remove"],
  );
});

test("a known event whose arguments do not match its format is refused with line and column", () => {
  const e = syntaxError(
    "spapr_iommu_ddw_remove liobn=0x80000001\nspapr_iommu_pci_put liobn=0x80000000 ioba=0x1000 tce=zz ret=0\n",
  );
  assert.equal(e.line, 2);
  // Column 49 is where " tce=0x" should start.
  assert.equal(e.column, 49);
  assert.match(e.expected, /^" tce=0x" in spapr_iommu_pci_put/);
});

test("a value too wide for its conversion is refused, not wrapped", () => {
  const e = syntaxError("spapr_iommu_ddw_remove liobn=0x100000000\n");
  assert.match(e.expected, /32-bit hexadecimal/);
});

test("lines that are not event lines are refused: a bad prefix, no name, junk after the name", () => {
  assert.equal(syntaxError("12@3:spapr_iommu_ddw_remove liobn=0x1\n").line, 1);
  assert.equal(syntaxError("\n\n(garbage)\n").line, 3);
  assert.equal(syntaxError("spapr_iommu_ddw_remove=1\n").line, 1);
});

test("how the input is split into chunks does not matter", () => {
  const whole = read(recorded);
  fc.assert(
    fc.property(fc.array(fc.nat({ max: recorded.length }), { maxLength: 12 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const chunks = [0, ...points].map((p, i) => recorded.slice(p, points[i] ?? recorded.length));
      assert.deepEqual(read(recorded, chunks).records, whole.records);
    }),
    { numRuns: 50, seed: 20261201 },
  );
});

test("every truncation of a real log is read or refused as a syntax error, never a crash", () => {
  const text = recorded.slice(0, 4000);
  for (let end = 0; end <= text.length; end += 7) {
    try {
      read(text.slice(0, end));
    } catch (e) {
      assert.ok(e instanceof TraceSyntaxError, `cut at ${end}: ${e}`);
    }
  }
});

test("a huge line is refused in one pass (no backtracking)", () => {
  const e = syntaxError(`spapr_iommu_ddw_remove liobn=0x1${"1".repeat(1_000_000)}\n`);
  assert.equal(e.line, 1);
});

test("printing a format and reading it back gives the same values", () => {
  const format = compileFormat(
    "liobn=0x%lx ioba=0x%lx tcelist=0x%lx iobaN=0x%lx tceN=0x%lx ret=%ld",
  );
  fc.assert(
    fc.property(
      fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 5, maxLength: 5 }),
      fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
      (values, ret) => {
        const text = printFormat(format, [...values, ret]);
        assert.deepEqual(matchFormat(format, text, 0), { values: [...values, ret] });
      },
    ),
  );
});

test("docs/trace.md lists every event iova reads, with its format", () => {
  const doc = readFileSync(join(import.meta.dirname, "../../docs/trace.md"), "utf8");
  for (const def of TRACE_EVENTS.values())
    assert.ok(doc.includes(`| \`${def.name}\` | \`${def.format.text}\` |`), def.name);
});
