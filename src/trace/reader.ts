/**
 * Reading a QEMU trace log (the `log` backend's lines, written with `-D FILE`): each line is an
 * event name and its arguments, optionally prefixed `PID@SECONDS.MICROS:` (`-msg timestamp=on`).
 * Known events are parsed by their format; unknown ones are counted and skipped; anything else is a
 * `TraceSyntaxError` with the line. One pass over each line, no backtracking; input is taken in
 * chunks so a log of any size streams through in constant memory per line.
 *
 * Speed (`trace.lines_per_s`): the log is read as the bytes a file gives (never decoded as a
 * whole); lines are found with the chunk's native `indexOf` and read where they lie, not copied;
 * the event is found by a hash of its name's bytes (no name string); its format is matched by
 * `matchFast` into a reused buffer. An unknown event is counted from its name's bytes. Any other
 * line the fast path does not take (an error, a blank line, a non-ASCII line, a rare form) is
 * decoded and read again by the plain path below, which alone decides errors, so both paths agree
 * by construction (and property tests check it against a reference reader).
 */

import type { TraceEventDef } from "./event-def.ts";
import {
  type FastFormat,
  FieldBuffer,
  fastFormat,
  matchFast,
  type TraceFields,
} from "./fast-format.ts";
import { matchFormat, type TraceValue } from "./format.ts";
import { type TraceRecord, TraceSyntaxError } from "./record.ts";

const isNameChar = (c: number) =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
const isDigit = (c: number) => c >= 48 && c <= 57;

/** Whether a line is empty or only white space (as `trim() === ""`, without a copy). */
function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    // trim()'s white space: ASCII blanks, NBSP, BOM and the other Unicode spaces.
    if (!(c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0xfeff || c > 0x1000))
      return false;
    if (c > 0x1000 && line[i].trim() !== "") return false;
  }
  return true;
}

/** Where the event name starts: after an optional `PID@SECONDS.MICROS:` prefix. */
function nameStart(line: string): number {
  let p = 0;
  while (p < line.length && isDigit(line.charCodeAt(p))) p++;
  if (p === 0 || line[p] !== "@") return 0;
  p++;
  const secondsFrom = p;
  while (p < line.length && isDigit(line.charCodeAt(p))) p++;
  if (p === secondsFrom || line[p] !== ".") throw new TraceSyntaxError(0, p, "PID@SECONDS.MICROS:");
  p++;
  const microsFrom = p;
  while (p < line.length && isDigit(line.charCodeAt(p))) p++;
  if (p === microsFrom || line[p] !== ":") throw new TraceSyntaxError(0, p, "PID@SECONDS.MICROS:");
  return p + 1;
}

/** A matched event line, as the fast path hands it over (fields valid during the call only). */
export type TraceFieldsHandler = (line: number, def: TraceEventDef, fields: TraceFields) => void;

/** The event table by a hash of the name's bytes (no string made per line). */
interface Entry {
  readonly def: TraceEventDef;
  readonly fast: FastFormat;
  /** The name's bytes, compared in place. */
  readonly name: Uint8Array;
}

/** Where the digits from `p` end (before `end`). */
function digitsEnd(bytes: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const c = bytes[p];
    if (c < 48 || c > 57) break;
    p++;
  }
  return p;
}

// Kept within a small integer (31 bits), so that the lookup does not box the key.
const nameHash = (h: number, c: number) => (Math.imul(h, 31) + c) & 0x3fffffff;

/** The values of a fields buffer, as `matchFormat` gives them. */
function valuesOf(fields: TraceFields): TraceValue[] {
  const values: TraceValue[] = new Array(fields.count);
  for (let i = 0; i < fields.count; i++) values[i] = fields.value(i);
  return values;
}

/** A values array seen as fields (the plain path's result, handed to a fields consumer). */
class ValueFields implements TraceFields {
  constructor(readonly values: readonly TraceValue[]) {}
  get count() {
    return this.values.length;
  }
  bigint(i: number): bigint {
    const v = this.values[i];
    if (typeof v !== "bigint") throw new TypeError(`field ${i} is a string`);
    return v;
  }
  number(i: number): number | undefined {
    const v = this.values[i];
    if (typeof v !== "bigint") return undefined;
    return v > -(2n ** 53n) && v < 2n ** 53n ? Number(v) : undefined;
  }
  high32(i: number): number {
    return Number(BigInt.asUintN(64, this.bigint(i)) >> 32n);
  }
  low32(i: number): number {
    return Number(BigInt.asUintN(32, this.bigint(i)));
  }
  string(i: number): string {
    const v = this.values[i];
    if (typeof v !== "string") throw new TypeError(`field ${i} is a number`);
    return v;
  }
  value(i: number): TraceValue {
    return this.values[i];
  }
}

