/**
 * The reader's fast path (lines read in place, formats matched on char codes) against a simple
 * reference reader written here from the log grammar: on generated logs, valid and hostile (values
 * at and past their limits, mutated characters, blank and CR lines, bad timestamps, unknown
 * events), cut into arbitrary chunks, both give the same records, the same unknown-event counts and
 * line count, or the same first error (line, column, what was expected). The same for logs as
 * bytes (CRLF, multi-byte characters, a BOM, bad UTF-8) cut at any byte and given in one reused
 * buffer as the CLI's file chunks are, against the reference on the file decoded as a whole; and
 * for a real file read through the CLI's chunks. Also: the field accessors give what the records
 * give.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { test } from "node:test";
import fc from "fast-check";
import { fileChunks } from "../../src/cli/trace-command.ts";
import type { TraceEventDef } from "../../src/trace/event-def.ts";
import { TRACE_EVENTS } from "../../src/trace/events.ts";
import { matchFormat, printFormat, type TraceValue } from "../../src/trace/format.ts";
import { TraceFieldReader, TraceReader } from "../../src/trace/reader.ts";
import { TraceSyntaxError } from "../../src/trace/record.ts";

type Outcome = {
  records: { line: number; name: string; values: readonly TraceValue[] }[];
  unknown: Record<string, number>;
  lines: number;
  error?: { line: number; column: number; expected: string };
};

/** The reference: split on "\n", each line by regular expressions and `matchFormat`. */
function referenceRead(text: string): Outcome {
  const out: Outcome = { records: [], unknown: {}, lines: 0 };
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (const raw of lines) {
    const n = ++out.lines;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") continue;
    let start = 0;
    if (/^\d+@/.test(line)) {
      const m = /^(\d+@)(\d*)(\.?)(\d*)(:?)/.exec(line) as RegExpExecArray;
      const [, pid, secs, dot, micros, colon] = m;
      const bad = !secs
        ? pid.length
        : !dot
          ? pid.length + secs.length
          : !micros || !colon
            ? pid.length + secs.length + 1 + micros.length
            : -1;
      if (bad >= 0) {
        out.error = { line: n, column: bad + 1, expected: "PID@SECONDS.MICROS:" };
        return out;
      }
      start = m[0].length;
    }
    const name = (/^[A-Za-z0-9_]*/.exec(line.slice(start)) as RegExpExecArray)[0];
    const after = start + name.length;
    if (name === "") {
      out.error = { line: n, column: after + 1, expected: "an event name" };
      return out;
    }
    if (after < line.length && line[after] !== " ") {
      out.error = { line: n, column: after + 1, expected: "a space after the event name" };
      return out;
    }
    const def = TRACE_EVENTS.get(name);
    if (!def) {
      out.unknown[name] = (out.unknown[name] ?? 0) + 1;
      continue;
    }
    const m = matchFormat(def.format, line, after < line.length ? after + 1 : after);
    if ("expected" in m) {
      out.error = {
        line: n,
        column: m.at + 1,
        expected: `${m.expected} in ${name} (format "${def.format.text}")`,
      };
      return out;
    }
    out.records.push({ line: n, name, values: m.values });
  }
  return out;
}

function fastRead(text: string, cuts: readonly number[]): Outcome {
  const out: Outcome = { records: [], unknown: {}, lines: 0 };
  const reader = new TraceReader(TRACE_EVENTS, (r) =>
    out.records.push({ line: r.line, name: r.name, values: [...r.values] }),
  );
  try {
    let at = 0;
    for (const c of [...cuts].sort((a, b) => a - b)) {
      const to = Math.min(c, text.length);
      if (to < at) continue;
      reader.push(text.slice(at, to));
      at = to;
    }
    reader.push(text.slice(at));
    reader.end();
  } catch (e) {
    if (!(e instanceof TraceSyntaxError)) throw e;
    out.error = { line: e.line, column: e.column, expected: e.expected };
  }
  out.unknown = Object.fromEntries(reader.unknown);
  out.lines = reader.lines;
  return out;
}

const DEFS = [...TRACE_EVENTS.values()];
const convs = (def: TraceEventDef) =>
  def.format.pieces.filter((p) => !("literal" in p)) as { conv: string; bits: number }[];

