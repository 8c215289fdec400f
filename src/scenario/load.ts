/**
 * Loading scenario files (YAML, or JSON, which YAML reads too): numbers exact to 2^64, sizes with
 * K/M/G/T, and every mistake reported as `path:line:column: what was expected`.
 *
 * The format is defined in schema.ts; here YAML becomes plain values, the definitions check them,
 * and a failed check's path leads back to its node. A YAML document costs far more memory than
 * the text, so the `steps:` list is read a chunk of items at a time: 2x10^6 steps fit in well
 * under 2 GB, and the memory kept is that of the loaded steps.
 */
import { type Document, isMap, isSeq, Lexer, LineCounter, type Node, parseDocument } from "yaml";
import type { z } from "zod";
import {
  pseriesCompat,
  pseriesRange,
  q35Compat,
  q35Range,
  unsupportedMachineTypeMessage,
} from "../machine/machine-type.ts";
import { DEFAULT_QEMU_LINE } from "../machine/qemu-line.ts";
import { readBlockDocument, readStepItem } from "./fast-step.ts";
import { FloatScalar, NodeProblem, nodeAt, Positions, ScenarioError, toPlain } from "./reader.ts";
import {
  driversOf,
  HCALL_STEPS,
  HCALLS,
  IOCTL_STEPS,
  IOCTLS,
  MAP_NAMES,
  type Scenario,
  STEP_KEYS,
  STEP_KINDS,
  STEP_MACHINES,
  STEP_SCHEMAS,
  type Step,
  scenarioHead,
} from "./schema.ts";

/** Steps parsed per YAML document: large enough to amortise the parser, small enough to free. */
const CHUNK = 64;

const PARSE_OPTIONS = {
  intAsBigInt: true,
  uniqueKeys: false,
  prettyErrors: false,
  // The loader bounds alias expansion itself (reader.ts).
  maxAliasCount: -1,
} as const;

/** Where a piece of the text sits in the file: offsets in it plus `base` are file offsets. */
interface Piece {
  readonly doc: Document;
  readonly base: number;
  /** Offsets at or past `gap` in the piece sit `gapLength` further on in the file. */
  readonly gap?: number;
  readonly gapLength?: number;
}

class Loader {
  readonly positions: Positions;
  constructor(
    public text: string,
    readonly path: string,
    readonly stats?: LoadStats,
  ) {
    this.positions = new Positions(text);
  }

  /** A yaml-library document of `text` (counted, for the tests of the fast reader). */
  parse(text: string, lines = false): Document {
    if (this.stats) this.stats.documents++;
    return parseDocument(
      text,
      lines ? { ...PARSE_OPTIONS, lineCounter: new LineCounter() } : PARSE_OPTIONS,
    );
  }

  fileOffset(piece: Piece, offset: number): number {
    const o =
      piece.gap !== undefined && offset >= piece.gap ? offset + (piece.gapLength ?? 0) : offset;
    return piece.base + o;
  }

  failAt(offset: number, detail: string, rule?: string): never {
    const { line, col } = this.positions.at(offset);
    throw new ScenarioError(this.path, line, col, detail, rule);
  }

  fail(piece: Piece, node: Node | null | undefined, detail: string, rule?: string): never {
    return this.failAt(this.fileOffset(piece, node?.range?.[0] ?? 0), detail, rule);
  }

  /** Reports a YAML syntax error of a piece. */
  syntax(piece: Piece): void {
    const problem = piece.doc.errors[0];
    if (problem)
      this.failAt(
        this.fileOffset(piece, problem.pos[0]),
        `YAML syntax: ${problem.message.split("\n")[0]}`,
      );
  }

  plain(
    piece: Piece,
    node: Node | null | undefined,
    schema: z.ZodType | undefined,
    path: (string | number)[],
  ) {
    try {
      return toPlain(node, piece.doc, path);
    } catch (e) {
      if (!(e instanceof NodeProblem)) throw e;
      const what = schema ? nameAt(schema, e.path.slice(path.length, -1)) : "a step";
      const where = what ? ` in ${what}` : "";
      this.fail(
        piece,
        e.node,
        e.message === "expected a plain key"
          ? `expected a plain key${where}`
          : `${e.message}${where}`,
      );
    }
  }

