/**
 * From YAML nodes to plain values with positions: the values the format's definitions
 * (schema.ts) check, and the way back from a checked value's path to its `path:line:column`.
 */
import { type Alias, type Document, isAlias, isMap, isScalar, isSeq, type Node, visit } from "yaml";
import { SIZE_2_64 } from "../memory/int.ts";

/** A bad scenario file: where, and what was expected. */
export class ScenarioError extends Error {
  override name = "ScenarioError";
  constructor(
    readonly path: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
    /** The loader-only rule (schema.ts `LOADER_ONLY_RULES`) this breaks, if it is one. */
    readonly rule?: string,
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

/** The largest number of bytes (2^64) a size may name. */
export const MAX_SIZE = SIZE_2_64;

/** A YAML number that is not an integer as written (`8.0`, `1e9`, `.inf`): kept with its text. */
export class FloatScalar {
  constructor(
    readonly text: string,
    readonly value: number,
  ) {}
}

/** A mistake found while turning nodes into values: where, and what. */
export class NodeProblem {
  constructor(
    readonly node: Node | null | undefined,
    readonly path: readonly (string | number)[],
    readonly message: string,
  ) {}
}

/**
 * Nodes that aliases may expand to, per document: a few anchors must not make a huge tree
 * (each alias of an alias doubles it), so memory stays proportional to the text.
 */
const MAX_ALIASED_NODES = 100_000;
const aliasedNodes = new WeakMap<Document, number>();

/**
 * A node as a plain value: maps as null-prototype objects, sequences as arrays, integers as
 * bigints, other numbers as `FloatScalar`. Returns a `NodeProblem` for a duplicate or non-plain key.
 */
export function toPlain(
  node: Node | null | undefined,
  doc: Document,
  path: (string | number)[] = [],
): unknown {
  let inAlias = 0;
  let aliasNode: Node | undefined;
  const convert = (n: Node | null | undefined, at: (string | number)[]): unknown => {
    if (n === null || n === undefined) return null;
    if (inAlias > 0) {
      const used = (aliasedNodes.get(doc) ?? 0) + 1;
      aliasedNodes.set(doc, used);
      if (used > MAX_ALIASED_NODES)
        throw new NodeProblem(
          aliasNode,
          at,
          `aliases expand to more than ${MAX_ALIASED_NODES} nodes`,
        );
    }
    if (isAlias(n)) {
      inAlias++;
      aliasNode ??= n;
      try {
        return convert(resolveAlias(doc, n), at);
      } finally {
        if (--inAlias === 0) aliasNode = undefined;
      }
    }
    if (isScalar(n)) {
      const v = n.value;
      if (typeof v === "number") return new FloatScalar(n.source ?? String(v), v);
      return v;
    }
    if (isSeq(n)) return n.items.map((item, i) => convert(item as Node, [...at, i]));
    if (isMap(n)) {
      const out: Record<string, unknown> = Object.create(null);
      for (const pair of n.items) {
        const k = pair.key as Node | null;
        const key = isScalar(k) ? k.value : undefined;
        if (typeof key !== "string" && typeof key !== "bigint" && typeof key !== "boolean")
          throw new NodeProblem(k, at, "expected a plain key");
        const name = String(key);
        if (Object.hasOwn(out, name))
          throw new NodeProblem(k, [...at, name], `duplicate key '${name}'`);
        out[name] = convert(pair.value as Node | null, [...at, name]);
      }
      return out;
    }
    return null;
  };
  return convert(node, path);
}

/** Each alias's node, found in one walk per document (yaml's own lookup walks it per alias). */
const ALIASES = new WeakMap<Document, Map<Alias, Node | undefined>>();

function resolveAlias(doc: Document, alias: Alias): Node | undefined {
  let targets = ALIASES.get(doc);
  if (!targets) {
    const found = new Map<Alias, Node | undefined>();
    const anchors = new Map<string, Node>();
    visit(doc, {
      Node: (_key, node) => {
        if (isAlias(node)) found.set(node, anchors.get(node.source));
        else if (node.anchor) anchors.set(node.anchor, node as Node);
      },
    });
    targets = found;
    ALIASES.set(doc, targets);
  }
  return targets.get(alias);
}

/** The node at `path` under `node`, and the key node naming its last step (for maps). */
export function nodeAt(
  node: Node | null | undefined,
  doc: Document,
  path: readonly PropertyKey[],
): { node: Node | null | undefined; key?: Node; found: boolean } {
  let at: Node | null | undefined = node;
  let key: Node | undefined;
  for (const step of path) {
    if (isAlias(at)) at = resolveAlias(doc, at);
    if (isSeq(at) && typeof step === "number") {
      const next = at.items[step] as Node | undefined;
      if (next === undefined) return { node: at, found: false };
      at = next;
      key = undefined;
    } else if (isMap(at)) {
      const pair = at.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
      if (!pair) return { node: at, found: false };
      key = pair.key as Node;
      at = (pair.value as Node | null) ?? undefined;
      if (at === undefined) return { node: key, key, found: true };
    } else return { node: at, found: false };
  }
  return { node: at, key, found: true };
}

/** Line starts of a text, found on demand: `path:line:column` for any offset, in one pass. */
export class Positions {
  #starts: number[] = [0];
  #scanned = 0;
  constructor(readonly text: string) {}

  /** 1-based line and column of a UTF-16 offset. */
  at(offset: number): { line: number; col: number } {
    while (this.#scanned < offset) {
      const nl = this.text.indexOf("\n", this.#scanned);
      if (nl === -1 || nl >= offset) {
        this.#scanned = offset;
        break;
      }
      this.#starts.push(nl + 1);
      this.#scanned = nl + 1;
    }
    // Offsets asked in order cost nothing more; an earlier one is a binary search.
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.#starts[lo] + 1 };
  }
}
