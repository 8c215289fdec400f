/**
 * The QEMU trace reader: lines per second over a generated log of 10^6 lines of the events a
 * pseries guest with a vfio-pci device writes (H_PUT_TCE, H_PUT_TCE_INDIRECT entries, H_STUFF_TCE,
 * translations; timestamped, as `-msg timestamp=on` writes them), written to a temporary file and
 * read as `iova trace` reads it (`fileChunks`, 1 MiB reads into one buffer). The goal's baseline
 * (`trace.reader_ratio_vs_split`) is splitting the same file into lines as a Node program does:
 * `readFileSync(file, "utf8").split("\n")`, each line touched once; both from the page cache, back
 * to back. Also reported, so that nothing is hidden: the file split as a stream (the same chunks
 * decoded and cut with indexOf and slice), and the log already in memory against cutting the text
 * with indexOf and slice (a slice is a view: little more than a search for each newline) and
 * against one loop reading each char code. The reader hands each event's fields to the consumer
 * (`TraceFieldReader`), which takes every field (as the two 32-bit halves of a 64-bit value, as
 * typed arrays store them), so nothing read is left unused; `trace.records_per_s` is the file read
 * into records (`TraceReader`, every value a bigint or string, one object per line), as `iova
 * trace` reads it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { fileChunks } from "../src/cli/trace-command.ts";
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
  const dir = mkdtempSync(join(tmpdir(), "iova-trace-bench-"));
  const file = join(dir, "trace.log");
  try {
    writeFileSync(file, text);
    return measure(text, file, lines);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function measure(text: string, file: string, lines: number): BenchResult[] {
  let sink = 0;
  // A typed slot, not a captured number: adding doubles to it allocates nothing.
  const fieldSink = new Float64Array(1);
  const splitFile = () => {
    // The goal's baseline: the file cut into line strings as a Node program does, each touched once.
    let n = 0;
    for (const line of readFileSync(file, "utf8").split("\n")) n += line.length;
    sink += n;
  };
  const splitStreamed = () => {
    // The file split as a stream: read in the CLI's chunks, decoded, cut with indexOf and slice.
    const decoder = new StringDecoder("utf8");
    let rest = "";
    let n = 0;
    for (const chunk of fileChunks(file)) {
      const text = rest + decoder.write(chunk as Buffer);
      let from = 0;
      for (;;) {
        const nl = text.indexOf("\n", from);
        if (nl < 0) break;
        n += text.slice(from, nl).length;
        from = nl + 1;
      }
      rest = text.slice(from);
    }
    sink += n + (rest + decoder.end()).length;
  };
  const splitInMemory = () => {
    // The text already in memory cut with indexOf and slice (a slice is a view: little more
    // than a search for each newline).
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
  type Reader = {
    push(c: string | Uint8Array): void;
    end(): void;
    unknown: Map<string, number>;
  };
  const finish = (reader: Reader) => {
    reader.end();
    if (reader.unknown.size > 0) throw new Error(`unknown events: ${[...reader.unknown.keys()]}`);
  };
  const bytes = readFileSync(file);
  const fromMemory = (reader: Reader) => {
    // The log's bytes already in memory, in chunks as a stream gives them.
    for (let at = 0; at < bytes.length; at += 1 << 16)
      reader.push(bytes.subarray(at, at + (1 << 16)));
    finish(reader);
  };
  const fromFile = (reader: Reader) => {
    // As `iova trace` reads its log.
    for (const chunk of fileChunks(file)) reader.push(chunk);
    finish(reader);
  };
  const fieldReader = () =>
    new TraceFieldReader(TRACE_EVENTS, (_line, _def, fields) => {
      // Every field is a number here; taken as the two halves a 64-bit value is stored in.
      for (let i = 0; i < fields.count; i++) fieldSink[0] += fields.high32(i) + fields.low32(i);
    });
  const recordReader = () =>
    new TraceReader(TRACE_EVENTS, (r) => {
      sink += r.values.length;
    });
  const file_ = medianRatio(splitFile, () => fromFile(fieldReader()), 5);
  const streamed = medianRatio(splitStreamed, () => fromFile(fieldReader()), 5);
  const memory = medianRatio(splitInMemory, () => fromMemory(fieldReader()), 5);
  const records = medianRatio(splitFile, () => fromFile(recordReader()), 3);
  const scanMs = medianMs(scan, 3, 1);
  if (sink === -1 || fieldSink[0] === -1) console.log(sink, fieldSink[0]);
  const rate = (ms: number) => (lines * 1000) / ms;
  return [
    {
      name: "trace.lines_per_s",
      value: rate(file_.subjectMs),
      unit: "lines/s",
      baseline: null,
      ratio: null,
      note: `reading a file of ${lines} timestamped trace lines of four sPAPR TCE events as iova trace does`,
    },
    {
      name: "trace.reader_ratio_vs_split",
      value: file_.ratio,
      unit: "ratio",
      baseline: rate(file_.baselineMs),
      ratio: file_.ratio,
      note: "that over reading the same file and splitting it into line strings, pairs back to back",
    },
    {
      name: "trace.reader_ratio_vs_streamed_split",
      value: streamed.ratio,
      unit: "ratio",
      baseline: rate(streamed.baselineMs),
      ratio: streamed.ratio,
      note: "that over reading the file in the same chunks, decoding them and cutting lines with indexOf and slice",
    },
    {
      name: "trace.lines_per_s_in_memory",
      value: rate(memory.subjectMs),
      unit: "lines/s",
      baseline: null,
      ratio: null,
      note: "the same log's bytes already in memory, in 64 KiB chunks",
    },
    {
      name: "trace.reader_ratio_vs_inmemory_split",
      value: memory.ratio,
      unit: "ratio",
      baseline: rate(memory.baselineMs),
      ratio: memory.ratio,
      note: "that over cutting the text in memory with indexOf and slice, pairs back to back",
    },
    {
      name: "trace.reader_ratio_vs_char_scan",
      value: memory.subjectMs / scanMs,
      unit: "ratio",
      baseline: rate(scanMs),
      ratio: memory.subjectMs / scanMs,
      note: "the in-memory reader over a loop reading each char code of the text once",
    },
    {
      name: "trace.records_per_s",
      value: rate(records.subjectMs),
      unit: "lines/s",
      baseline: rate(records.baselineMs),
      ratio: records.ratio,
      note: "the file read into records (one object, bigint values, per line), ratio to the file split",
    },
  ];
}
