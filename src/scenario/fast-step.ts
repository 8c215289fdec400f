/**
 * A linear-time reader for the YAML most scenario files are made of, so that loading them needs
 * no yaml-library document:
 * - step items (`readStepItem`): `- key: value` then `key: value` lines under it;
 * - a file's head (`readBlockDocument`): block maps nested by indentation and block sequences.
 * Values are plain scalars (words, decimal and 0x integers, sizes; in block context words may
 * hold `,`, as in `ibm,create-pe-dma-window`, and a scalar may be several words), quoted strings
 * without escapes, one-line flow maps and flow sequences of those
 * (`{ liobn: 0x1, tces: [0x3, 0x1003] }`), nested block maps and block sequences of any of these.
 *
 * It gives the plain value the yaml library's document would give (toPlain in reader.ts: maps as
 * null-prototype objects, integers as bigints) or declines (undefined) on anything else: anchors,
 * tags, multi-line scalars, tabs, duplicate keys, `? ` keys, documents markers, flow collections
 * spanning lines, floats, non-ASCII text. The loader then parses with the yaml library. So it never
 * decides what a file means: differential tests (test/scenario/fast-step.test.ts,
 * test/scenario/fast-head.test.ts) compare it with the library on generated and hostile text.
 *
 * Every character is looked at a bounded number of times, and the regular
 * expressions below are anchored single character classes: time is linear in the text.
 */

const SPACE = 0x20;
const NEWLINE = 0x0a;
const RETURN = 0x0d;
const HASH = 0x23;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const OPEN_SEQ = 0x5b;
const CLOSE_SEQ = 0x5d;
const DASH = 0x2d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;

/** Nesting deeper than this is the library's (no file needs it; the stack stays small). */
const MAX_DEPTH = 24;

/** Characters of the plain scalars read here: letters, digits, `_ . - /`; in block context `,`. */
function isPlainChar(c: number, block: boolean): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c === 0x2e ||
    c === DASH ||
    c === 0x2f ||
    (block && c === COMMA)
  );
}

/** Letters, digits and `_`: what a plain scalar with spaces may start with here. */
function isWordStart(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f
  );
}