/** A value for a conversion: within its range, at its edges, or (sometimes) past them. */
const valueFor = (piece: { conv: string; bits: number }): fc.Arbitrary<TraceValue> => {
  if (piece.conv === "str") return fc.constantFrom("MAP", "UNMAP", "0000:01:00.0", "", "a b");
  const bits = BigInt(piece.bits);
  const signed = piece.conv === "dec";
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  return fc.oneof(
    fc.bigInt({ min, max }),
    fc.constantFrom(min, max, 0n, 1n, (1n << 53n) - 1n, 1n << 53n, 2n ** 52n + 1n),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  );
};

const timestamp = fc.oneof(
  fc.constant(""),
  fc.constant("4242@1700000000.000001:"),
  fc.constantFrom("4242@", "4242@17", "4242@17.", "4242@17.5", "12@.3:", "9@1:"),
);

/** One line: an event printed through its format, then maybe mutated. */
const eventLine = fc
  .tuple(fc.integer({ min: 0, max: DEFS.length - 1 }), timestamp)
  .chain(([d, ts]) => {
    const def = DEFS[d];
    return fc.tuple(
      fc.constant(def),
      fc.constant(ts),
      fc.tuple(...convs(def).map(valueFor)),
      fc.option(
        fc.record({
          at: fc.nat(),
          kind: fc.constantFrom("delete", "insert", "replace"),
          char: fc.constantFrom(" ", "x", "0", "f", "F", "-", "\r", "(", ":", "@", "9", "\t"),
        }),
        { freq: 2 },
      ),
    );
  })
  .map(([def, ts, values, mutation]) => {
    let line = `${ts}${def.name} `;
    try {
      line += printFormat(def.format, values);
    } catch {
      line += "?";
    }
    if (mutation) {
      const at = mutation.at % (line.length + 1);
      if (mutation.kind === "delete") line = line.slice(0, at) + line.slice(at + 1);
      else if (mutation.kind === "insert")
        line = line.slice(0, at) + mutation.char + line.slice(at);
      else line = line.slice(0, at) + mutation.char + line.slice(at + 1);
    }
    return line;
  });

const anyLine = fc.oneof(
  { weight: 8, arbitrary: eventLine },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "",
      "   ",
      "\r",
      "\u00a0",
      "unknown_event a=1",
      "4242@1.2:unknown_event",
      "spapr_iommu_xlate",
      "spapr_iommu_pci_put liobn=0x1 ioba=0x2 tce=0x3 ret=123456789012345678",
      "spapr_iommu_pci_put liobn=0x1 ioba=0x2 tce=0x3 ret=-9223372036854775808",
      "spapr_iommu_pci_put liobn=0x1 ioba=0x2 tce=0x3 ret=9223372036854775808",
      "spapr_iommu_pci_put liobn=0xABC ioba=0x2 tce=0x3 ret=0",
      "spapr_iommu_pci_put liobn=0x10000000000000000 ioba=0x2 tce=0x3 ret=0",
      "vfio_listener_region_add_ram region_add [ram] 0x0 - 0xfff [(nil)]",
      "vfio_listener_region_add_ram region_add [ram] 0x0 - 0xfff [0x7f00deadbeef]",
      "vfio_listener_region_add_ram region_add [ram] 0x0 - 0xfff [(nil]",
      "vfio_iommu_map_notify iommu MAP @ 0x1000 - 0x1fff",
      "vfio_iommu_map_notify iommu MAP 0x1000 - 0x1fff",
      "vfio_realize  (0000:01:00.0) group 7",
      "vfio_realize  (0000:01:00.0 group 7",
    ),
  },
);

test("the fast reader gives what a reference reader gives, on valid and hostile logs, in any chunks", () => {
  fc.assert(
    fc.property(
      fc.array(anyLine, { maxLength: 12 }),
      fc.boolean(),
      fc.array(fc.nat({ max: 2000 }), { maxLength: 4 }),
      (lines, lastNewline, cuts) => {
        const text = lines.join("\n") + (lastNewline && lines.length ? "\n" : "");
        const expected = referenceRead(text);
        const actual = fastRead(text, cuts);
        if (expected.error) {
          // The reader stops at the first error: records before it are delivered, then it throws.
          assert.deepEqual(actual.error, expected.error);
          assert.deepEqual(actual.records, expected.records);
        } else assert.deepEqual(actual, expected);
      },
    ),
    { seed: 20, numRuns: 3000 },
  );
});

