/**
 * The fast reader of whole block documents (readBlockDocument, src/scenario/fast-step.ts) against
 * the yaml library, and the loader with its fast paths against the loader without them: the same
 * plain values, the same Scenario, the same error at the same place, on examples, test data,
 * malformed files, generated fuzz scenarios and hostile variants of them.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { isMap, isSeq, type Node, parseDocument } from "yaml";
import { scenarioArb } from "../../fuzz/scenario-fuzz.ts";
import { readBlockDocument, readStepItem } from "../../src/scenario/fast-step.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { NodeProblem, ScenarioError, toPlain } from "../../src/scenario/reader.ts";
import { CASES, M, X } from "./malformed.ts";

/** The loader's parse options (load.ts). */
const OPTIONS = { intAsBigInt: true, uniqueKeys: false, prettyErrors: false, maxAliasCount: -1 };

/** What the yaml library makes of a document: its plain value if it is a clean map, else undefined. */
function byLibrary(text: string): { value: unknown } | undefined {
  const doc = parseDocument(text, OPTIONS);
  if (doc.errors.length) return undefined;
  const top = doc.contents as Node | null;
  if (!isMap(top)) return undefined;
  try {
    return { value: toPlain(top, doc) };
  } catch (e) {
    if (e instanceof NodeProblem) return undefined;
    throw e;
  }
}

function agrees(text: string): boolean {
  const fast = readBlockDocument(text);
  if (fast === undefined) return false;
  const lib = byLibrary(text);
  assert.ok(lib, `the fast reader read what the library refuses: ${JSON.stringify(text)}`);
  assert.deepStrictEqual(fast, lib.value, JSON.stringify(text));
  return true;
}

type Tree =
  | { kind: "leaf"; text: string }
  | { kind: "map"; entries: [string, string, Tree, string, number, number][] }
  | { kind: "seq"; items: [Tree, string, string, number][] };

const KEYS = [
  "name",
  "machine",
  "host",
  "memory",
  "phbs",
  "id",
  "ddw",
  "caching-mode",
  "a-",
  "-a",
  "Name",
  "null",
  "1",
];
const LEAVES = [
  "fuzz",
  "256M",
  "0xff800000",
  "4G",
  "0",
  "12",
  "-3",
  "007",
  "true",
  "False",
  "null",
  "~",
  "spapr-tce-v2",
  "ibm,create-pe-dma-window",
  "a,b",
  ",a",
  "a,",
  '"0001:00:00.0"',
  '"10.0"',
  "'x'",
  "''",
  "'it''s'",
  '"a\\tb"',
  "10.0",
  "1e3",
  ".inf",
  "0o17",
  "a b",
  "a b ",
  "1 2",
  "null x",
  "a b: c",
  "a b#c",
  "a b #c",
  "- a b",
  ", a b",
  ".a b",
  "-a b",
  "a\tb c",
  "a b\t",
  "a 'b'",
  "a [b]",
  "{ a: b c }",
  "[a b]",
  "a #b",
  "a#b",
  "a: b",
  "a:b",
  "&a x",
  "*a",
  "!!str 5",
  "|",
  ">-",
  "- a",
  "? x",
  "é",
  "@x",
  "%x",
  "{ index: 0 }",
  "{ index: 1, ddw: true }",
  "{ id: usb0, driver: qemu-xhci }",
  '{ id: hd0, driver: vfio-pci, host: "0001:00:00.0" }',
  "{ a: 1, a: 2 }",
  "{ a: 1, }",
  "{ a: [1, 2] }",
  "{ a: { b: 1 } }",
  "{}",
  "[4K, 2M, 1G]",
  "[64K]",
  "[]",
  "[ 0x1 , 0x2 ]",
  "[1, 2,]",
  "[a: 1]",
  "[{ a: 1 }, { b: 2 }]",
  "[[1]]",
  "{ a: 1",
  "[1",
  "a\tb",
  "1\t",
];
/** Mostly values the reader reads, so that agreement is tested on many documents it accepts. */
const GOOD = [
  "q35 VT-d map and unmap",
  "a  b",
  "0x10 bytes, 2 pages",
  "true story",
  "fuzz",
  "256M",
  "0xff800000",
  "0",
  "-3",
  "true",
  "null",
  "spapr-tce-v2",
  "ibm,create-pe-dma-window",
  '"0001:00:00.0"',
  "'x'",
  "{ index: 1, ddw: true }",
  '{ id: hd0, driver: vfio-pci, host: "0001:00:00.0" }',
  "{ a: [1, 2] }",
  "[4K, 2M, 1G]",
  "[]",
];
const leaf = fc
  .oneof(
    { weight: 30, arbitrary: fc.constantFrom(...GOOD) },
    { weight: 2, arbitrary: fc.constantFrom(...LEAVES) },
    fc.string({ maxLength: 5 }),
  )
  .map((text): Tree => ({ kind: "leaf", text }));
