/**
 * The reader's fast path for a compiled format: the same grammar as `matchFormat`, read from the
 * bytes of a line where it lies in a chunk of the log (no decoding, no line copy, no per-field
 * string or array), into a reused field buffer. It takes only lines made of ASCII bytes, where a
 * byte is the char code `matchFormat` would see; any other line goes to `matchFormat`. A
 * hexadecimal number is read straight into its two 32-bit halves, a decimal one (up to 15 digits)
 * into one exact double; a `bigint` is made only when the consumer asks for one. It only says whether the line matched: on any doubt it answers
 * "no" and the reader reads the line again with `matchFormat`, which names what was expected, so
 * every error and every rarely used form (decimals over 15 digits) keeps one definition.
 */
import type { TraceFormat, TraceValue } from "./format.ts";

const LITERAL = 0;
const HEX = 1;
const DEC = 2;
const UDEC = 3;
const PTR = 4;
const STR = 5;

/** A field's value kind in the buffer. */
const NUMBER = 0; // exact in `lo` (may be negative)
const HI_LO = 1; // unsigned: hi * 2^32 + lo
const TEXT = 2; // bytes[lo, hi)

/** A format as operations over char codes. */
export interface FastFormat {
  readonly ops: Uint8Array;
  /** Per operation: its literal's bytes (a literal, or the literal ending a string). */
  readonly literals: readonly (Uint8Array | undefined)[];
  /** Per number operation: at most how many hex digits; the decimal range is [min, max). */
  readonly maxDigits: Uint8Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly fieldCount: number;
  /** False when a literal is not ASCII: every line of the event then goes to `matchFormat`. */
  readonly ascii: boolean;
}

const compiled = new WeakMap<TraceFormat, FastFormat>();

const codesOf = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const isAscii = (s: string) => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
};

/** The fast form of a compiled format (cached). */
export function fastFormat(format: TraceFormat): FastFormat {
  const known = compiled.get(format);
  if (known) return known;
  const n = format.pieces.length;
  const ops = new Uint8Array(n);
  const maxDigits = new Uint8Array(n);
  const min = new Float64Array(n);
  const max = new Float64Array(n);
  const literals: (Uint8Array | undefined)[] = [];
  let fieldCount = 0;
  let ascii = true;
  format.pieces.forEach((piece, i) => {
    if ("literal" in piece) {
      ascii &&= isAscii(piece.literal);
      ops[i] = LITERAL;
      literals.push(codesOf(piece.literal));
      return;
    }
    fieldCount++;
    maxDigits[i] = piece.conv === "ptr" ? 16 : piece.bits / 4;
    min[i] = piece.conv === "dec" ? -(2 ** (piece.bits - 1)) : 0;
    max[i] = piece.conv === "dec" ? 2 ** (piece.bits - 1) : 2 ** piece.bits;
    ops[i] = { hex: HEX, dec: DEC, udec: UDEC, ptr: PTR, str: STR }[piece.conv];
    const next = format.pieces[i + 1];
    // A string runs to the next literal, or to the end of the line.
    literals.push(
      piece.conv === "str" && next && "literal" in next ? codesOf(next.literal) : undefined,
    );
  });
  const fast = { ops, literals, maxDigits, min, max, fieldCount, ascii };
  compiled.set(format, fast);
  return fast;
}

/** A byte's value as a hexadecimal digit (lower case, as QEMU prints), else -1. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let c = 48; c <= 57; c++) HEX_VALUE[c] = c - 48;
for (let c = 97; c <= 102; c++) HEX_VALUE[c] = c - 87;

/**
 * A matched line's fields, valid until the reader reads the next line (copy what you keep).
 * `bigint(i)` and `value(i)` give exactly what `matchFormat` gives; `number(i)` avoids the
 * `bigint` when the value fits a double exactly.
 */
export interface TraceFields {
  readonly count: number;
  /** Field `i` (a number conversion) as an exact `bigint`. */
  bigint(i: number): bigint;
  /** Field `i` (a number conversion) as a number if exact (below 2^53), else `undefined`. */
  number(i: number): number | undefined;
  /** Field `i` (a number conversion) as 64 bits two's complement: the high 32 (unsigned). */
  high32(i: number): number;
  /** Field `i` (a number conversion) as 64 bits two's complement: the low 32 (unsigned). */
  low32(i: number): number;
  /** Field `i` (a `%s`) as the text logged. */
  string(i: number): string;
  /** Field `i` as `matchFormat` reads it. */
  value(i: number): TraceValue;
}

/** The high 32 bits of an exact integer `v` (|v| < 2^53) as 64 bits two's complement. */
export function high32Of(v: number): number {
  const hi = Math.floor(v / 4294967296);
  return hi < 0 ? hi + 4294967296 : hi;
}

/** The low 32 bits of an exact integer `v` (|v| < 2^53). */
export function low32Of(v: number): number {
  return v - Math.floor(v / 4294967296) * 4294967296;
}

/** ASCII bytes as a string (short ones without a decoder call). */
function asciiString(bytes: Uint8Array, from: number, to: number): string {
  if (to - from > 64) return ascii.decode(bytes.subarray(from, to));
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(bytes[i]);
  return s;
}
// Only ever given ASCII bytes, which UTF-8 decodes as themselves.
const ascii = new TextDecoder();

/** The fast path's reused buffer. */
export class FieldBuffer implements TraceFields {
  count = 0;
  /** The chunk the current line lies in (a `%s` field is its bounds there). */
  bytes: Uint8Array = new Uint8Array(0);
  readonly kinds: Uint8Array;
  readonly hi: Float64Array;
  readonly lo: Float64Array;