test("the field accessors give each record's values: bigint, number when exact, 32-bit halves", () => {
  fc.assert(
    fc.property(fc.array(eventLine, { maxLength: 8 }), (lines) => {
      const text = `${lines.join("\n")}\n`;
      const expected = referenceRead(text);
      fc.pre(!expected.error);
      const seen: TraceValue[][] = [];
      const reader = new TraceFieldReader(TRACE_EVENTS, (_line, def, fields) => {
        const values: TraceValue[] = [];
        for (let i = 0; i < fields.count; i++) {
          const v = fields.value(i);
          values.push(v);
          if (typeof v === "string") {
            assert.equal(fields.string(i), v);
            continue;
          }
          assert.equal(fields.bigint(i), v);
          const exact = v > -(2n ** 53n) && v < 2n ** 53n;
          if (exact) assert.equal(fields.number(i), Number(v), `${def.name} field ${i}`);
          if (!exact) assert.equal(fields.number(i), undefined);
          const u = BigInt.asUintN(64, v);
          assert.equal(fields.high32(i), Number(u >> 32n));
          assert.equal(fields.low32(i), Number(u & 0xffffffffn));
        }
        seen.push(values);
      });
      reader.push(text);
      reader.end();
      assert.deepEqual(
        seen,
        expected.records.map((r) => r.values),
      );
    }),
    { seed: 21, numRuns: 1000 },
  );
});

/** Characters and raw bytes a real log may hold besides ASCII: UTF-8 of 2, 3, 4 bytes, a BOM, invalid bytes. */
const foreign = fc.constantFrom(
  [0xc3, 0xa9], // é
  [0xe2, 0x82, 0xac], // €
  [0xf0, 0x9f, 0x98, 0x80], // an emoji (a surrogate pair in text)
  [0xef, 0xbb, 0xbf], // a BOM
  [0xff],
  [0x80],
  [0xc3], // a lead byte without its continuation
  [0xe2, 0x82], // a 3-byte sequence cut short
  [0xed, 0xa0, 0x80], // an encoded surrogate (invalid in UTF-8)
  [0x0d], // a CR inside a line
);

/** A log as bytes: lines (LF or CRLF) with foreign bytes inserted anywhere. */
const byteLog = fc
  .tuple(
    fc.array(fc.tuple(anyLine, fc.boolean()), { maxLength: 12 }),
    fc.boolean(),
    fc.array(fc.tuple(fc.nat(), foreign), { maxLength: 4 }),
  )
  .map(([lines, lastNewline, inserts]) => {
    const text =
      lines.map(([l, crlf]) => l + (crlf ? "\r" : "")).join("\n") +
      (lastNewline && lines.length ? "\n" : "");
    const bytes = [...Buffer.from(text, "utf8")];
    for (const [at, b] of inserts) bytes.splice(at % (bytes.length + 1), 0, ...b);
    return Uint8Array.from(bytes);
  });

/** The reader given `bytes` in chunks cut at `cuts`, each copied into one reused buffer first. */
function byteRead(bytes: Uint8Array, cuts: readonly number[]): Outcome {
  const out: Outcome = { records: [], unknown: {}, lines: 0 };
  const reader = new TraceReader(TRACE_EVENTS, (r) =>
    out.records.push({ line: r.line, name: r.name, values: [...r.values] }),
  );
  // As the CLI's file chunks: the memory of a chunk is overwritten by the next read.
  const reused = new Uint8Array(bytes.length);
  const feed = (from: number, to: number) => {
    reused.fill(0x41);
    reused.set(bytes.subarray(from, to));
    reader.push(reused.subarray(0, to - from));
  };
  try {
    let at = 0;
    for (const c of [...cuts].sort((a, b) => a - b)) {
      const to = Math.min(c, bytes.length);
      if (to < at) continue;
      feed(at, to);
      at = to;
    }
    feed(at, bytes.length);
    reader.end();
  } catch (e) {
    if (!(e instanceof TraceSyntaxError)) throw e;
    out.error = { line: e.line, column: e.column, expected: e.expected };
  }
  out.unknown = Object.fromEntries(reader.unknown);
  out.lines = reader.lines;
  return out;
}

/** The whole file decoded as the CLI used to (one UTF-8 decoder over its chunks), then split. */
const decodedFile = (bytes: Uint8Array) => {
  const d = new StringDecoder("utf8");
  return d.write(Buffer.from(bytes)) + d.end();
};

const sameOutcome = (actual: Outcome, expected: Outcome) => {
  if (expected.error) {
    assert.deepEqual(actual.error, expected.error);
    assert.deepEqual(actual.records, expected.records);
  } else assert.deepEqual(actual, expected);
};