  /** Checks `value` (read from `node`) against `schema`; a failure names its node. */
  check<T>(piece: Piece, node: Node | null | undefined, value: unknown, schema: z.ZodType<T>): T {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    this.report(piece, node, value, schema, issue);
  }

  report(
    piece: Piece,
    root: Node | null | undefined,
    value: unknown,
    schema: z.ZodType,
    issue: z.core.$ZodIssue,
  ): never {
    const path = issue.path as (string | number)[];
    const rule = (issue as { params?: { rule?: string } }).params?.rule;
    const at = (p: readonly (string | number)[], key = false) => {
      const found = nodeAt(root, piece.doc, p);
      return key && found.key ? found.key : found.node;
    };
    if (issue.code === "unrecognized_keys") {
      const key = issue.keys[0];
      const name = MAP_NAMES.get(schemaAt(schema, path) as z.ZodType);
      const allowed = keysOf(schemaAt(schema, path));
      const what = name?.what ?? "a map";
      this.fail(
        piece,
        at([...path, key], true),
        name?.unknownKey?.(key, allowed) ??
          (allowed.length
            ? `unknown key '${key}' in ${what}; expected one of: ${allowed.join(", ")}`
            : `unknown key '${key}': ${what} has no keys`),
      );
    }
    const params = (issue as { params?: { leaf?: boolean; at?: string } }).params ?? {};
    const parentPath = path.slice(0, -1);
    const last = path[path.length - 1];
    const parent = valueAt(value, parentPath);
    const absent = typeof last === "string" && isObject(parent) && !Object.hasOwn(parent, last);
    if (absent && (params.leaf || issue.code === "invalid_type")) {
      const what = nameAt(schema, parentPath) ?? "a map";
      this.fail(piece, at(parentPath), `${what} needs '${last}'`);
    }
    if (issue.code === "invalid_type") {
      const target = schemaAt(schema, path);
      const name = target ? MAP_NAMES.get(target) : undefined;
      if (issue.expected === "object")
        this.fail(piece, at(path), `expected ${name?.what ?? String(last)} as a map of key: value`);
      if (issue.expected === "array")
        this.fail(piece, at(path), `expected ${String(last ?? "a list")} as a list`);
    }
    this.fail(piece, at(path, params.at === "key"), issue.message, rule);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof FloatScalar);

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let at = value;
  for (const step of path) {
    if (Array.isArray(at) && typeof step === "number") at = at[step];
    else if (isObject(at)) at = at[step as string];
    else return undefined;
  }
  return at;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema under wrappers (optional, nullable, transforms). */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const d = defOf(s);
    if (d.innerType && d.type !== "object") s = d.innerType;
    else if (d.type === "pipe" && d.in) s = d.in;
    else return s;
  }
}

function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = schema;
  for (const step of path) {
    if (!s) return undefined;
    const d = defOf(unwrap(s));
    if (d.type === "object") s = d.shape?.[step as string];
    else if (d.type === "array") s = d.element;
    else return undefined;
  }
  return s && unwrap(s);
}

function nameAt(schema: z.ZodType, path: readonly PropertyKey[]): string | undefined {
  const s = schemaAt(schema, path);
  return s ? MAP_NAMES.get(s)?.what : undefined;
}

function keysOf(schema: z.ZodType | undefined): string[] {
  return schema ? Object.keys(defOf(schema).shape ?? {}) : [];
}

/** The `steps:` block of a file whose top level is a block map: item start offsets, or nothing. */
interface StepsBlock {
  /** Offset of the `steps` key. */
  readonly key: number;
  /** The items' text runs from `start` to `end`. */
  readonly start: number;
  readonly end: number;
  readonly items: number[];
}

/**
 * Finds the items of a top-level block `steps:` list by their `-` lines, in one pass over the
 * text. Items are told apart by indentation alone, which YAML guarantees for block sequences;
 * anything unusual (documents markers, a flow list, a second `steps:`) returns undefined and the
 * whole file is parsed as one document instead. The split is checked again after parsing.
 */
