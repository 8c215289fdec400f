/**
 * A linear-time reader for the step items most large files are made of: a block map of one or a
 * few lines, `- key: value` then `key: value` lines under it, whose values are plain scalars
 * (words, decimal and 0x integers, sizes), quoted strings without escapes, or one-line flow maps
 * of those (`- cpu: { read: 0x1000, length: 8 }`).
 *
 * It gives the plain value the yaml library's document would give (toPlain in reader.ts: maps as
 * null-prototype objects, integers as bigints) or declines (undefined) on anything else, and the
 * loader then parses the item with the yaml library. So it never decides what a file means: a
 * differential test (test/scenario/fast-step.test.ts) compares it with the library on generated
 * and hostile items.
 */

const SPACE = 0x20;
const NEWLINE = 0x0a;
const RETURN = 0x0d;
const HASH = 0x23;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const DASH = 0x2d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;

/** Characters of the plain scalars read here: letters, digits, `_ . - /`. */
function isPlainChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c === 0x2e ||
    c === DASH ||
    c === 0x2f
  );
}

/** Keys read here: lower-case words that YAML's core schema resolves to themselves. */
function isKey(k: string): boolean {
  return /^[a-z_][a-z0-9_]*$/.test(k) && k !== "null" && k !== "true" && k !== "false";
}

const WORDS: Record<string, boolean | null> = {
  true: true,
  True: true,
  TRUE: true,
  false: false,
  False: false,
  FALSE: false,
  null: null,
  Null: null,
  NULL: null,
};

const DECIMAL = /^-?[0-9]+$/;
const HEX = /^0x[0-9a-fA-F]+$/;
const SIZE = /^[0-9]+[KMGTkmgt]$/;
const WORD = /^[A-Za-z_][A-Za-z0-9_./-]*$/;

/** What YAML's core schema makes of a plain scalar of `isPlainChar`s, or undefined. */
function plainValue(t: string): unknown {
  if (DECIMAL.test(t) || HEX.test(t)) return BigInt(t);
  if (SIZE.test(t)) return t;
  if (WORD.test(t)) return Object.hasOwn(WORDS, t) ? WORDS[t] : t;
  return undefined;
}

/** A reader over `text[from, to)`; every method returns false (or undefined) to decline. */
class Reader {
  pos: number;
  value: unknown;
  constructor(
    readonly text: string,
    from: number,
    readonly to: number,
  ) {
    this.pos = from;
  }

  code(): number {
    return this.pos < this.to ? this.text.charCodeAt(this.pos) : -1;
  }

  /** The length of a line break here: 1 for `\n`, 2 for `\r\n`, else 0. */
  lineBreak(): number {
    const c = this.code();
    if (c === NEWLINE) return 1;
    return c === RETURN && this.pos + 1 < this.to && this.text.charCodeAt(this.pos + 1) === NEWLINE
      ? 2
      : 0;
  }

  spaces(): number {
    const start = this.pos;
    while (this.code() === SPACE) this.pos++;
    return this.pos - start;
  }

  /** A scalar, into `value`; `flow` says whether `,` and `}` may end it. */
  scalar(flow: boolean): boolean {
    const { text } = this;
    const c = this.code();
    if (c === DQUOTE || c === SQUOTE) {
      let i = this.pos + 1;
      for (; i < this.to; i++) {
        const d = text.charCodeAt(i);
        if (d === c) break;
        // Escapes, and anything YAML might fold or refuse, are the library's.
        if (d < SPACE || d > 0x7e || d === 0x5c) return false;
      }
      if (i >= this.to) return false;
      // `''` inside single quotes is an escaped quote.
      if (c === SQUOTE && i + 1 < this.to && text.charCodeAt(i + 1) === SQUOTE) return false;
      this.value = text.slice(this.pos + 1, i);
      this.pos = i + 1;
    } else {
      const start = this.pos;
      while (isPlainChar(this.code())) this.pos++;
      if (this.pos === start) return false;
      const v = plainValue(text.slice(start, this.pos));
      if (v === undefined) return false;
      this.value = v;
    }
    const e = this.code();
    return (
      e === SPACE || e === -1 || this.lineBreak() > 0 || (flow && (e === COMMA || e === CLOSE))
    );
  }

  key(): string | undefined {
    const start = this.pos;
    while (isPlainChar(this.code())) this.pos++;
    const k = this.text.slice(start, this.pos);
    if (!isKey(k) || this.code() !== COLON) return undefined;
    this.pos++;
    // `key:value` is one plain scalar in YAML, not a pair.
    if (this.code() !== SPACE) return undefined;
    this.spaces();
    return k;
  }

  /** `{ key: scalar, ... }` on one line, into `value`. */
  flowMap(): boolean {
    this.pos++;
    const out: Record<string, unknown> = Object.create(null);
    this.spaces();
    if (this.code() === CLOSE) {
      this.pos++;
      this.value = out;
      return true;
    }
    for (;;) {
      const k = this.key();
      if (k === undefined || Object.hasOwn(out, k) || !this.scalar(true)) return false;
      out[k] = this.value;
      this.spaces();
      const c = this.code();
      this.pos++;
      if (c === CLOSE) break;
      if (c !== COMMA) return false;
      this.spaces();
    }
    this.value = out;
    return true;
  }

  /** After a value: spaces, an optional ` # comment`, then the end of the line. */
  endOfLine(lineStart = false): boolean {
    const spaced = this.spaces() > 0 || lineStart;
    let c = this.code();
    if (c === HASH && spaced) {
      while (c !== -1 && this.lineBreak() === 0) {
        // A lone carriage return, other control characters and non-ASCII are the library's.
        if ((c < SPACE && c !== 0x09) || c > 0x7e) return false;
        this.pos++;
        c = this.code();
      }
    }
    const n = this.lineBreak();
    this.pos += n;
    return n > 0 || c === -1;
  }

  /** Skips blank and comment-only lines: at a line with content, at the end, or declined. */
  skipBlankLines(): "content" | "end" | "decline" {
    while (this.pos < this.to) {
      const start = this.pos;
      this.spaces();
      const c = this.code();
      const n = this.lineBreak();
      if (n > 0) {
        this.pos += n;
        continue;
      }
      if (c === HASH) {
        if (!this.endOfLine(true)) return "decline";
        continue;
      }
      if (c === -1) return "end";
      this.pos = start;
      return "content";
    }
    return "end";
  }
}

/**
 * The plain value of one block-sequence item, `text[from, to)` (from its line's start, through
 * its last line's newline), or undefined when this reader does not fully understand it.
 */
export function readStepItem(text: string, from: number, to: number): unknown {
  const r = new Reader(text, from, to);
  const indent = r.spaces();
  if (r.code() !== DASH) return undefined;
  r.pos++;
  if (r.spaces() === 0) return undefined;
  const column = r.pos - from;
  if (column <= indent) return undefined;
  const out: Record<string, unknown> = Object.create(null);
  for (;;) {
    const k = r.key();
    if (k === undefined || Object.hasOwn(out, k)) return undefined;
    const c = r.code();
    if (c === OPEN) {
      if (!r.flowMap()) return undefined;
    } else if (!r.scalar(false)) return undefined;
    out[k] = r.value;
    if (!r.endOfLine()) return undefined;
    const next = r.skipBlankLines();
    if (next === "decline") return undefined;
    if (next === "end") break;
    // The next key of the same map: exactly at the first key's column.
    const lineStart = r.pos;
    if (r.spaces() !== column || r.pos - lineStart !== column) return undefined;
  }
  return r.pos === to ? out : undefined;
}
