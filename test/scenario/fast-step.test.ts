/**
 * The fast step reader (src/scenario/fast-step.ts) against the yaml library: on generated and
 * hostile step items it gives exactly the plain value the library's document gives, or declines.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isSeq, type Node, parseDocument } from "yaml";
import { readStepItem } from "../../src/scenario/fast-step.ts";
import { NodeProblem, toPlain } from "../../src/scenario/reader.ts";

/** The loader's parse options (load.ts). */
const OPTIONS = { intAsBigInt: true, uniqueKeys: false, prettyErrors: false, maxAliasCount: -1 };

/** What the yaml library makes of one sequence item: its plain value, or undefined if it is not one clean item. */
function byLibrary(text: string): { value: unknown } | undefined {
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

function agrees(text: string): boolean {
  const fast = readStepItem(text, 0, text.length);
  if (fast === undefined) return false;
  const lib = byLibrary(text);
  assert.ok(lib, `the fast reader read what the library refuses: ${JSON.stringify(text)}`);
  assert.deepStrictEqual(fast, lib.value, JSON.stringify(text));
  return true;
}

const KEYS = [
  "cpu",
  "read",
  "length",
  "data",
  "a_b",
  "caching-mode",
  "a-",
  "null",
  "true",
  "False",
  "Read",
  "k-1",
  "_x",
  "1",
];
const SCALARS = [
  "0",
  "4",
  "007",
  "-5",
  "+5",
  "-0",
  "0x1000",
  "0X10",
  "0xFFFFFFFFFFFFFFFFFF",
  "0x",
  "0o17",
  "1.5",
  "1e3",
  "1.",
  ".5",
  ".inf",
  "-.inf",
  ".nan",
  "2G",
  "64k",
  "2g",
  "2Gi",
  "true",
  "True",
  "TRUE",
  "tRue",
  "false",
  "FALSE",
  "null",
  "Null",
  "NULL",
  "nULL",
  "~",
  "yes",
  "no",
  "on",
  "H_PUT_TCE",
  "usb0",
  "pseries-7.2",
  "a/b",
  "a.b",
  "-",
  "-a",
  "- a",
  "a b",
  "a#b",
  "a #b",
  "a:b",
  "a: b",
  '"deadbeef"',
  '""',
  '"a b # c"',
  '"a\\"b"',
  '"a\\nb"',
  '"é"',
  '"a',
  "'x'",
  "''",
  "'it''s'",
  "'a\"b'",
  "'a",
  "[1, 2]",
  "[]",
  "{a: 1}",
  "&a 1",
  "*a",
  "!!str 5",
  "!t x",
  "|",
  ">",
  "@x",
  "`x",
  "%x",
  "?",
  "? x",
  "=",
  "\t1",
  "1\t",
  "\u2028",
  "x\r",
  "ibm,create-pe-dma-window",
  "a,b",
  ",a",
  "a,",
  "1,2",
  "0x1,",
  "[1, 2,]",
  "[a b]",
  "[a: 1]",
  "[[1]]",
  "[{a: 1}]",
  "[ 'a', \"b\" ]",
  "[1}",
  "[0x1",
];
const SEPARATORS = [": ", ":  ", ":", " : ", ":\t"];
const COMMAS = [", ", ",", " , ", ",  ", " ,"];

/** Mostly values the reader reads, so that agreement is tested on many items it accepts. */
const GOOD = [
  "0",
  "4",
  "007",
  "-0",
  "00",
  "99999999999999999999999",
  "0t",
  "a-b",
  "x.y",
  "-5",
  "0x1000",
  "0xFFFF",
  "2G",
  "true",
  "null",
  "usb0",
  '"b3c0"',
  "'x y'",
  "ibm,reset-pe-dma-window",
  "a b c",
  "x  y #z",
];
const key = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("cpu", "read", "length", "data") },
  fc.constantFrom(...KEYS),
);
const scalar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...GOOD) },
  { weight: 3, arbitrary: fc.constantFrom(...SCALARS) },
  fc.string({ maxLength: 6 }),
);
const sep = fc.oneof({ weight: 4, arbitrary: fc.constant(": ") }, fc.constantFrom(...SEPARATORS));
const pair = fc.tuple(key, sep, scalar).map(([k, s, v]) => `${k}${s}${v}`);
const flowMap = fc
  .tuple(
    fc.array(pair, { maxLength: 4 }),
    fc.oneof({ weight: 4, arbitrary: fc.constant(", ") }, fc.constantFrom(...COMMAS)),
    fc.constantFrom("{ ", "{ ", "{", "{  "),
    fc.constantFrom(" }", " }", " }", "}", ",}", ", }"),
  )
  .map(([pairs, comma, open, close]) => `${open}${pairs.join(comma)}${close}`);
const flowSeq = fc
  .tuple(
    fc.array(fc.oneof({ weight: 4, arbitrary: scalar }, flowMap), { maxLength: 4 }),
    fc.oneof({ weight: 4, arbitrary: fc.constant(", ") }, fc.constantFrom(...COMMAS)),
    fc.constantFrom("[", "[", "[ ", "[  "),
    fc.constantFrom("]", "]", " ]", ",]", ", ]"),
  )
  .map(([items, comma, open, close]) => `${open}${items.join(comma)}${close}`);
