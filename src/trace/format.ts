/**
 * QEMU's trace format strings (the `"..."` part of a trace-events line, as the `log` backend
 * prints it) compiled into matchers that read a line's arguments back, in one left-to-right pass
 * with no backtracking, and writers that print them again.
 */

/** One piece of a format: literal text, or a conversion. */
type Piece =
  | { readonly literal: string }
  | {
      readonly conv: "hex" | "dec" | "udec" | "str" | "ptr";
      readonly bits: 32 | 64;
      /** Zero-padded width (`%02x`); reading takes any number of digits. */
      readonly width?: number;
    };

/** A parsed argument: numbers exact (`bigint`), strings as printed. */
export type TraceValue = bigint | string;

/** A compiled format. */
export interface TraceFormat {
  readonly text: string;
  readonly pieces: readonly Piece[];
}

/** Compiles a printf-style format (`%lx %x %ld %d %u %s %p`, `%02x`, and `%%`). */
export function compileFormat(text: string): TraceFormat {
  const pieces: Piece[] = [];
  let literal = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "%") {
      literal += c;
      continue;
    }
    let j = i + 1;
    if (text[j] === "%") {
      literal += "%";
      i = j;
      continue;
    }
    let width = 0;
    if (text[j] === "0") {
      j++;
      while (text[j] >= "0" && text[j] <= "9") width = width * 10 + Number(text[j++]);
    }
    let bits: 32 | 64 = 32;
    while (text[j] === "l" || text[j] === "z") {
      bits = 64;
      j++;
    }
    const k = text[j];
    const conv =
      k === "x"
        ? "hex"
        : k === "d"
          ? "dec"
          : k === "u"
            ? "udec"
            : k === "s"
              ? "str"
              : k === "p"
                ? "ptr"
                : undefined;
    if (!conv) throw new Error(`unsupported conversion %${text.slice(i + 1, j + 1)} in "${text}"`);
    if (literal) pieces.push({ literal });
    literal = "";
    pieces.push(width > 0 ? { conv, bits, width } : { conv, bits });
    i = j;
  }
  if (literal) pieces.push({ literal });
  return { text, pieces };
}

const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
const isDigit = (c: number) => c >= 48 && c <= 57;
const hexDigit = (c: number) => (c <= 57 ? c - 48 : c - 87);

/**
 * The value of the hexadecimal digits line[from, to): 13 digits (52 bits) at a time in a double,
 * so that a `bigint` is made from numbers, not from a new string parsed again.
 */
function hexValue(line: string, from: number, to: number): bigint {
  // The first chunk takes the digits beyond a multiple of 13; every later one 13.
  let end = from + ((to - from) % 13 || 13);
  let part = 0;
  let p = from;
  for (; p < end; p++) part = part * 16 + hexDigit(line.charCodeAt(p));
  if (p === to) return BigInt(part);
  let value = BigInt(part);
  while (p < to) {
    end = p + 13;
    part = 0;
    for (; p < end; p++) part = part * 16 + hexDigit(line.charCodeAt(p));
    value = (value << 52n) | BigInt(part);
  }
  return value;
}

/**
 * Reads `line` from `start` against the format. Returns the values, or what was expected at the
 * first place it differs.
 */
export function matchFormat(
  format: TraceFormat,
  line: string,
  start: number,
): { values: TraceValue[] } | { expected: string; at: number } {
  const values: TraceValue[] = [];
  let p = start;
  const { pieces } = format;
  for (let n = 0; n < pieces.length; n++) {
    const piece = pieces[n];
    if ("literal" in piece) {
      if (!line.startsWith(piece.literal, p)) return { expected: `"${piece.literal}"`, at: p };
      p += piece.literal.length;
      continue;
    }
    const from = p;
    switch (piece.conv) {
      case "hex": {
        while (p < line.length && isHex(line.charCodeAt(p))) p++;
        const digits = p - from;
        if (digits === 0 || digits > piece.bits / 4)
          return { expected: `a ${piece.bits}-bit hexadecimal number`, at: from };
        values.push(hexValue(line, from, p));
        break;
      }
      case "dec":
      case "udec": {
        if (piece.conv === "dec" && line[p] === "-") p++;
        const digitsFrom = p;
        while (p < line.length && isDigit(line.charCodeAt(p))) p++;
        if (p === digitsFrom || p - digitsFrom > 20)
          return {
            expected: `a ${piece.conv === "dec" ? "signed" : "unsigned"} decimal number`,
            at: from,
          };
        if (p - digitsFrom <= 15) {
          // Exact in a double: no string to parse, no bigint compares.
          let magnitude = 0;
          for (let q = digitsFrom; q < p; q++) magnitude = magnitude * 10 + line.charCodeAt(q) - 48;
          const v = p > digitsFrom && from !== digitsFrom ? -magnitude : magnitude;
          const limit = 2 ** piece.bits;
          const ok = piece.conv === "dec" ? v >= -limit / 2 && v < limit / 2 : v < limit;
          if (!ok) return { expected: `a ${piece.bits}-bit decimal number`, at: from };
          values.push(BigInt(v));
          break;
        }
        const v = BigInt(line.slice(from, p));
        const limit = 1n << BigInt(piece.bits);
        const ok = piece.conv === "dec" ? v >= -(limit >> 1n) && v < limit >> 1n : v < limit;
        if (!ok) return { expected: `a ${piece.bits}-bit decimal number`, at: from };
        values.push(v);
        break;
      }
      case "ptr": {
        if (line.startsWith("(nil)", p)) {
          p += 5;
          values.push(0n);
          break;
        }
        if (!line.startsWith("0x", p)) return { expected: "a pointer (0x... or (nil))", at: p };
        p += 2;
        const digitsFrom = p;
        while (p < line.length && isHex(line.charCodeAt(p))) p++;
        if (p === digitsFrom || p - digitsFrom > 16) return { expected: "a pointer", at: from };
        values.push(hexValue(line, digitsFrom, p));
        break;
      }
      case "str": {
        // A string runs to the next literal (or to the end of the line); one indexOf, no backtracking.
        const next = pieces[n + 1];
        const end = next && "literal" in next ? line.indexOf(next.literal, p) : line.length;
        if (end < 0) return { expected: `"${(next as { literal: string }).literal}"`, at: p };
        values.push(line.slice(p, end));
        p = end;
        break;
      }
    }
  }
  if (p !== line.length) return { expected: "the end of the line", at: p };
  return { values };
}

/** Prints values through the format, as QEMU's `log` backend would. */
export function printFormat(format: TraceFormat, values: readonly TraceValue[]): string {
  let out = "";
  let v = 0;
  for (const piece of format.pieces) {
    if ("literal" in piece) {
      out += piece.literal;
      continue;
    }
    const value = values[v++];
    const pad = (digits: string) => digits.padStart(piece.width ?? 0, "0");
    switch (piece.conv) {
      case "hex":
        out += pad(BigInt.asUintN(piece.bits, BigInt(value)).toString(16));
        break;
      case "dec":
        out += BigInt.asIntN(piece.bits, BigInt(value)).toString();
        break;
      case "udec":
        out += BigInt.asUintN(piece.bits, BigInt(value)).toString();
        break;
      case "ptr":
        out += BigInt(value) === 0n ? "(nil)" : `0x${BigInt(value).toString(16)}`;
        break;
      case "str":
        out += String(value);
        break;
    }
  }
  return out;
}