  constructor(max: number) {
    this.kinds = new Uint8Array(max);
    this.hi = new Float64Array(max);
    this.lo = new Float64Array(max);
  }

  bigint(i: number): bigint {
    if (this.kinds[i] === NUMBER) return BigInt(this.lo[i]);
    if (this.kinds[i] === HI_LO) {
      const hi = this.hi[i];
      // Below 2^53 the value is an exact double: one conversion instead of a shift and an or.
      return hi < 2097152
        ? BigInt(hi * 4294967296 + this.lo[i])
        : (BigInt(hi) << 32n) | BigInt(this.lo[i]);
    }
    throw new TypeError(`field ${i} is a string`);
  }

  number(i: number): number | undefined {
    if (this.kinds[i] === NUMBER) return this.lo[i];
    if (this.kinds[i] === HI_LO) {
      const v = this.hi[i] * 4294967296 + this.lo[i];
      return this.hi[i] < 2097152 ? v : undefined;
    }
    return undefined;
  }

  high32(i: number): number {
    if (this.kinds[i] === HI_LO) return this.hi[i];
    if (this.kinds[i] === NUMBER) return high32Of(this.lo[i]);
    throw new TypeError(`field ${i} is a string`);
  }

  low32(i: number): number {
    if (this.kinds[i] === HI_LO) return this.lo[i];
    if (this.kinds[i] === NUMBER) return low32Of(this.lo[i]);
    throw new TypeError(`field ${i} is a string`);
  }

  string(i: number): string {
    if (this.kinds[i] !== TEXT) throw new TypeError(`field ${i} is a number`);
    return asciiString(this.bytes, this.lo[i], this.hi[i]);
  }

  value(i: number): TraceValue {
    return this.kinds[i] === TEXT ? this.string(i) : this.bigint(i);
  }
}

/** Whether bytes[at, end) starts with `codes`. */
function startsWith(bytes: Uint8Array, at: number, end: number, codes: Uint8Array): boolean {
  if (at + codes.length > end) return false;
  for (let k = 0; k < codes.length; k++) if (bytes[at + k] !== codes[k]) return false;
  return true;
}

/**
 * Reads bytes[start, end) (one line, without its line end) against the format into `out`;
 * returns whether it matched. `false` means "read it with matchFormat", not necessarily an error;
 * a match read ASCII bytes only.
 */
export function matchFast(
  f: FastFormat,
  bytes: Uint8Array,
  start: number,
  end: number,
  out: FieldBuffer,
): boolean {
  const { ops, literals, maxDigits, min, max } = f;
  if (!f.ascii) return false;
  const kinds = out.kinds;
  const his = out.hi;
  const los = out.lo;
  let p = start;
  let field = 0;
  for (let n = 0; n < ops.length; n++) {
    const op = ops[n];
    if (op === LITERAL) {
      const codes = literals[n] as Uint8Array;
      if (!startsWith(bytes, p, end, codes)) return false;
      p += codes.length;
      continue;
    }
    if (op === HEX || op === PTR) {
      if (op === PTR) {
        const c = p < end ? bytes[p] : -1;
        if (c === 40 /* ( */) {
          // "(nil)"
          if (
            p + 5 > end ||
            bytes[p + 1] !== 110 ||
            bytes[p + 2] !== 105 ||
            bytes[p + 3] !== 108 ||
            bytes[p + 4] !== 41
          )
            return false;
          p += 5;
          kinds[field] = NUMBER;
          los[field++] = 0;
          continue;
        }
        if (c !== 48 || p + 1 >= end || bytes[p + 1] !== 120) return false;
        p += 2;
      }
      const from = p;
      // One pass straight into the two 32-bit halves (int32 in the loop, so nothing is boxed);
      // past 16 digits the halves are wrong, but such a line is refused below.
      let hi = 0;
      let lo = 0;
      while (p < end) {
        const d = HEX_VALUE[bytes[p]];
        if (d < 0) break;
        hi = (hi << 4) | (lo >>> 28);
        lo = (lo << 4) | d;
        p++;
      }
      const digits = p - from;
      if (digits === 0 || digits > maxDigits[n]) return false;
      kinds[field] = HI_LO;
      his[field] = hi >>> 0;
      los[field++] = lo >>> 0;
      continue;
    }
    if (op === DEC || op === UDEC) {
      let negative = false;
      if (op === DEC && p < end && bytes[p] === 45 /* - */) {
        negative = true;
        p++;
      }
      const digitsFrom = p;
      let magnitude = 0;
      while (p < end) {
        const c = bytes[p];
        if (c < 48 || c > 57) break;
        magnitude = magnitude * 10 + c - 48;
        p++;
      }
      // Longer numbers (rare) are matchFormat's: exact only as a bigint.
      if (p === digitsFrom || p - digitsFrom > 15) return false;
      const v = negative ? -magnitude : magnitude;
      if (v < min[n] || v >= max[n]) return false;
      kinds[field] = NUMBER;
      los[field++] = v === 0 ? 0 : v;
      continue;
    }
    // STR: to the first occurrence of the next literal within the line.
    const codes = literals[n];
    let to = end;
    if (codes) {
      const first = codes[0];
      let q = p;
      for (; q + codes.length <= end; q++)
        if (bytes[q] === first && startsWith(bytes, q, end, codes)) break;
      if (q + codes.length > end) return false;
      to = q;
    }
    // Only ASCII is taken here (the string is then its bytes); matchFormat decodes the rest.
    for (let q = p; q < to; q++) if (bytes[q] > 0x7f) return false;
    kinds[field] = TEXT;
    los[field] = p;
    his[field++] = to;
    p = to;
  }
  if (p !== end) return false;
  out.count = field;
  return true;
}
