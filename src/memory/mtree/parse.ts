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

const HEX = "([0-9a-f]{16})";
const REGION_LINE = new RegExp(
  `^(?:\\[DETECTED OVERFLOW!\\] )*( *)${HEX}-${HEX} \\(prio (-?\\d+), (nv-)?(ramd|romd|rom|ram|i/o)\\): (.*)$`,
);
const OBJ = "\\{(dev|obj) (id|path|type)=([^{}]*)\\}";
const OWNER_SUFFIX = new RegExp(`(?: owner:${OBJ})?(?: parent:${OBJ})?$`);
const ALIAS_BODY = new RegExp(`^alias (.*) @(.*) ${HEX}-${HEX}$`);

interface Owners {
  owner?: QomObjectRef;
  parent?: QomObjectRef;
}

function objectRef(kind?: string, key?: string, value?: string): QomObjectRef | undefined {
  if (!kind || !key || value === undefined) return undefined;
  return { kind: kind as "dev" | "obj", key: key as "id" | "path" | "type", value };
}

/** Splits a `-o` suffix off a line body; null when the body has none. */
function splitOwner(body: string): { rest: string; owners: Owners } | null {
  if (body.endsWith(" orphan")) return { rest: body.slice(0, -" orphan".length), owners: {} };
  const m = OWNER_SUFFIX.exec(body);
  if (!m || m[0] === "") return null;
  return {
    rest: body.slice(0, m.index),
    owners: { owner: objectRef(m[1], m[2], m[3]), parent: objectRef(m[4], m[5], m[6]) },
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

function matchRegion(line: string, lineNumber: number): RawRegion | null {
  const m = REGION_LINE.exec(line);
  if (!m) return null;
  const priority = Number(m[4]);
  if (!Number.isSafeInteger(priority) || priority < -(2 ** 31) || priority >= 2 ** 31) {
    throw new MtreeSyntaxError(lineNumber, "a priority that fits a signed 32-bit integer");
  }
  return {
    lineNumber,
    indent: m[1].length,
    start: BigInt(`0x${m[2]}`),
    end: BigInt(`0x${m[3]}`),
    priority,
    nonvolatile: m[5] !== undefined,
    type: m[6] as MtreeType,
    body: m[7],
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
  const base = {
    lineNumber: raw.lineNumber,
    level,
    start: raw.start,
    end: raw.end,
    priority: raw.priority,
    nonvolatile: raw.nonvolatile,
    type: raw.type,
    disabled,
    ...owners,
    children: [],
  };
  const alias = ALIAS_BODY.exec(body);
  if (alias) {
    return {
      ...base,
      name: alias[1],
      alias: { target: alias[2], start: BigInt(`0x${alias[3]}`), end: BigInt(`0x${alias[4]}`) },
    };
  }
  return { ...base, name: body };
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

const FLAT_RANGE = new RegExp(
  `^  ${HEX}-${HEX} \\(prio (-?\\d+), (nv-)?(ramd|romd|rom|ram|i/o)\\): (.*)$`,
);
const AS_LINE = /^ AS "(.*)", root: (.*?)(?:, alias (.*))?$/;
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
    if (!/^FlatView #\d+$/.test(lines[i])) {
      throw new MtreeSyntaxError(i + 1, "a `FlatView #N` header", true);
    }
    i++;
    const addressSpaces: MtreeFlatView["addressSpaces"] = [];
    for (; i < lines.length && lines[i].startsWith(" AS "); i++) {
      const m = AS_LINE.exec(lines[i]);
      if (!m) throw new MtreeSyntaxError(i + 1, 'an AS line ` AS "NAME", root: ROOT`', true);
      addressSpaces.push(
        m[3] ? { name: m[1], root: m[2], alias: m[3] } : { name: m[1], root: m[2] },
      );
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
  const m = FLAT_RANGE.exec(line);
  if (!m) {
    throw new MtreeSyntaxError(
      lineNumber,
      "a range line `  START-END (prio P, TYPE): NAME[ @OFFSET]` with 16-digit hex addresses",
      true,
    );
  }
  let body = m[6];
  const accelerators: string[] = [];
  for (;;) {
    const accel = ACCEL_NAMES.find((a) => body.endsWith(` ${a}`));
    if (!accel) break;
    accelerators.unshift(accel);
    body = body.slice(0, -(accel.length + 1));
  }
  const owner = splitOwner(body);
  if (owner && /owner:|parent:| orphan$/.test(body)) body = owner.rest;
  let offset = 0n;
  let offsetText = "";
  const off = / @([0-9a-f]{16})$/.exec(body);
  if (off) {
    offset = BigInt(`0x${off[1]}`);
    offsetText = off[0];
    body = body.slice(0, off.index);
  }
  return {
    lineNumber,
    start: BigInt(`0x${m[1]}`),
    end: BigInt(`0x${m[2]}`),
    priority: Number(m[3]),
    nonvolatile: m[4] !== undefined,
    type: m[5] as MtreeType,
    name: body,
    offset,
    accelerators,
    text: `  ${m[1]}-${m[2]} (prio ${m[3]}, ${m[4] ?? ""}${m[5]}): ${body}${offsetText}`,
  };
}