function findSteps(text: string): StepsBlock | undefined {
  let key = -1;
  for (let i = text.startsWith("steps:") ? 0 : text.indexOf("\nsteps:"); i !== -1; ) {
    const at = text[i] === "\n" ? i + 1 : i;
    if (key !== -1) return undefined;
    key = at;
    i = text.indexOf("\nsteps:", at);
  }
  if (key === -1) return undefined;
  let lineEnd = text.indexOf("\n", key);
  if (lineEnd === -1) lineEnd = text.length;
  const rest = text.slice(key + 6, lineEnd).trim();
  if (rest !== "" && !rest.startsWith("#")) return undefined;
  const items: number[] = [];
  let indent = -1;
  let pos = lineEnd + 1;
  const start = Math.min(pos, text.length);
  let end = text.length;
  while (pos < text.length) {
    let next = text.indexOf("\n", pos);
    if (next === -1) next = text.length;
    let i = pos;
    while (i < next && text[i] === " ") i++;
    const c = text[i];
    const blank = i >= next || c === "#" || c === "\r";
    if (!blank) {
      if (c === "\t") return undefined;
      const col = i - pos;
      const dash = c === "-" && (i + 1 >= next || text[i + 1] === " " || text[i + 1] === "\r");
      if (indent === -1) {
        if (!dash) {
          end = pos;
          break;
        }
        indent = col;
      }
      if (col < indent || (col === indent && !dash)) {
        end = pos;
        break;
      }
      if (col === indent && (text.startsWith("---", pos) || text.startsWith("...", pos)))
        return undefined;
      if (col === indent) items.push(pos);
    } else if (text.startsWith("---", pos) || text.startsWith("...", pos)) return undefined;
    pos = next + 1;
  }
  if (items.length === 0) return undefined;
  return { key, start, end, items };
}