/** An unknown event's name, counted without making its string again. */
interface Unknown {
  readonly bytes: Uint8Array;
  readonly name: string;
}

/** Whether bytes[at, at + name.length) are `name`'s bytes. */
function sameBytes(bytes: Uint8Array, at: number, name: Uint8Array): boolean {
  for (let k = 0; k < name.length; k++) if (bytes[at + k] !== name[k]) return false;
  return true;
}

const MAX_UNKNOWN_PER_HASH = 8;

/** A chunk of text as UTF-8, as a file holding it would give it. */
const encoder = new TextEncoder();
/** A line the plain path reads, as a file read would decode it (a BOM is kept, bad bytes U+FFFD). */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Reads log lines against an event table, handing each matched event's fields to the consumer
 * without building a record (the fastest way to read; `TraceReader` builds records).
 *
 * The log is read as bytes (UTF-8), as a file gives them: chunks of bytes are read where they lie;
 * a chunk of text is read as its UTF-8 bytes (a lone surrogate, which no file can hold, as U+FFFD).
 */
export class TraceFieldReader {
  /** Unknown events and how often each was skipped. */
  readonly unknown = new Map<string, number>();
  /** Lines read so far. */
  lines = 0;
  /** The start of a line cut by the end of a chunk (bytes [0, #partialLength)). */
  #partial = new Uint8Array(256);
  #partialLength = 0;
  /** A high surrogate ending a text chunk, read with the next one. */
  #heldSurrogate = "";
  readonly #byHash = new Map<number, Entry[]>();
  readonly #unknownByHash = new Map<number, Unknown[]>();
  readonly #buffer: FieldBuffer;

  constructor(
    private readonly events: ReadonlyMap<string, TraceEventDef>,
    private readonly onFields: TraceFieldsHandler,
  ) {
    let max = 0;
    for (const [name, def] of events) {
      let h = 0;
      for (let i = 0; i < name.length; i++) h = nameHash(h, name.charCodeAt(i));
      const fast = fastFormat(def.format);
      max = Math.max(max, fast.fieldCount);
      const entry = { def, fast, name: encoder.encode(name) };
      const bucket = this.#byHash.get(h);
      if (bucket) bucket.push(entry);
      else this.#byHash.set(h, [entry]);
    }
    this.#buffer = new FieldBuffer(max);
  }

  /** Feeds a chunk of the log (any split; lines are joined across chunks). */
  push(chunk: string | Uint8Array): void {
    if (typeof chunk === "string") {
      let text = this.#heldSurrogate + chunk;
      this.#heldSurrogate = "";
      const last = text.charCodeAt(text.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        this.#heldSurrogate = text.slice(-1);
        text = text.slice(0, -1);
      }
      this.#pushBytes(encoder.encode(text));
    } else this.#pushBytes(chunk);
  }

