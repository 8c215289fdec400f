/**
 * Parsers for QEMU 7.2's `info mtree` text: the tree (`-D`, optionally `-o`) and the flat views
 * (`-f`, optionally `-o`). CRLF or LF. A malformed line is a `MtreeSyntaxError` naming the line and
 * what was expected.
 */
import type { QomObjectRef } from "../region.ts";

/** A type word of `info mtree`. */
export type MtreeType = "ramd" | "romd" | "rom" | "ram" | "i/o";

/** A syntax error at a line (1-based) of an `info mtree` text. */
export class MtreeSyntaxError extends Error {
  override name = "MtreeSyntaxError";
  constructor(
    readonly line: number,
    readonly expected: string,
    /** True when the error is in flat-view (`-f`) text. */
    readonly fromFlat = false,
  ) {
    super(`line ${line}: expected ${expected}`);
  }
}

/** One region line of the tree, with its subregions. */
export interface MtreeLine {
  readonly lineNumber: number;
  readonly level: number;
  readonly start: bigint;
  readonly end: bigint;
  readonly priority: number;
  readonly nonvolatile: boolean;
  readonly type: MtreeType;
  readonly name: string;
  readonly alias?: { readonly target: string; readonly start: bigint; readonly end: bigint };
  readonly disabled: boolean;
  readonly owner?: QomObjectRef;
  readonly parent?: QomObjectRef;
  readonly children: MtreeLine[];
}

/** An `address-space:` group: its names (as printed) and root. */
export interface MtreeGroup {
  readonly names: string[];
  readonly root: MtreeLine;
}

/** A `memory-region:` section. */
export interface MtreeSection {
  readonly name: string;
  readonly root: MtreeLine;
}

/** A parsed tree dump. */
export interface MtreeTree {
  readonly groups: MtreeGroup[];
  readonly sections: MtreeSection[];
  /** Whether the lines carried `-o` owner suffixes. */
  readonly hasOwners: boolean;
}

/*
 * Every line is parsed by hand, left to right or from the end, without regular expressions: names
 * are free text (any character, `" @"`, `{`, U+2028), and a backtracking pattern over such a
 * line can take quadratic or worse time. Each function here looks at each character a bounded
 * number of times.
 */