const MAY_ALIAS = /(?:^|[\s[{,])[&*][^\s[\]{},]/;

/** Double-quoted strings longer than this are handed to YAML single-quoted (see below). */
const LONG_QUOTED = 1 << 16;

/**
 * The yaml library decodes a double-quoted string a character at a time into a rope of V8
 * strings, about 32 bytes per character (a 50 MB description took 1.7 GB). A long one without
 * escapes, line breaks or `'` means the same single-quoted, which it decodes in one piece; it is
 * rewritten so, in place (offsets, and so error positions, do not move). A long one with escapes
 * or line breaks is refused. Found with the YAML lexer, once, and only in large files with quotes.
 */
function requoteLongStrings(text: string, loader: Loader): string {
  if (text.length <= LONG_QUOTED || !text.includes('"')) return text;
  const long: number[] = [];
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    // The lexer's one-character control tokens mark structure and take no text.
    if (token.length === 1 && token < " " && token !== "\n" && token !== "\t") continue;
    if (token.length > LONG_QUOTED && token[0] === '"') {
      if (/[\\'\n\r]/.test(token))
        loader.failAt(
          offset,
          `a double-quoted string of more than ${LONG_QUOTED} characters may not hold escapes, quotes or line breaks; write it as a block scalar (|)`,
        );
      long.push(offset, offset + token.length - 1);
    }
    offset += token.length;
  }
  if (long.length === 0) return text;
  const parts: string[] = [];
  let from = 0;
  for (const at of long) {
    parts.push(text.slice(from, at), "'");
    from = at + 1;
  }
  parts.push(text.slice(from));
  return parts.join("");
}

/** How loadScenario reads, for tests: `fast: false` reads everything with the yaml library. */
export interface LoadOptions {
  readonly fast?: boolean;
  /** Counts the yaml-library documents the load parsed. */
  readonly stats?: LoadStats;
}

export interface LoadStats {
  documents: number;
}

/** Parses scenario text; `path` is used in error messages. */
export function loadScenario(source: string, path: string, options: LoadOptions = {}): Scenario {
  const fast = options.fast ?? true;
  const loader = new Loader(source, path, options.stats);
  const text = requoteLongStrings(source, loader);
  loader.text = text;
  // Directives, and anchors or aliases (which may tie a step to another chunk), need the whole.
  const whole = text.includes("\n%") || text.startsWith("%") || MAY_ALIAS.test(text);
  const block = whole ? undefined : findSteps(text);
  if (block) {
    const scenario = loadSplit(loader, block, fast);
    if (scenario) return scenario;
  } else if (fast && !whole) {
    const scenario = loadFastWhole(loader);
    if (scenario) return scenario;
  }
  return loadWhole(loader);
}

/** The head's piece and top node, parsed by the yaml library when an error must be placed. */
type HeadNodes = () => { piece: Piece; top: Node | null };

/**
 * The head read by the fast reader (fast-step.ts) and checked, or undefined: the reader
 * declined, or the check failed (the yaml library's document then says where and why).
 */
function fastHead(text: string) {
  const value = readBlockDocument(text);
  if (value === undefined) return undefined;
  const r = scenarioHead.safeParse(value);
  return r.success ? { value, head: r.data } : undefined;
}

/** A file without steps, or with `steps:` empty, read without a yaml document; or undefined. */
function loadFastWhole(loader: Loader): Scenario | undefined {
  const { text } = loader;
  const read = fastHead(text);
  if (!read || (Object.hasOwn(read.value, "steps") && read.value.steps !== null)) return undefined;
  const nodes = () => {
    const doc = loader.parse(text, true);
    return { piece: { doc, base: 0 }, top: doc.contents as Node | null };
  };
  return finish(loader, read.head, [], [], nodes);
}

function loadWhole(loader: Loader): Scenario {
  const doc = loader.parse(loader.text, true);
  const piece: Piece = { doc, base: 0 };
  loader.syntax(piece);
  const top = doc.contents as Node | null;
  const head = readHead(loader, piece, top);
  const stepsNode = nodeAt(top, doc, ["steps"]);
  const steps: Step[] = [];
  const offsets: number[] = [];
  if (stepsNode.found && stepsNode.node !== stepsNode.key && !isNullNode(stepsNode.node as Node)) {
    if (!isSeq(stepsNode.node)) loader.fail(piece, stepsNode.node, "expected steps as a list");
    const lines = new LineTracker(loader.positions);
    for (const item of stepsNode.node.items as Node[])
      readStep(loader, piece, item, steps, offsets, lines);
  }
  return finish(loader, head, steps, offsets, () => ({ piece, top }));
}

const isNullNode = (n: Node) => (n as { value?: unknown }).value === null && !isMap(n) && !isSeq(n);

/** Loads with the steps read a chunk at a time; undefined when the split does not hold. */
function loadSplit(loader: Loader, block: StepsBlock, fast: boolean): Scenario | undefined {
  const { text } = loader;
  const headText = text.slice(0, block.start) + text.slice(block.end);
  const parseHead = () => {
    const doc = loader.parse(headText);
    const piece: Piece = { doc, base: 0, gap: block.start, gapLength: block.end - block.start };
    return { piece, top: doc.contents as Node | null };
  };
  // A head the fast reader reads has its `steps:` key on the line findSteps found (every line at
  // column 0 is a top-level key there: it reads no multi-line scalars), so only its value is
  // checked here.
  const read = fast ? fastHead(headText) : undefined;
  // Parsed once, when the head was not read fast or an error must be placed in it.
  let parsed: ReturnType<typeof parseHead> | undefined;
  const headNodes: HeadNodes = () => {
    parsed ??= parseHead();
    return parsed;
  };
  let loaded: ReturnType<typeof readHead>;
  if (read && read.value.steps === null) {
    loaded = read.head;
  } else {
    const { piece: head, top } = headNodes();
    const headDoc = head.doc;
    if (headDoc.errors.length) return undefined;
    const stepsKey = nodeAt(top, headDoc, ["steps"]);
    if (
      !stepsKey.key ||
      stepsKey.key.range?.[0] !== block.key ||
      (stepsKey.node !== stepsKey.key && !isNullNode(stepsKey.node as Node))
    )
      return undefined;
    loaded = readHead(loader, head, top);
  }
  const steps: Step[] = [];
  const offsets: number[] = [];
  const lines = new LineTracker(loader.positions);
  const quick: (Step | undefined)[] = [];
  for (let first = 0; first < block.items.length; first += CHUNK) {
    const last = Math.min(first + CHUNK, block.items.length);
    const from = block.items[first];
    const to = last < block.items.length ? block.items[last] : block.end;
    // Items the fast reader understands and that pass their check need no YAML document; the
    // chunk is parsed only when one does not, so that errors are found and worded as before.
    quick.length = 0;
    let declined = false;
    for (let i = first; i < last; i++) {
      const itemEnd = i + 1 < block.items.length ? block.items[i + 1] : block.end;
      const step = fast ? fastStep(text, block.items[i], itemEnd) : undefined;
      if (step === undefined) declined = true;
      quick.push(step);
    }
    let seq: Node | null = null;
    let piece: Piece | undefined;
    if (declined) {
      const doc = loader.parse(text.slice(from, to));
      piece = { doc, base: from };
      loader.syntax(piece);
      seq = doc.contents as Node | null;
      if (!isSeq(seq) || seq.items.length !== last - first) return undefined;
    }
    for (let i = first; i < last; i++) {
      const step = quick[i - first];
      if (step === undefined && piece && isSeq(seq)) {
        readStep(loader, piece, seq.items[i - first] as Node, steps, offsets, lines);
        continue;
      }
      const offset = contentOf(text, block.items[i]);
      offsets.push(offset);
      (step as { line: number }).line = lines.line(offset);
      steps.push(step as Step);
    }
  }
  return finish(loader, loaded, steps, offsets, headNodes);
}

/** Lines of step offsets, which come in increasing order: one pass over the text in all. */
class LineTracker {
  constructor(readonly positions: Positions) {}
  line(offset: number): number {
    return this.positions.at(offset).line;
  }
}

function readHead(loader: Loader, piece: Piece, top: Node | null) {
  const value = loader.plain(piece, top, scenarioHead, []);
  return loader.check(piece, top, value, scenarioHead);
}

const STEP_NAMES = STEP_KEYS as readonly string[];

/** Where a `- key: ...` item's map starts (where the yaml library's node for it starts). */
function contentOf(text: string, lineStart: number): number {
  let i = lineStart;
  while (text.charCodeAt(i) === 0x20) i++;
  i++;
  while (text.charCodeAt(i) === 0x20) i++;
  return i;
}

/** The definition a step's plain value is checked against, or undefined when it names none. */
function stepSchemaOf(value: Record<string, unknown>): z.ZodType | undefined {
  let kind: (typeof STEP_KINDS)[number] | undefined;
  for (const k in value) {
    if (!STEP_NAMES.includes(k)) return undefined;
    if ((STEP_KINDS as readonly string[]).includes(k)) {
      if (kind !== undefined) return undefined;
      kind = k as (typeof STEP_KINDS)[number];
    }
  }
  if (kind === undefined) return undefined;
  if (kind === "hcall" || kind === "ioctl") {
    const name = value[kind];
    const list: readonly string[] = kind === "hcall" ? HCALLS : IOCTLS;
    if (typeof name !== "string" || !list.includes(name)) return undefined;
    return (kind === "hcall" ? HCALL_STEPS : IOCTL_STEPS)[name as never];
  }
  return STEP_SCHEMAS[kind];
}

/**
 * A step read by the fast reader (fast-step.ts) and checked, or undefined: the reader declined,
 * or the check failed (the yaml library's document then says where and why).
 */
function fastStep(text: string, from: number, to: number): Step | undefined {
  const value = readStepItem(text, from, to);
  if (!isObject(value)) return undefined;
  const schema = stepSchemaOf(value);
  if (!schema) return undefined;
  const r = schema.safeParse(value);
  return r.success ? (r.data as Step) : undefined;
}

function readStep(
  loader: Loader,
  piece: Piece,
  node: Node,
  steps: Step[],
  offsets: number[],
  lines: LineTracker,
): void {
  const value = loader.plain(piece, node, undefined, []);
  if (!isObject(value)) loader.fail(piece, node, "expected a step as a map of key: value");
  for (const k of Object.keys(value)) {
    if (!STEP_NAMES.includes(k))
      loader.fail(
        piece,
        nodeAt(node, piece.doc, [k]).key,
        `unknown key '${k}' in a step; expected one of: ${STEP_KEYS.join(", ")}`,
      );
  }
  const kinds = STEP_KINDS.filter((k) => Object.hasOwn(value, k));
  if (kinds.length !== 1)
    loader.fail(piece, node, `expected a step with exactly one of: ${STEP_KINDS.join(", ")}`);
  const kind = kinds[0];
  let schema: z.ZodType = STEP_SCHEMAS[kind];
  if (kind === "hcall" || kind === "ioctl") {
    const name = value[kind];
    const list: readonly string[] = kind === "hcall" ? HCALLS : IOCTLS;
    if (typeof name !== "string" || !list.includes(name))
      loader.fail(
        piece,
        nodeAt(node, piece.doc, [kind]).node,
        `expected ${kind === "hcall" ? "hypercall" : "ioctl"} to be one of: ${list.join(", ")}; got ${name instanceof FloatScalar ? `'${name.text}'` : typeof name === "object" && name !== null ? (Array.isArray(name) ? "a list" : "a map") : `'${String(name)}'`}`,
      );
    schema = (kind === "hcall" ? HCALL_STEPS : IOCTL_STEPS)[name as never];
  }
  const step = loader.check(piece, node, value, schema) as { line: number };
  const offset = loader.fileOffset(piece, node.range?.[0] ?? 0);
  offsets.push(offset);
  // Set on the checked value itself: a copy per step would double what 10^6 steps keep.
  step.line = lines.line(offset);
  steps.push(step as unknown as Step);
}

/** Device ids are unique across the machine and the steps' plugs, and steps name known devices. */
function finish(
  loader: Loader,
  head: ReturnType<typeof readHead>,
  steps: Step[],
  offsets: readonly number[],
  headNodes: HeadNodes,
): Scenario {
  const live = new Set<string>();
  head.machine.devices.forEach((d, i) => {
    if (d.id === undefined) return;
    if (live.has(d.id)) {
      const { piece, top } = headNodes();
      const at = nodeAt(top, piece.doc, ["machine", "devices", i, "id"]).node;
      loader.fail(piece, at, `duplicate device id '${d.id}' in machine.devices`, "device-ids");
    }
    live.add(d.id);
  });
  const family = head.machine.family;
  steps.forEach((s, i) => {
    if (!STEP_MACHINES[s.kind].includes(family))
      loader.failAt(
        offsets[i],
        `a ${s.kind} step is for ${STEP_MACHINES[s.kind].join(" and ")} machines, not ${head.machine.machineType}`,
        "machine-devices",
      );
    const known = (id: string) => {
      if (!live.has(id))
        loader.failAt(
          offsets[i],
          `unknown device id '${id}' (known here: ${[...live].join(", ") || "none"})`,
          "device-ids",
        );
    };
    if (s.kind === "device_add") {
      const drivers: readonly string[] = driversOf(family);
      if (!drivers.includes(s.driver))
        loader.failAt(
          offsets[i],
          `driver ${s.driver} is not on ${family} machines; expected one of: ${drivers.join(", ")}`,
          "machine-devices",
        );
      if (live.has(s.id)) loader.failAt(offsets[i], `duplicate device id '${s.id}'`, "device-ids");
      live.add(s.id);
    } else if (s.kind === "device_del") {
      known(s.id);
      live.delete(s.id);
    } else if (s.kind === "dma") known(s.device);
    else if (s.kind === "edu") known(s.device);
    else if (s.kind === "virtio_iommu") {
      // An endpoint is a device id unless it is a PCI address (BB:DD.F).
      const r = s.request;
      if ("endpoint" in r && !/^[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}\.[0-7]$/.test(r.endpoint))
        known(r.endpoint);
    } else if (s.kind === "vtd") {
      known(s.device);
      if (s.action === "attach") known(s.domainOf);
    } else if (s.kind === "rtas" && s.friendly?.target && "device" in s.friendly.target)
      known(s.friendly.target.device);
  });
  const { steps: _steps, ...rest } = head;
  const qemu = rest.qemu ?? DEFAULT_QEMU_LINE;
  const type = rest.machine.machineType;
  const q35 = rest.machine.family === "q35";
  if (!(q35 ? q35Compat(type, qemu) : pseriesCompat(type, qemu))) {
    const { piece, top } = headNodes();
    const at = nodeAt(top, piece.doc, ["machine", "type"]).node;
    const has = q35 ? `pc-q35-X.Y for ${q35Range(qemu)}` : `pseries-X.Y for ${pseriesRange(qemu)}`;
    loader.fail(
      piece,
      at,
      `machine type '${type}' does not exist in QEMU ${qemu} (it has ${has}); QEMU ${qemu} says: ${unsupportedMachineTypeMessage(type, qemu).split("\n")[0]}`,
      "machine-version",
    );
  }
  return {
    name: rest.name,
    description: rest.description,
    qemu,
    behaviour: rest.behaviour ?? "qemu-7.2",
    machine: rest.machine,
    host: rest.host,
    steps,
    source: loader.path,
  };
}