  #pushBytes(chunk: Uint8Array): void {
    let from = 0;
    if (this.#partialLength > 0) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.#keep(chunk, 0);
        return;
      }
      this.#keep(chunk.subarray(0, nl), 0);
      const length = this.#partialLength;
      this.#partialLength = 0;
      this.#line(this.#partial, 0, length);
      from = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) break;
      this.#line(chunk, from, nl);
      from = nl + 1;
    }
    if (from < chunk.length) this.#keep(chunk, from);
  }

  /** Appends chunk[from...] to the cut line (a copy: the chunk's memory may be reused). */
  #keep(chunk: Uint8Array, from: number): void {
    const need = this.#partialLength + chunk.length - from;
    if (need > this.#partial.length) {
      const grown = new Uint8Array(Math.max(need, this.#partial.length * 2));
      grown.set(this.#partial.subarray(0, this.#partialLength));
      this.#partial = grown;
    }
    this.#partial.set(from === 0 ? chunk : chunk.subarray(from), this.#partialLength);
    this.#partialLength = need;
  }

  /** Ends the log: a last line without its newline is read too. */
  end(): void {
    if (this.#heldSurrogate) {
      this.#pushBytes(encoder.encode(this.#heldSurrogate));
      this.#heldSurrogate = "";
    }
    if (this.#partialLength > 0) {
      const length = this.#partialLength;
      this.#partialLength = 0;
      this.#line(this.#partial, 0, length);
    }
  }

  /** The line bytes[from, to) (without its newline): the fast path, else the plain one. */
  #line(bytes: Uint8Array, from: number, to: number): void {
    const n = ++this.lines;
    if (this.#fast(bytes, from, to, n)) return;
    this.#plain(decoder.decode(bytes.subarray(from, to)), n);
  }

  #fast(bytes: Uint8Array, from: number, rawEnd: number, n: number): boolean {
    const end = rawEnd > from && bytes[rawEnd - 1] === 13 ? rawEnd - 1 : rawEnd;
    if (from === end) return true; // an empty line
    let p = from;
    let c = bytes[p];
    let start = from;
    if (c >= 48 && c <= 57) {
      // Maybe PID@SECONDS.MICROS:
      p = digitsEnd(bytes, p, end);
      if (p < end && bytes[p] === 64 /* @ */) {
        const seconds = ++p;
        p = digitsEnd(bytes, p, end);
        if (p === seconds || p === end || bytes[p] !== 46 /* . */) return false;
        const micros = ++p;
        p = digitsEnd(bytes, p, end);
        if (p === micros || p === end || bytes[p] !== 58 /* : */) return false;
        start = ++p;
      } else p = from;
    }
    let h = 0;
    while (p < end) {
      c = bytes[p];
      if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95))
        break;
      h = nameHash(h, c);
      p++;
    }
    // No name (a blank or malformed line), or not a space after it: the plain path's to say.
    if (p === start || (p < end && c !== 32)) return false;
    const length = p - start;
    const bucket = this.#byHash.get(h);
    let entry: Entry | undefined;
    if (bucket)
      for (const e of bucket)
        if (e.name.length === length && sameBytes(bytes, start, e.name)) {
          entry = e;
          break;
        }
    // An unknown event: counted by its name alone (the rest of its line is not read).
    if (!entry) return this.#countUnknown(bytes, start, length, h);
    const buffer = this.#buffer;
    if (!matchFast(entry.fast, bytes, p < end ? p + 1 : p, end, buffer)) return false;
    buffer.bytes = bytes;
    this.onFields(n, entry.def, buffer);
    return true;
  }

  #countUnknown(bytes: Uint8Array, start: number, length: number, h: number): boolean {
    let bucket = this.#unknownByHash.get(h);
    if (!bucket) {
      bucket = [];
      this.#unknownByHash.set(h, bucket);
    }
    let known: Unknown | undefined;
    for (const u of bucket)
      if (u.bytes.length === length && sameBytes(bytes, start, u.bytes)) {
        known = u;
        break;
      }
    if (!known) {
      // Names made to share a hash (a hostile log) would make every line scan a long bucket:
      // past a few, a new name is counted by the plain path's map of strings instead.
      if (bucket.length >= MAX_UNKNOWN_PER_HASH) return false;
      const name = bytes.slice(start, start + length);
      known = { bytes: name, name: decoder.decode(name) };
      bucket.push(known);
    }
    this.unknown.set(known.name, (this.unknown.get(known.name) ?? 0) + 1);
    return true;
  }

  /** The plain path: reads one decoded line and says what is wrong with it, if anything. */
  #plain(raw: string, n: number): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (isBlank(line)) return;
    let start: number;
    try {
      start = nameStart(line);
    } catch (e) {
      throw new TraceSyntaxError(
        n,
        (e as TraceSyntaxError).column + 1,
        (e as TraceSyntaxError).expected,
      );
    }
    let p = start;
    while (p < line.length && isNameChar(line.charCodeAt(p))) p++;
    if (p === start) throw new TraceSyntaxError(n, p + 1, "an event name");
    if (p < line.length && line[p] !== " ")
      throw new TraceSyntaxError(n, p + 1, "a space after the event name");
    const name = line.slice(start, p);
    const def = this.events.get(name);
    if (!def) {
      this.unknown.set(name, (this.unknown.get(name) ?? 0) + 1);
      return;
    }
    const m = matchFormat(def.format, line, p < line.length ? p + 1 : p);
    if ("expected" in m)
      throw new TraceSyntaxError(
        n,
        m.at + 1,
        `${m.expected} in ${name} (format "${def.format.text}")`,
      );
    this.onFields(n, def, new ValueFields(m.values));
  }
}

/** Reads log lines against an event table, one record per event line. */
export class TraceReader extends TraceFieldReader {
  constructor(
    events: ReadonlyMap<string, TraceEventDef>,
    onRecord: (record: TraceRecord, def: TraceEventDef) => void,
  ) {
    super(events, (line, def, fields) =>
      onRecord(
        {
          line,
          name: def.name,
          values: fields instanceof ValueFields ? fields.values : valuesOf(fields),
        },
        def,
      ),
    );
  }
}