const key = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom("name", "machine", "host", "memory", "phbs", "id") },
  fc.constantFrom(...KEYS),
);
const sep = fc.oneof(
  { weight: 8, arbitrary: fc.constant(": ") },
  fc.constantFrom(":  ", ":", " : ", ":\t"),
);
const comment = fc.constantFrom(...Array(12).fill(""), " # note", "  #x", "#x", " # é", "\t# t");
const shift = fc.oneof({ weight: 40, arbitrary: fc.constant(0) }, fc.constantFrom(-1, 1, 2));
const step = fc.oneof({ weight: 20, arbitrary: fc.constant(2) }, fc.constantFrom(0, 1, 3, 4));
const dash = fc.oneof(
  { weight: 8, arbitrary: fc.constant("- ") },
  fc.constantFrom("-  ", "-", "-\t"),
);

const { tree } = fc.letrec<{ tree: Tree; map: Tree; seq: Tree }>((tie) => ({
  tree: fc.oneof({ maxDepth: 4, depthIdentifier: "tree" }, leaf, tie("map"), tie("seq")),
  map: fc
    .array(fc.tuple(key, sep, tie("tree"), comment, shift, step), { minLength: 1, maxLength: 4 })
    .map((entries): Tree => ({ kind: "map", entries })),
  seq: fc
    .array(fc.tuple(tie("tree"), dash, comment, shift), { minLength: 1, maxLength: 3 })
    .map((items): Tree => ({ kind: "seq", items })),
}));

/** A block node as lines, indented `indent` (plus each line's own shift). */
function render(t: Tree, indent: number): string[] {
  const pad = (n: number) => " ".repeat(Math.max(0, indent + n));
  if (t.kind === "leaf") return [`${pad(0)}${t.text}`];
  const lines: string[] = [];
  if (t.kind === "map") {
    for (const [k, s, v, c, sh, st] of t.entries) {
      if (v.kind === "leaf") lines.push(`${pad(sh)}${k}${s}${v.text}${c}`);
      else lines.push(`${pad(sh)}${k}${s.trimEnd()}${c}`, ...render(v, indent + st));
    }
    return lines;
  }
  for (const [v, d, c, sh] of t.items) {
    if (v.kind === "leaf") lines.push(`${pad(sh)}${d}${v.text}${c}`);
    else if (v.kind === "map") {
      // `- key: value` with the map's other keys under the first.
      const inner = render(v, indent + Math.max(0, sh) + d.length);
      lines.push(`${pad(sh)}${d}${inner[0].trimStart()}`, ...inner.slice(1));
    } else lines.push(`${pad(sh)}${d.trimEnd()}${c}`, ...render(v, indent + 2));
  }
  return lines;
}

const between = fc.constantFrom(
  ...Array(30).fill(""),
  "",
  "# c",
  "  # c",
  "   ",
  "\t",
  "---",
  "...",
);
const document = fc
  .tuple(
    tree.filter((t) => t.kind === "map"),
    fc.array(between, { minLength: 40, maxLength: 40 }),
    fc.constantFrom("\n", "\n", "", "\n\n", "\n# end\n"),
    fc.constantFrom("", "", "", "# head\n", "\n", " "),
  )
  .map(([t, gaps, end, start]) => {
    const lines = render(t, 0);
    const out: string[] = [];
    lines.forEach((l, i) => {
      out.push(l);
      if (gaps[i % gaps.length] && i + 1 < lines.length) out.push(gaps[i % gaps.length]);
    });
    return `${start}${out.join("\n")}${end}`;
  });