/** Keys read here: lower-case words that YAML's core schema resolves to themselves. */
function isKey(k: string): boolean {
  return /^[a-z_][a-z0-9_-]*$/.test(k) && k !== "null" && k !== "true" && k !== "false";
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
const WORD = /^[A-Za-z_][A-Za-z0-9_.,/-]*$/;

/** What YAML's core schema makes of a plain scalar of `isPlainChar`s, or undefined. */
function plainValue(t: string): unknown {
  if (DECIMAL.test(t) || HEX.test(t)) return BigInt(t);
  if (SIZE.test(t)) return t;
  if (WORD.test(t)) return Object.hasOwn(WORDS, t) ? WORDS[t] : t;
  return undefined;
}

/** Where a block node ended: at the next content line (`lineIndent` says where), or the end. */
type Next = "content" | "end" | undefined;

/** A reader over `text[from, to)`; every method returns false (or undefined) to decline. */
class Reader {
  pos: number;
  value: unknown;
  /** Where the current line starts, and the column of its first character. */
  lineStart: number;
  lineIndent = 0;
  constructor(
    readonly text: string,
    from: number,
    readonly to: number,
  ) {
    this.pos = from;
    this.lineStart = from;
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

  /** A scalar, into `value`; `flow` says whether `,` `}` `]` may end it (and `,` is not in it). */
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
      while (isPlainChar(this.code(), !flow)) this.pos++;
      if (this.pos === start) return false;
      let end = this.pos;
      // In block context a plain scalar may hold spaces (`name: q35 VT-d map`): words of the
      // same characters after a letter, digit or `_`, up to a ` #` comment or the line's end. No
      // core-schema type has a space, so it is a string.
      if (!flow && isWordStart(text.charCodeAt(start))) {
        for (;;) {
          const at = this.pos;
          this.spaces();
          if (this.pos === at || !isPlainChar(this.code(), true)) {
            this.pos = at;
            break;
          }
          while (isPlainChar(this.code(), true)) this.pos++;
          end = this.pos;
        }
      }
      const word = text.slice(start, end);
      const v = end > start && word.includes(" ") ? word : plainValue(word);
      if (v === undefined) return false;
      this.value = v;
    }
    const e = this.code();
    return (
      e === SPACE ||
      e === -1 ||
      this.lineBreak() > 0 ||
      (flow && (e === COMMA || e === CLOSE || e === CLOSE_SEQ))
    );
  }

  /** `key:` then a space (or, with `bare`, the end of the line); undefined if not one. */
  key(bare = false): string | undefined {
    const start = this.pos;
    while (isPlainChar(this.code(), false)) this.pos++;
    const k = this.text.slice(start, this.pos);
    if (!isKey(k) || this.code() !== COLON) return undefined;
    this.pos++;
    // `key:value` is one plain scalar in YAML, not a pair.
    if (this.code() === SPACE) {
      this.spaces();
      return k;
    }
    return bare && (this.code() === -1 || this.lineBreak() > 0) ? k : undefined;
  }

  /** A flow map, flow sequence or scalar on this line, into `value`. */
  flowValue(flow: boolean, depth: number): boolean {
    const c = this.code();
    if (c === OPEN) return depth < MAX_DEPTH && this.flowMap(depth + 1);
    if (c === OPEN_SEQ) return depth < MAX_DEPTH && this.flowSeq(depth + 1);
    return this.scalar(flow);
  }

  /** `{ key: value, ... }` on one line, into `value`. */
  flowMap(depth: number): boolean {
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
      if (k === undefined || Object.hasOwn(out, k) || !this.flowValue(true, depth)) return false;
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

  /** `[ value, ... ]` on one line, into `value`. */
  flowSeq(depth: number): boolean {
    this.pos++;
    const out: unknown[] = [];
    this.spaces();
    if (this.code() === CLOSE_SEQ) {
      this.pos++;
      this.value = out;
      return true;
    }
    for (;;) {
      if (!this.flowValue(true, depth)) return false;
      out.push(this.value);
      this.spaces();
      const c = this.code();
      this.pos++;
      if (c === CLOSE_SEQ) break;
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

  /** To the first character of the next content line (setting `lineIndent`), or the end. */
  nextLine(): Next {
    const next = this.skipBlankLines();
    if (next === "decline") return undefined;
    if (next === "end") return "end";
    this.lineStart = this.pos;
    this.lineIndent = this.spaces();
    return "content";
  }

  /** The rest of a line after a block-context value: a comment, and on to the next line. */
  afterValue(): Next {
    return this.endOfLine() ? this.nextLine() : undefined;
  }

  /** A block map or sequence whose first line is the current one, at column `lineIndent`. */
  blockNode(depth: number): Next {
    if (depth >= MAX_DEPTH) return undefined;
    const column = this.lineIndent;
    return this.code() === DASH
      ? this.blockSeq(column, depth + 1)
      : this.blockMap(column, depth + 1);
  }

  /** A block map whose keys stand at `column`, the first at `pos` (or `first`, read), into `value`. */
  blockMap(column: number, depth: number, first?: string): Next {
    const out: Record<string, unknown> = Object.create(null);
    let k = first;
    for (;;) {
      k ??= this.key(true);
      if (k === undefined || Object.hasOwn(out, k)) return undefined;
      let next: Next;
      const c = this.code();
      if (c === -1 || c === HASH || this.lineBreak() > 0) {
        // `key:` alone: a null, or a block node on the lines below, indented further.
        if (!this.endOfLine(true)) return undefined;
        next = this.nextLine();
        if (next === "content" && this.lineIndent > column) next = this.blockNode(depth);
        else this.value = null;
      } else {
        if (!this.flowValue(false, depth)) return undefined;
        next = this.afterValue();
      }
      if (next === undefined) return undefined;
      out[k] = this.value;
      if (next === "end" || this.lineIndent < column) {
        this.value = out;
        return next;
      }
      if (this.lineIndent > column) return undefined;
      k = undefined;
    }
  }

  /** A block sequence whose `-` stand at `column`, into `value`. */
  blockSeq(column: number, depth: number): Next {
    const out: unknown[] = [];
    for (;;) {
      const next = this.seqItem(depth);
      if (next === undefined) return undefined;
      out.push(this.value);
      if (next === "end" || this.lineIndent < column) {
        this.value = out;
        return next;
      }
      if (this.lineIndent > column) return undefined;
    }
  }

  /** One block-sequence item, from its `-`, into `value`. */
  seqItem(depth: number): Next {
    if (this.code() !== DASH) return undefined;
    this.pos++;
    // `-` alone (an item on the lines below), or `-` and a tab, are the library's.
    if (this.code() !== SPACE) return undefined;
    this.spaces();
    const at = this.pos;
    const k = this.key(true);
    // `- key: value`: a map whose keys stand at the first key's column.
    if (k !== undefined)
      return depth < MAX_DEPTH ? this.blockMap(at - this.lineStart, depth + 1, k) : undefined;
    this.pos = at;
    return this.flowValue(false, depth) ? this.afterValue() : undefined;
  }
}

/**
 * The plain value of one block-sequence item, `text[from, to)` (from its line's start, through
 * its last line's newline), or undefined when this reader does not fully understand it.
 */
export function readStepItem(text: string, from: number, to: number): unknown {
  const r = new Reader(text, from, to);
  if (r.nextLine() !== "content") return undefined;
  // One item, so nothing after it.
  return r.seqItem(0) === "end" && r.pos === to ? r.value : undefined;
}

/**
 * The plain value of a whole document whose top level is a block map at column 0 (a scenario's
 * head), or undefined when this reader does not fully understand it.
 */
export function readBlockDocument(text: string): Record<string, unknown> | undefined {
  const r = new Reader(text, 0, text.length);
  if (r.nextLine() !== "content" || r.lineIndent !== 0 || r.code() === DASH) return undefined;
  const next = r.blockMap(0, 0);
  return next === "end" && r.pos === text.length ? (r.value as Record<string, unknown>) : undefined;
}