test("bytes in any chunks (cut inside CRLF and multi-byte characters, bad UTF-8) read as the reference reads the decoded file", () => {
  fc.assert(
    fc.property(byteLog, fc.array(fc.nat({ max: 2000 }), { maxLength: 6 }), (bytes, cuts) => {
      sameOutcome(byteRead(bytes, cuts), referenceRead(decodedFile(bytes)));
    }),
    { seed: 22, numRuns: 3000 },
  );
});

test("text chunks cut anywhere, inside surrogate pairs too, read as the whole text", () => {
  fc.assert(
    fc.property(byteLog, fc.array(fc.nat({ max: 2000 }), { maxLength: 6 }), (bytes, cuts) => {
      // Decoded text holds no lone surrogate; cuts may still split a pair.
      const text = decodedFile(bytes);
      sameOutcome(fastRead(text, cuts), referenceRead(text));
    }),
    { seed: 23, numRuns: 2000 },
  );
});

test("a log file read through the CLI's chunks (a line across the 1 MiB boundary) gives the reference's records", () => {
  const line = (i: number) =>
    `4242@1700000000.${String(i).padStart(6, "0")}:spapr_iommu_pci_put liobn=0x80000001 ioba=0x${(i * 4096).toString(16)} tce=0x${(i * 4096 + 3).toString(16)} ret=0`;
  const lines: string[] = [];
  for (let i = 0, length = 0; length < (1 << 20) + 4096; i++) {
    lines.push(
      i % 97 === 5
        ? `unknown_event é=${i}`
        : i % 89 === 7
          ? "vfio_realize  (0000:01:00.€) group 7"
          : line(i),
    );
    length += lines[lines.length - 1].length + 2;
  }
  const text = `${lines.join("\r\n")}\r\n`;
  const dir = mkdtempSync(join(tmpdir(), "iova-trace-"));
  try {
    const file = join(dir, "trace.log");
    writeFileSync(file, text);
    const out: Outcome = { records: [], unknown: {}, lines: 0 };
    const reader = new TraceReader(TRACE_EVENTS, (r) =>
      out.records.push({ line: r.line, name: r.name, values: [...r.values] }),
    );
    for (const chunk of fileChunks(file)) reader.push(chunk);
    reader.end();
    out.unknown = Object.fromEntries(reader.unknown);
    out.lines = reader.lines;
    const expected = referenceRead(text);
    assert.ok(expected.records.length > 8000 && expected.unknown.unknown_event > 50);
    assert.deepEqual(out, expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a text chunk ending inside a surrogate pair: the character is read whole with the next chunk", () => {
  const text =
    "vfio_realize  (0000:01:00.\u{1f600}) group 7\r\nvfio_iommu_map_notify iommu M\u{1f600}P @ 0x1000 - 0x1fff\n";
  const expected = referenceRead(text);
  assert.deepEqual(expected.records[0].values, ["0000:01:00.\u{1f600}", 7n]);
  for (let cut = 0; cut <= text.length; cut++)
    assert.deepEqual(fastRead(text, [cut]), expected, `cut at ${cut}`);
});

test("unknown event names made to share a hash are each counted (past a few per hash, by name)", () => {
  // "Aa" and "BB" add the same to a times-31 hash: every name of these pairs collides.
  const names: string[] = [];
  for (let i = 0; i < 64; i++)
    names.push(
      Array.from({ length: 6 }, (_, bit) => ((i >> bit) & 1 ? "BB" : "Aa")).join("") + "_x",
    );
  const text = names.map((n, i) => `${n} a=${i}\n`).join("") + `${names[63]}\n${names[0]}\n`;
  const expected = referenceRead(text);
  assert.equal(Object.keys(expected.unknown).length, 64);
  assert.equal(expected.unknown[names[0]], 2);
  assert.deepEqual(fastRead(text, []), expected);
  assert.deepEqual(byteRead(Buffer.from(text), [5, 700]), expected);
});

test("a %s field of any length reads whole from the fields (short ones built per byte, long ones decoded)", () => {
  for (const length of [0, 1, 63, 64, 65, 200, 5000]) {
    const host = "0".repeat(Math.max(0, length - 2)) + (length >= 2 ? ":x" : "y".repeat(length));
    const text = `vfio_realize  (${host}) group 7\n`;
    const seen: string[] = [];
    const reader = new TraceFieldReader(TRACE_EVENTS, (_line, _def, fields) =>
      seen.push(fields.string(0)),
    );
    reader.push(Buffer.from(text));
    reader.end();
    assert.deepEqual(seen, [host]);
    assert.deepEqual(referenceRead(text).records[0].values, [host, 7n]);
  }
});
