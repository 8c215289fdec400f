/**
 * Reading YAML nodes with positions: every value taken from a scenario file is checked here, and
 * a wrong one is a `ScenarioError` naming `path:line:column` and the expected form.
 */
import { isMap, isScalar, isSeq, type LineCounter, type Node, type Pair, type Scalar } from "yaml";
import { SIZE_2_64 } from "../memory/int.ts";

/** A bad scenario file: where, and what was expected. */
export class ScenarioError extends Error {
  override name = "ScenarioError";
  constructor(
    readonly path: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${path}:${line}:${column}: ${detail}`);
  }
}

const SUFFIXES: Record<string, bigint> = { K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };

/** Parses `123`, `0x7b`, and with `sizes` also `2G`, `64K`; undefined if it is none of these. */
export function parseNumber(text: string, sizes: boolean): bigint | undefined {
  const t = text.trim();
  if (/^0x[0-9a-fA-F]+$/.test(t)) return BigInt(t);
  if (/^[0-9]+$/.test(t)) return BigInt(t);
  const m = sizes ? /^([0-9]+)([KMGT])$/i.exec(t) : null;
  if (m) return BigInt(m[1]) * SUFFIXES[m[2].toUpperCase()];
  return undefined;
}

/** A YAML map's entries with their nodes. */
export interface MapEntries {
  readonly node: Node;
  readonly values: Map<string, Node | null>;
  readonly keys: Map<string, Node>;
}

/** Reads nodes of one file. */
export class NodeReader {
  constructor(
    readonly path: string,
    readonly lines: LineCounter,
  ) {}

  /** Throws a `ScenarioError` at `node` (or at the start of the file). */
  fail(node: Node | null | undefined, detail: string): never {
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    throw new ScenarioError(this.path, line, col, detail);
  }

  /** A map whose keys must all be in `allowed`. */
  map(node: Node | null | undefined, what: string, allowed: readonly string[]): MapEntries {
    if (!isMap(node)) this.fail(node, `expected ${what} as a map of key: value`);
    const values = new Map<string, Node | null>();
    const keys = new Map<string, Node>();
    for (const pair of node.items as Pair<Node, Node | null>[]) {
      const keyNode = pair.key;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key === undefined) this.fail(keyNode, `expected a plain key in ${what}`);
      if (!allowed.includes(key)) {
        this.fail(
          keyNode,
          `unknown key '${key}' in ${what}; expected one of: ${allowed.join(", ")}`,
        );
      }
      if (values.has(key)) this.fail(keyNode, `duplicate key '${key}' in ${what}`);
      values.set(key, pair.value ?? null);
      keys.set(key, keyNode);
    }
    return { node, values, keys };
  }

  /** A required entry of a map. */
  required(entries: MapEntries, key: string, what: string): Node {
    const v = entries.values.get(key);
    if (v === undefined || v === null)
      this.fail(entries.keys.get(key) ?? entries.node, `${what} needs '${key}'`);
    return v;
  }

  /** A sequence's items. */
  seq(node: Node | null | undefined, what: string): Node[] {
    if (!isSeq(node)) this.fail(node, `expected ${what} as a list`);
    return node.items as Node[];
  }

  #scalar(node: Node | null | undefined, what: string): Scalar {
    if (!isScalar(node)) this.fail(node, `expected ${what}`);
    return node;
  }

  /** A string. */
  string(node: Node | null | undefined, what: string): string {
    const s = this.#scalar(node, what);
    if (typeof s.value !== "string") this.fail(node, `expected ${what} as a string`);
    return s.value;
  }

  /** One of several words. */
  oneOf<T extends string>(node: Node | null | undefined, what: string, words: readonly T[]): T {
    const s = this.string(node, `${what} (one of: ${words.join(", ")})`);
    if (!words.includes(s as T))
      this.fail(node, `expected ${what} to be one of: ${words.join(", ")}; got '${s}'`);
    return s as T;
  }

  /** A boolean. */
  bool(node: Node | null | undefined, what: string): boolean {
    const s = this.#scalar(node, `${what} (true or false)`);
    if (typeof s.value !== "boolean") this.fail(node, `expected ${what} to be true or false`);
    return s.value;
  }

  /** An unsigned integer in [min, max] (decimal or 0x hex; sizes also take K/M/G/T). */
  u64(
    node: Node | null | undefined,
    what: string,
    options: { sizes?: boolean; min?: bigint; max?: bigint } = {},
  ): bigint {
    const s = this.#scalar(node, `${what} (a number)`);
    let v: bigint | undefined;
    if (typeof s.value === "bigint") v = s.value;
    else if (typeof s.value === "number" && Number.isSafeInteger(s.value)) v = BigInt(s.value);
    else if (typeof s.value === "string") v = parseNumber(s.value, options.sizes ?? false);
    const form = options.sizes
      ? "a number like 4096, 0x1000 or 2G"
      : "a whole number, decimal or 0x hex";
    if (v === undefined) this.fail(node, `expected ${what} as ${form}`);
    const min = options.min ?? 0n;
    const max = options.max ?? (options.sizes ? SIZE_2_64 : SIZE_2_64 - 1n);
    if (v < min || v > max) {
      this.fail(
        node,
        `${what} ${v < 0n ? v : `0x${v.toString(16)}`} is out of range 0x${min.toString(16)}..0x${max.toString(16)}`,
      );
    }
    return v;
  }

  /** A small integer. */
  int(node: Node | null | undefined, what: string, min: number, max: number): number {
    return Number(this.u64(node, what, { min: BigInt(min), max: BigInt(max) }));
  }

  /** Hex bytes such as "deadbeef". */
  hexData(node: Node | null | undefined, what: string): Uint8Array {
    const s = this.#scalar(node, `${what} (hex bytes in quotes, like "deadbeef")`);
    const text = typeof s.value === "string" ? s.value : undefined;
    const clean = text?.replace(/^0x/, "").replace(/[\s_]/g, "");
    if (clean === undefined || !/^([0-9a-fA-F]{2})*$/.test(clean)) {
      this.fail(node, `expected ${what} as hex bytes in quotes, like "deadbeef"`);
    }
    return Uint8Array.from(clean.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
  }

  /** Where a node starts (1-based line). */
  lineOf(node: Node | null | undefined): number {
    return this.lines.linePos(node?.range?.[0] ?? 0).line;
  }
}
