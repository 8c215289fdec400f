/**
 * The JSON Schema editors use (schema/scenario.schema.json, through ajv) and the loader give the
 * same verdict on every example, every malformed file of the error tests, the format's known
 * trouble spots, and a few hundred mutations of the examples. The only disagreement allowed is the
 * loader refusing by a rule JSON Schema cannot state (schema.ts `LOADER_ONLY_RULES`).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Ajv } from "ajv";
import fc from "fast-check";
import { parse, parseDocument, stringify } from "yaml";
import { loadScenario } from "../../src/scenario/load.ts";
import { ScenarioError } from "../../src/scenario/reader.ts";
import { LOADER_ONLY_RULES } from "../../src/scenario/schema.ts";
import { CASES, M, X } from "./malformed.ts";

const root = join(import.meta.dirname, "../..");
const validate = new Ajv({ strict: false }).compile(
  JSON.parse(readFileSync(join(root, "schema/scenario.schema.json"), "utf8")),
);
const examples = readdirSync(join(root, "examples"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => ({ name: f, text: readFileSync(join(root, "examples", f), "utf8") }));

interface Verdicts {
  readonly loader: boolean;
  readonly rule?: string;
  readonly message?: string;
  readonly schema: boolean;
}

function verdicts(text: string): Verdicts {
  let schema: boolean;
  try {
    schema = validate(parse(text)) === true;
  } catch {
    schema = false; // not YAML at all
  }
  try {
    loadScenario(text, "t.yaml");
    return { loader: true, schema };
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    return { loader: false, rule: e.rule, message: e.message, schema };
  }
}

/** Fails unless both accept, both refuse, or the loader refuses by a loader-only rule. */
function assertAgree(text: string, what: string): Verdicts {
  const v = verdicts(text);
  if (v.loader === v.schema) return v;
  assert.ok(
    !v.loader && v.rule !== undefined && v.rule in LOADER_ONLY_RULES,
    `${what}: the loader ${v.loader ? "accepts" : `refuses (${v.message})`} but the JSON Schema ${v.schema ? "accepts" : `refuses: ${JSON.stringify(validate.errors?.slice(0, 2))}`}\n${text}`,
  );
  return v;
}

for (const { name, text } of examples) {
  test(`examples/${name}: the loader and the JSON Schema both accept it`, () => {
    const v = assertAgree(text, name);
    assert.ok(v.loader && v.schema, name);
  });
}

test("every malformed file of the error tests gets the same verdict from both", () => {
  for (const [what, text] of CASES) assertAgree(text, what);
});

/** Inputs the four old definitions disagreed on, with the verdict both must now give. */
const SPOTS: [string, string, boolean][] = [
  [
    "type1 reserved IOVA ranges",
    `${M}host:\n  iommu: type1\n  reserved_iova: [[0xfee00000, 0xfeefffff]]\n`,
    true,
  ],
  ["PHB key misspelt", `${M}  phbs:\n    - { index: 1, dma_win_sise: 1G }\n`, false],
  ["vfio-pci without host", `${M}  devices:\n    - { id: h, driver: vfio-pci }\n`, false],
  ["device_add without id", `${X}  - device_add: { driver: qemu-xhci }\n`, false],
  [
    "fault ioctl misspelt",
    `${M}host:\n  faults:\n    - { ioctl: MAP_DAM, errno: EINVAL }\n`,
    false,
  ],
  ["data with spaces", `${X}  - dma: { device: usb0, write: 0, data: "de ad be ef" }\n`, true],
  [
    "page_shift as a quoted number",
    `${X}  - rtas: ibm,create-pe-dma-window\n    device: usb0\n    page_shift: "16"\n    window_shift: 30\n`,
    true,
  ],
  [
    "hcall ret by name",
    `${X}  - hcall: H_GET_TCE\n    args: { liobn: 0x80000000, ioba: 0 }\n    expect: { ret: H_SUCCESS }\n`,
    true,
  ],
  [
    "DMA status expected",
    `${X}  - dma: { device: usb0, read: 0, length: 4 }\n    expect: { status: decode-error }\n`,
    true,
  ],
  [
    "H_PUT_TCE_INDIRECT with tces and npages",
    `${X}  - hcall: H_PUT_TCE_INDIRECT\n    args: { liobn: 1, ioba: 0, tces: [1], npages: 1 }\n`,
    false,
  ],
  [
    "rtas raw args beside a friendly field",
    `${X}  - rtas: ibm,query-pe-dma-window\n    args: [0]\n    phb: 0\n`,
    false,
  ],
];

for (const [what, text, ok] of SPOTS) {
  test(`${what}: both ${ok ? "accept" : "refuse"}`, () => {
    const v = verdicts(text);
    assert.equal(v.loader, ok, `loader: ${v.message}`);
    assert.equal(v.schema, ok, `schema: ${JSON.stringify(validate.errors)}`);
  });
}

test("integers written as floats are refused by the loader alone, under the rule that says so", () => {
  const v = assertAgree(`${M}  smp: 8.0\n`, "smp: 8.0");
  assert.deepEqual([v.loader, v.schema, v.rule], [false, true, "whole-number"]);
});

type Path = (string | number)[];

/** Every path to a value in a plain tree. */
function paths(v: unknown, at: Path = []): Path[] {
  const out: Path[] = [at];
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) out.push(...paths(x, [...at, i]));
  } else if (v !== null && typeof v === "object")
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

const WRONG = ["text", true, [], {}, 1.5, -1n, 1n << 64n, 1n << 32n, 99999n, 31n, 0n, null];

/** One mutation of a parsed document at `path`. */
function mutate(doc: ReturnType<typeof parseDocument>, path: Path, how: number, pick: number) {
  const parentPath = path.slice(0, -1);
  const key = path[path.length - 1];
  const parent = parentPath.length ? doc.getIn(parentPath) : doc.contents;
  switch (how) {
    case 0: // drop the key or item
      doc.deleteIn(path);
      break;
    case 1: {
      // misspell a key
      if (typeof key !== "string") return doc.deleteIn(path);
      const value = doc.getIn(path, true);
      doc.deleteIn(path);
      const spelt = key.length > 2 ? key.slice(0, 1) + key.slice(2) : `${key}x`;
      (parent as { set?: (k: string, v: unknown) => void }).set?.(spelt, value);
      break;
    }
    default:
      // a value of the wrong type, or out of range
      doc.setIn(path, WRONG[pick % WRONG.length]);
  }
}

test("a few hundred mutations of the examples get the same verdict from both", () => {
  let refused = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.nat(examples.length - 1), fc.nat(), fc.nat(2), fc.nat(), (e, p, how, pick) => {
      const doc = parseDocument(examples[e].text, { intAsBigInt: true });
      const all = paths(doc.toJS()).filter((x) => x.length > 0);
      const path = all[p % all.length];
      mutate(doc, path, how, pick);
      const text = stringify(doc.toJS());
      const v = assertAgree(
        text,
        `${examples[e].name} with ${["dropped", "misspelt", "changed"][how]} ${path.join(".")}`,
      );
      runs++;
      if (!v.loader) refused++;
    }),
    { numRuns: 400, seed: 20261201 },
  );
  // The mutations reach both verdicts, so the agreement is tested both ways.
  assert.ok(refused > runs / 4 && refused < runs, `${refused} of ${runs} refused`);
});