test("the fast head reader gives the yaml library's value for every document it reads, or declines", () => {
  let read = 0;
  fc.assert(
    fc.property(document, fc.boolean(), (lf, crlf) => {
      const text = crlf ? lf.replaceAll("\n", "\r\n") : lf;
      if (agrees(text)) read++;
    }),
    { numRuns: 15_000 },
  );
  // Many generated documents are odd on purpose; enough must be read for the property to mean much.
  assert.ok(read > 700, `only ${read} documents were read fast`);
});

/** What the library makes of a file that is one block-sequence item: its value, or undefined. */
function itemByLibrary(text: string): { value: unknown } | undefined {
  const doc = parseDocument(text, OPTIONS);
  if (doc.errors.length) return undefined;
  const seq = doc.contents as Node | null;
  if (!isSeq(seq) || seq.items.length !== 1) return undefined;
  try {
    return { value: toPlain(seq.items[0] as Node, doc) };
  } catch (e) {
    if (e instanceof NodeProblem) return undefined;
    throw e;
  }
}

test("the fast step reader gives the yaml library's value for nested multi-line items, or declines", () => {
  let read = 0;
  const item = fc
    .tuple(tree, dash, comment, fc.constantFrom(0, 2, 4), fc.constantFrom("\n", "", "\n\n# e\n"))
    .map(([t, d, c, indent, end]) => {
      const lines = render({ kind: "seq", items: [[t, d, c, 0]] }, indent);
      return `${lines.join("\n")}${end}`;
    });
  fc.assert(
    fc.property(item, fc.boolean(), (lf, crlf) => {
      const text = crlf ? lf.replaceAll("\n", "\r\n") : lf;
      const fast = readStepItem(text, 0, text.length);
      if (fast === undefined) return;
      const lib = itemByLibrary(text);
      assert.ok(lib, `the fast reader read what the library refuses: ${JSON.stringify(text)}`);
      assert.deepStrictEqual(fast, lib.value, JSON.stringify(text));
      read++;
    }),
    { numRuns: 10_000 },
  );
  assert.ok(read > 1000, `only ${read} items were read fast`);
});

test("the fast head reader reads the heads the examples and the fuzzer write", () => {
  const heads = [
    "name: t\nmachine:\n  memory: 1G\n",
    '# c\nname: fuzz\nmachine:\n  memory: 0xff800000\n  phbs:\n    - { index: 0 }\n    - { index: 1, ddw: false }\n  devices:\n    - { id: usb0, driver: qemu-xhci }\n    - { id: hd0, driver: vfio-pci, host: "0001:00:00.0" }\nhost:\n  iommu: type1\n  page_size: 4K\n  pgsizes: [4K, 2M, 1G]\n  ddw: true\n  memlock_limit: 64M\n  faults:\n    - { ioctl: MAP_DMA, errno: EINVAL, from: 3, once: true }\nsteps:\n',
    'qemu: "10.0"\nmachine:\n  devices:\n    - id: usb0\n      driver: qemu-xhci\n\n    # between\n    - id: usb1\n      driver: qemu-xhci\nname: x # after\n',
  ];
  for (const text of heads) assert.ok(agrees(text), JSON.stringify(text));
});

test("the fast head reader declines what it does not fully understand", () => {
  const heads = [
    "name: t\nname: u\n",
    "name: &a t\nalias: *a\n",
    "name: !!str t\n",
    "name: t\n---\n",
    "--- \nname: t\n",
    "name: t\n...\n",
    "%YAML 1.2\n---\nname: t\n",
    "? name\n: t\n",
    "name: a\n  b\n",
    "name: 'a\n  b'\n",
    "machine:\n\tmemory: 1G\n",
    "machine:\n  memory: 1G\n   phbs: []\n",
    "machine: { memory: 1G,\n  phbs: [] }\n",
    "host:\n  pgsizes: [4K,\n    2M]\n",
    "machine:\n- a\n",
    "  name: t\n",
    "- name: t\n",
    "name: |\n  t\n",
    "name: 1.5\n",
    "\uFEFFname: t\n",
    "name: t # é\n",
    "",
  ];
  for (const text of heads) assert.equal(readBlockDocument(text), undefined, JSON.stringify(text));
});