/** True when `s[at, at+16)` is 16 lowercase hex digits. */
function isHex16(s: string, at: number): boolean {
  if (at < 0 || at + 16 > s.length) return false;
  for (let i = at; i < at + 16; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function hexAt(s: string, at: number): bigint {
  return BigInt(`0x${s.slice(at, at + 16)}`);
}

const TYPES: readonly MtreeType[] = ["ramd", "romd", "rom", "ram", "i/o"];

/** `START-END (prio P, [nv-]TYPE): ` at `at`; the rest of the line follows it. */
interface RangeHead {
  start: bigint;
  end: bigint;
  priority: number;
  /** The priority as printed. */
  priorityText: string;
  nonvolatile: boolean;
  type: MtreeType;
  /** Index of the body (after `): `). */
  body: number;
}

function parseRangeHead(s: string, at: number): RangeHead | null {
  if (!isHex16(s, at) || s.charCodeAt(at + 16) !== 0x2d || !isHex16(s, at + 17)) return null;
  let i = at + 33;
  if (!s.startsWith(" (prio ", i)) return null;
  i += 7;
  const p0 = i;
  if (s.charCodeAt(i) === 0x2d) i++;
  const d0 = i;
  while (i < s.length && i - d0 < 12 && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
  if (i === d0 || !s.startsWith(", ", i)) return null;
  const priorityText = s.slice(p0, i);
  i += 2;
  let nonvolatile = false;
  if (s.startsWith("nv-", i)) {
    nonvolatile = true;
    i += 3;
  }
  const type = TYPES.find((t) => s.startsWith(t, i));
  if (!type) return null;
  i += type.length;
  if (!s.startsWith("): ", i)) return null;
  return {
    start: hexAt(s, at),
    end: hexAt(s, at + 17),
    priority: Number(priorityText),
    priorityText,
    nonvolatile,
    type,
    body: i + 3,
  };
}

interface Owners {
  owner?: QomObjectRef;
  parent?: QomObjectRef;
}

/** `{dev id=X}` ending at `end` (exclusive) with `{` at `open`; null when malformed. */
function objectRefAt(s: string, open: number, end: number): QomObjectRef | null {
  const inner = s.slice(open + 1, end - 1);
  const space = inner.indexOf(" ");
  const eq = inner.indexOf("=");
  if (space < 0 || eq < space) return null;
  const kind = inner.slice(0, space);
  const key = inner.slice(space + 1, eq);
  if ((kind !== "dev" && kind !== "obj") || (key !== "id" && key !== "path" && key !== "type")) {
    return null;
  }
  const value = inner.slice(eq + 1);
  if (value.includes("{") || value.includes("}")) return null;
  return { kind, key, value };
}

/** One ` LABEL{...}` group ending at `end`: the reference and where the group starts. */
function suffixRef(
  s: string,
  end: number,
  label: string,
): { ref: QomObjectRef; from: number } | null {
  if (end <= 0 || s.charCodeAt(end - 1) !== 0x7d) return null;
  const open = s.lastIndexOf("{", end - 1);
  if (open < 0) return null;
  const from = open - label.length;
  if (from < 0 || !s.startsWith(label, from)) return null;
  const ref = objectRefAt(s, open, end);
  return ref ? { ref, from } : null;
}

/** Splits a `-o` suffix off a line body; null when the body has none. */
function splitOwner(body: string): { rest: string; owners: Owners } | null {
  if (body.endsWith(" orphan")) return { rest: body.slice(0, -" orphan".length), owners: {} };
  let end = body.length;
  const owners: Owners = {};
  const parent = suffixRef(body, end, " parent:");
  if (parent) {
    owners.parent = parent.ref;
    end = parent.from;
  }
  const owner = suffixRef(body, end, " owner:");
  if (owner) {
    owners.owner = owner.ref;
    end = owner.from;
  }
  if (end === body.length) return null;
  return { rest: body.slice(0, end), owners };
}

/** `alias NAME @TARGET ASTART-AEND`: the target is after the last `" @"` (names rarely hold one). */
function splitAlias(
  body: string,
): { name: string; target: string; start: bigint; end: bigint } | null {
  if (!body.startsWith("alias ") || body.length < 6 + 2 + 34) return null;
  const range = body.length - 33;
  if (body.charCodeAt(range - 1) !== 0x20 || !isHex16(body, range)) return null;
  if (body.charCodeAt(range + 16) !== 0x2d || !isHex16(body, range + 17)) return null;
  const at = body.lastIndexOf(" @", range - 2);
  if (at < 5) return null;
  return {
    name: body.slice(6, at),
    target: body.slice(at + 2, range - 1),
    start: hexAt(body, range),
    end: hexAt(body, range + 17),
  };
}

/** Text lines without their line endings. */
export function splitLines(text: string): string[] {
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

interface RawRegion {
  lineNumber: number;
  indent: number;
  start: bigint;
  end: bigint;
  priority: number;
  nonvolatile: boolean;
  type: MtreeType;
  body: string;
}

const OVERFLOW = "[DETECTED OVERFLOW!] ";

function matchRegion(line: string, lineNumber: number): RawRegion | null {
  let i = 0;
  while (line.startsWith(OVERFLOW, i)) i += OVERFLOW.length;
  const indentStart = i;
  while (line.charCodeAt(i) === 0x20) i++;
  const head = parseRangeHead(line, i);
  if (!head) return null;
  const priority = head.priority;
  if (!Number.isSafeInteger(priority) || priority < -(2 ** 31) || priority >= 2 ** 31) {
    throw new MtreeSyntaxError(lineNumber, "a priority that fits a signed 32-bit integer");
  }
  return {
    lineNumber,
    indent: i - indentStart,
    start: head.start,
    end: head.end,
    priority,
    nonvolatile: head.nonvolatile,
    type: head.type,
    body: line.slice(head.body),
  };
}

/** Parses `info mtree [-o] -D` text. */
export function parseMtreeTree(text: string): MtreeTree {
  const lines = splitLines(text);
  const raws: (RawRegion | null)[] = lines.map((l, i) => matchRegion(l, i + 1));
  // `-o` is all or nothing: decide from the lines themselves.
  const regionBodies = raws.filter((r): r is RawRegion => r !== null);
  const hasOwners =
    regionBodies.length > 0 && regionBodies.every((r) => splitOwner(r.body) !== null);

  const groups: MtreeGroup[] = [];
  const sections: MtreeSection[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line === "") {
      i++;
      continue;
    }
    if (line.startsWith("address-space: ")) {
      const names: string[] = [];
      while (i < lines.length && lines[i].startsWith("address-space: ")) {
        names.push(lines[i].slice("address-space: ".length));
        i++;
      }
      const { root, next } = parseBlockTree(lines, raws, i, hasOwners);
      groups.push({ names, root });
      i = next;
    } else if (line.startsWith("memory-region: ")) {
      const name = line.slice("memory-region: ".length);
      const { root, next } = parseBlockTree(lines, raws, i + 1, hasOwners);
      sections.push({ name, root });
      i = next;
    } else if (line.startsWith("FlatView #")) {
      throw new MtreeSyntaxError(
        i + 1,
        "an `address-space:` or `memory-region:` header (this is `info mtree -f` output; give it as the flat hint)",
      );
    } else {
      throw new MtreeSyntaxError(i + 1, "an `address-space:` or `memory-region:` header");
    }
  }
  if (groups.length === 0) {
    throw new MtreeSyntaxError(Math.max(1, lines.length), "at least one `address-space:` block");
  }
  return { groups, sections, hasOwners };
}

function parseBlockTree(
  lines: string[],
  raws: (RawRegion | null)[],
  from: number,
  hasOwners: boolean,
): { root: MtreeLine; next: number } {
  const stack: MtreeLine[] = [];
  let root: MtreeLine | undefined;
  let i = from;
  for (; i < lines.length && lines[i] !== ""; i++) {
    const raw = raws[i];
    if (!raw) {
      throw new MtreeSyntaxError(
        i + 1,
        "a region line `  START-END (prio P, TYPE): NAME` with 16-digit hex addresses",
      );
    }
    if (raw.indent % 2 !== 0 || raw.indent === 0) {
      throw new MtreeSyntaxError(i + 1, "an indentation of two spaces per level");
    }
    const level = raw.indent / 2;
    const node = toLine(raw, level, hasOwners);
    if (!root) {
      if (level !== 1) throw new MtreeSyntaxError(i + 1, "the block's root region at level 1");
      root = node;
      stack.push(node);
      continue;
    }
    if (level < 2 || level > stack.length + 1) {
      throw new MtreeSyntaxError(
        i + 1,
        `a region at level 2..${stack.length + 1} (a deeper jump means disabled regions are missing: import \`info mtree -D\` output)`,
      );
    }
    stack.length = level - 1;
    stack[stack.length - 1].children.push(node);
    stack.push(node);
  }
  if (!root)
    throw new MtreeSyntaxError(Math.min(i + 1, lines.length), "a region line after the header");
  return { root, next: i };
}

function toLine(raw: RawRegion, level: number, hasOwners: boolean): MtreeLine {
  let body = raw.body;
  let owners: Owners = {};
  if (hasOwners) {
    const split = splitOwner(body)!;
    body = split.rest;
    owners = split.owners;
  }
  let disabled = false;
  if (body.endsWith(" [disabled]")) {
    disabled = true;
    body = body.slice(0, -" [disabled]".length);
  }
  const alias = splitAlias(body);
  // One object shape for every line (10^5-line texts): absent fields are undefined.
  return {
    lineNumber: raw.lineNumber,
    level,
    start: raw.start,
    end: raw.end,
    priority: raw.priority,
    nonvolatile: raw.nonvolatile,
    type: raw.type,
    name: alias ? alias.name : body,
    alias: alias ? { target: alias.target, start: alias.start, end: alias.end } : undefined,
    disabled,
    owner: owners.owner,
    parent: owners.parent,
    children: [],
  };
}

/** One range line of a flat view. */
export interface MtreeFlatRange {
  readonly lineNumber: number;
  readonly start: bigint;
  readonly end: bigint;
  readonly priority: number;
  readonly nonvolatile: boolean;
  readonly type: MtreeType;
  readonly name: string;
  readonly offset: bigint;
  readonly accelerators: string[];
  /** The line as printed without `-o` owners and accelerator names, for comparisons. */
  readonly text: string;
}

/** A `FlatView #N` block. */
export interface MtreeFlatView {
  readonly addressSpaces: {
    readonly name: string;
    readonly root: string;
    readonly alias?: string;
  }[];
  /** The `Root memory region:` name, or null for `(none)`. */
  readonly root: string | null;
  readonly ranges: MtreeFlatRange[];
}

/** ` AS "NAME", root: ROOT[, alias TARGET]`: NAME runs to the last `", root: `. */
function parseAsLine(line: string): { name: string; root: string; alias?: string } | null {
  if (!line.startsWith(' AS "')) return null;
  const sep = line.lastIndexOf('", root: ');
  if (sep < 4) return null;
  const name = line.slice(5, sep);
  const rest = line.slice(sep + 9);
  const alias = rest.indexOf(", alias ");
  if (alias < 0) return { name, root: rest };
  return { name, root: rest.slice(0, alias), alias: rest.slice(alias + 8) };
}

function isFlatViewHeader(line: string): boolean {
  if (!line.startsWith("FlatView #") || line.length === 10 || line.length > 30) return false;
  for (let i = 10; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
const ACCEL_NAMES = ["KVM", "HVF", "WHPX", "NVMM", "HAX", "Xen"];

/** Parses `info mtree -f [-d] [-o]` text. */
export function parseMtreeFlat(text: string): MtreeFlatView[] {
  const lines = splitLines(text);
  const views: MtreeFlatView[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i] === "") {
      i++;
      continue;
    }
    if (!isFlatViewHeader(lines[i])) {
      throw new MtreeSyntaxError(i + 1, "a `FlatView #N` header", true);
    }
    i++;
    const addressSpaces: MtreeFlatView["addressSpaces"] = [];
    for (; i < lines.length && lines[i].startsWith(" AS "); i++) {
      const as = parseAsLine(lines[i]);
      if (!as) throw new MtreeSyntaxError(i + 1, 'an AS line ` AS "NAME", root: ROOT`', true);
      addressSpaces.push(as);
    }
    if (addressSpaces.length === 0)
      throw new MtreeSyntaxError(i + 1, 'an AS line ` AS "NAME", root: ROOT`', true);
    if (i >= lines.length || !lines[i].startsWith(" Root memory region: ")) {
      throw new MtreeSyntaxError(
        Math.min(i + 1, lines.length),
        "a ` Root memory region: NAME` line",
        true,
      );
    }
    const rootName = lines[i].slice(" Root memory region: ".length);
    i++;
    const ranges: MtreeFlatRange[] = [];
    for (; i < lines.length && lines[i] !== ""; i++) {
      const line = lines[i];
      if (line === "  No rendered FlatView") continue;
      if (line === "  Dispatch") {
        // `-d` tables: QEMU's internal lookup structure, not part of the model.
        while (i + 1 < lines.length && lines[i + 1] !== "") i++;
        continue;
      }
      ranges.push(parseFlatRange(line, i + 1));
    }
    views.push({ addressSpaces, root: rootName === "(none)" ? null : rootName, ranges });
  }
  return views;
}

function parseFlatRange(line: string, lineNumber: number): MtreeFlatRange {
  const head = line.startsWith("  ") ? parseRangeHead(line, 2) : null;
  if (!head) {
    throw new MtreeSyntaxError(
      lineNumber,
      "a range line `  START-END (prio P, TYPE): NAME[ @OFFSET]` with 16-digit hex addresses",
      true,
    );
  }
  let body = line.slice(head.body);
  const accelerators: string[] = [];
  for (;;) {
    const accel = ACCEL_NAMES.find((a) => body.endsWith(` ${a}`));
    if (!accel) break;
    accelerators.unshift(accel);
    body = body.slice(0, -(accel.length + 1));
  }
  const owner = splitOwner(body);
  if (owner) body = owner.rest;
  let offset = 0n;
  let offsetText = "";
  const at = body.length - 18;
  if (at >= 0 && body.startsWith(" @", at) && isHex16(body, at + 2)) {
    offset = hexAt(body, at + 2);
    offsetText = body.slice(at);
    body = body.slice(0, at);
  }
  const prefix = line.slice(2, head.body);
  return {
    lineNumber,
    start: head.start,
    end: head.end,
    priority: head.priority,
    nonvolatile: head.nonvolatile,
    type: head.type,
    name: body,
    offset,
    accelerators,
    text: `  ${prefix}${body}${offsetText}`,
  };
}
