/**
 * The QEMU trace reader: lines per second over a generated log of 10^6 lines of the events a
 * pseries guest with a vfio-pci device writes (H_PUT_TCE, H_PUT_TCE_INDIRECT entries, H_STUFF_TCE,
 * translations; timestamped, as `-msg timestamp=on` writes them), against splitting the same text
 * into lines (`trace.reader_ratio_vs_split`), the two back to back. The reader hands each event's
 * fields to the consumer (`TraceFieldReader`), which takes every field (as the two 32-bit halves of
 * a 64-bit value, as typed arrays store them), so nothing read is left unused; `trace.records_per_s` is the same log
 * read into records (`TraceReader`, every value a bigint or string, one object per line).
 */
import { TRACE_EVENTS } from "../src/trace/events.ts";
import { TraceFieldReader, TraceReader } from "../src/trace/reader.ts";
import { type BenchResult, medianMs, medianRatio } from "./harness.ts";

/** A log of `lines` lines, as QEMU 7.2's `log` trace backend writes them. */
export function traceLog(lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const ioba = (0x800000000000000n + (BigInt(i) << 16n)).toString(16);
    const tce = ((BigInt(i) << 16n) | 3n).toString(16);
    const prefix = `4242@${1700000000 + (i >> 10)}.${String(i % 1000000).padStart(6, "0")}:`;
    switch (i % 4) {
      case 0:
        out.push(`${prefix}spapr_iommu_pci_put liobn=0x80000001 ioba=0x${ioba} tce=0x${tce} ret=0`);
        break;
      case 1:
        out.push(
          `${prefix}spapr_iommu_pci_indirect liobn=0x80000001 ioba=0x${ioba} tcelist=0x1000000 iobaN=0x1ff tceN=0x${tce} ret=0`,
        );
        break;
      case 2:
        out.push(
          `${prefix}spapr_iommu_pci_stuff liobn=0x80000001 ioba=0x${ioba} tcevalue=0x${tce} npages=512 ret=0`,
        );
        break;
      default:
        out.push(
          `${prefix}spapr_iommu_xlate liobn=0x80000001 0x${ioba} -> 0x${tce} perm=3 mask=0xffff`,
        );
    }
  }
  return `${out.join("\n")}\n`;
}

export function traceBenchmarks(lines = 1_000_000): BenchResult[] {
  const text = traceLog(lines);
  let sink = 0;
  // A typed slot, not a captured number: adding doubles to it allocates nothing.
  const fieldSink = new Float64Array(1);
  const split = () => {
    // The baseline: the same text cut into lines, each looked at once.
    let from = 0;
    for (;;) {
      const nl = text.indexOf("\n", from);
      if (nl < 0) break;
      sink += text.slice(from, nl).length;
      from = nl + 1;
    }
  };
  const scan = () => {
    // A floor for any reader that looks at each character once: every char code, summed.
    let sum = 0;
    for (let i = 0; i < text.length; i++) sum += text.charCodeAt(i);
    sink += sum;
  };
  const chunked = (reader: {
    push(c: string): void;
    end(): void;
    unknown: Map<string, number>;
  }) => {
    // In chunks, as a file stream gives it.
    for (let at = 0; at < text.length; at += 1 << 16) reader.push(text.slice(at, at + (1 << 16)));
    reader.end();
    if (reader.unknown.size > 0) throw new Error(`unknown events: ${[...reader.unknown.keys()]}`);
  };
  const read = () =>
    chunked(
      new TraceFieldReader(TRACE_EVENTS, (_line, _def, fields) => {
        // Every field is a number here; taken as the two halves a 64-bit value is stored in.
        for (let i = 0; i < fields.count; i++) fieldSink[0] += fields.high32(i) + fields.low32(i);
      }),
    );
  const records = () =>
    chunked(
      new TraceReader(TRACE_EVENTS, (r) => {
        sink += r.values.length;
      }),
    );
  const { ratio, baselineMs, subjectMs } = medianRatio(split, read, 5);
  const recordsMs = medianMs(records, 3, 1);
  const scanMs = medianMs(scan, 3, 1);
  if (sink === -1 || fieldSink[0] === -1) console.log(sink, fieldSink[0]);
  return [
    {
      name: "trace.lines_per_s",
      value: (lines * 1000) / subjectMs,
      unit: "lines/s",
      baseline: null,
      ratio: null,
      note: `reading ${lines} timestamped trace lines of four sPAPR TCE events`,
    },
    {
      name: "trace.reader_ratio_vs_split",
      value: ratio,
      unit: "ratio",
      baseline: (lines * 1000) / baselineMs,
      ratio,
      note: "that over splitting the same text into lines, pairs back to back",
    },
    {
      name: "trace.reader_ratio_vs_char_scan",
      value: subjectMs / scanMs,
      unit: "ratio",
      baseline: (lines * 1000) / scanMs,
      ratio: subjectMs / scanMs,
      note: "the reader over a loop reading each char code of the text once",
    },
    {
      name: "trace.records_per_s",
      value: (lines * 1000) / recordsMs,
      unit: "lines/s",
      baseline: (lines * 1000) / baselineMs,
      ratio: recordsMs / baselineMs,
      note: "the same log read into records (one object, bigint values, per line)",
    },
  ];
}