/** What loading gives: the Scenario, or the error message (path:line:column: detail). */
function outcome(text: string, fast: boolean): unknown {
  try {
    return { scenario: loadScenario(text, "t.yaml", { fast }) };
  } catch (e) {
    if (e instanceof ScenarioError) return { error: e.message, rule: e.rule };
    throw e;
  }
}

function sameLoad(text: string, what: string): void {
  assert.deepStrictEqual(outcome(text, true), outcome(text, false), what);
}

const examples = join(import.meta.dirname, "../../examples");
const data = join(import.meta.dirname, "data");

test("every example and test scenario loads the same with and without the fast readers", () => {
  const files = [
    ...readdirSync(examples)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => join(examples, f)),
    ...readdirSync(data)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => join(data, f)),
  ];
  assert.ok(files.length >= 40, `${files.length} files`);
  for (const file of files) sameLoad(readFileSync(file, "utf8"), file);
});

test("every malformed file fails the same with and without the fast readers", () => {
  for (const [what, text] of CASES) sameLoad(text, what);
  // A head whose check fails, or that a step's check needs, is still placed by the library.
  sameLoad(`${X}  - device_del: { id: usb1 }\n`, "unknown device");
  sameLoad(
    `${M}  devices:\n    - { id: a, driver: qemu-xhci }\n    - { id: a, driver: qemu-xhci }\n`,
    "duplicate id",
  );
  sameLoad("name: t\nmachine:\n  type: pseries-10.0\n  memory: 1G\n", "machine type");
  sameLoad("name: t\nmachine:\n  memory: 1G\nsteps:\n", "empty steps");
});

test("a generated fuzz scenario loads with no yaml-library document, as without the fast readers", () => {
  fc.assert(
    fc.property(scenarioArb, (text) => {
      const stats = { documents: 0 };
      const fast = loadScenario(text, "fuzz.yaml", { stats });
      assert.equal(stats.documents, 0, text);
      assert.deepStrictEqual(fast, loadScenario(text, "fuzz.yaml", { fast: false }), text);
    }),
    { numRuns: 400 },
  );
});

/** Small damage to one line of a file: what a careless or hostile author writes. */
const damage = fc.constantFrom(
  (l: string) => `\t${l}`,
  (l: string) => ` ${l}`,
  (l: string) => l.slice(1),
  (l: string) => `${l}\n${l}`,
  (l: string) => `${l} # c`,
  (l: string) => `${l}#c`,
  (l: string) => l.replace(": ", ":"),
  (l: string) => l.replace(": ", ": &a "),
  (l: string) => l.replace(/0x[0-9a-f]+/, "1.5"),
  (l: string) => l.replace(/0x[0-9a-f]+/, "-0x1"),
  (l: string) => l.replace(/0x[0-9a-f]+/, "'0x1'"),
  (l: string) => l.replace("{", "{\n"),
  (l: string) => l.replace("[", "[\n"),
  (l: string) => l.replace(/}$/, ", }"),
  (l: string) => l.replace(/ }$/, ", x: 1 }"),
  (l: string) => l.replace(/[a-z]+:/, "unknown:"),
  (l: string) => l.replace(/: .*/, ":"),
  (l: string) => l.replace(/: .*/, ': "é"'),
  (l: string) => l.replace(/: .*/, ": ~"),
  (l: string) => l.replace("- ", "-"),
  (l: string) => l.replace("- ", "- - "),
  (l: string) => `${l}\r`,
  (_l: string) => "---",
);

test("damaged fuzz scenarios load, or fail, the same with and without the fast readers", () => {
  fc.assert(
    fc.property(scenarioArb, fc.nat(), damage, fc.boolean(), (text, at, hurt, crlf) => {
      const lines = text.split("\n");
      const i = at % lines.length;
      lines[i] = hurt(lines[i]);
      const damaged = lines.join(crlf ? "\r\n" : "\n");
      sameLoad(damaged, JSON.stringify(damaged));
    }),
    { numRuns: 1500 },
  );
});