/** Flow maps whose values may be flow sequences (`args: { tces: [0x3, 0x1003] }`). */
const flowMapOfSeqs = fc
  .array(fc.tuple(key, sep, fc.oneof(scalar, flowSeq)), { maxLength: 4 })
  .map((pairs) => `{ ${pairs.map(([k, s, v]) => `${k}${s}${v}`).join(", ")} }`);
const value = fc.oneof(scalar, flowMap, flowSeq, flowMapOfSeqs);
const comment = fc.constantFrom("", "", "", " # note", "  #x", "#x", " #", " # é", " # a\rb");
const entry = fc.tuple(key, sep, value, comment).map(([k, s, v, c]) => `${k}${s}${v}${c}`);
const between = fc.constantFrom("", "", "", "\n", "   \n", "# c\n", "  # c\n", "\t\n", "\r\n");
const item = fc
  .tuple(
    fc.constantFrom("", "  ", "    "),
    fc.constantFrom("- ", "- ", "- ", "-  ", "-", "-\t"),
    entry,
    fc.array(
      fc.tuple(
        between,
        fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: -1, max: 1 })),
        entry,
      ),
      { maxLength: 3 },
    ),
    fc.constantFrom("\n", "", "\r\n", "\n\n", "\n# end\n"),
  )
  .map(([indent, dash, first, rest, end]) => {
    const column = indent.length + dash.length;
    const lines = rest.map(
      ([b, shift, e]) => `\n${b}${" ".repeat(Math.max(0, column + shift))}${e}`,
    );
    return `${indent}${dash}${first}${lines.join("")}${end}`;
  });

test("the fast reader gives the yaml library's value for every step item it reads, or declines", () => {
  let read = 0;
  fc.assert(
    fc.property(item, fc.boolean(), (lf, crlf) => {
      // Files written with CRLF line ends too.
      const text = crlf ? lf.replaceAll("\n", "\r\n") : lf;
      if (agrees(text)) read++;
    }),
    { numRuns: 20_000 },
  );
  // Most generated items are odd on purpose; enough must be read for the property to mean much.
  assert.ok(read > 300, `only ${read} items were read fast`);
});

test("the fast reader reads the common one-line and block step items", () => {
  const items = [
    "  - cpu: { read: 0x1000, length: 8 }\n",
    "  - cpu: {read: 0, length: 4}",
    '- dma: { device: usb0, write: 0x800000012345000, data: "c0ffee" }\n',
    "  - hcall: H_PUT_TCE\n    args: { liobn: 0x80000000, ioba: 0x1000, tce: 0x5003 }\n    expect: { ret: H_SUCCESS }\n",
    "  - check: shadow # why\n\n  # next\n",
    "  - cpu: { read: 0xffffffffffffffff, length: 1, fault: true }\n",
    "  - device_del: 'usb0'\n",
    "  - cpu: { read: 0x10 }\r\n",
    "  - hcall: H_PUT_TCE # c\r\n\r\n    args: { tce: 3 }\r\n",
    "  - { cpu: { read: 0 } }\n",
    "  - cpu:\n      read: 0\n",
    "  - rtas: ibm,create-pe-dma-window\n    phb: 0\n    page_shift: 16\n    window_shift: 34\n",
    "  - rtas: ibm,read-pci-config\n    args: [0x1, 0x2, 0xffffffff]\n    nret: 2\n",
    "  - hcall: H_PUT_TCE_INDIRECT\n    args: { liobn: 0x80000000, ioba: 0x0, tces: [0x10003, 0x3] }\n",
    "  - hcall: H_PUT_TCE_INDIRECT\n    args: { liobn: 0x80000000, ioba: 0x0, tces: [] }\n",
    "  - cpu: { read: 0x10 }\n    expect:\n      fault: false\n      data: [ 'ab', \"cd\" ]\n",
  ];
  for (const text of items) assert.ok(agrees(text), JSON.stringify(text));
});

test("the fast reader declines what it does not fully understand", () => {
  const items = [
    "  - cpu: { read: 1.5, length: 8 }\n",
    "  - cpu: { read: 0x10, read: 0x20 }\n",
    "  - cpu: { read: 0x10, length: 4, }\n",
    "  - cpu: { read: &a 0x10 }\n",
    '  - cpu: { data: "a\\tb" }\n',
    "  - cpu: { read: 0x10 }\r",
    "  - cpu: { read: 0x10 }\r  \n",
    "  - check: a\rb\n",
    "  - cpu: { read: 0x10 }\n      length: 4\n",
    "  - check: shadow\n   expect: { ok: true }\n",
    "  - cpu: { read: 0x10 } # é\n",
  ];
  for (const text of items)
    assert.equal(readStepItem(text, 0, text.length), undefined, JSON.stringify(text));
});
