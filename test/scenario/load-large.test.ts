/**
 * Large scenario files: the `steps:` list is read a chunk of items at a time, which must give
 * exactly what parsing the file as one YAML document gives (the same steps, the same lines, the
 * same error positions), in memory proportional to the steps.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { ScenarioError } from "../../src/scenario/reader.ts";

const root = join(import.meta.dirname, "../..");
const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml"));

/**
 * The same file as one document: a directive makes the loader parse it whole (YAML 1.2 is the
 * default version, so it changes nothing else), two lines further down.
 */
const WHOLE = "%YAML 1.2\n---\n";
function whole(text: string) {
  const s = loadScenario(`${WHOLE}${text}`, "f.yaml");
  return { ...s, steps: s.steps.map((step) => ({ ...step, line: step.line - 2 })) };
}

for (const file of examples) {
  test(`examples/${file}: read in chunks, it loads as it does parsed whole`, () => {
    const text = readFileSync(join(root, "examples", file), "utf8");
    assert.deepEqual(loadScenario(text, "f.yaml"), whole(text));
  });
}

const HEAD =
  "name: big\nmachine:\n  memory: 1G\n  devices:\n    - { id: usb0, driver: qemu-xhci }\nsteps:\n";
const cpuSteps = (n: number) => "  - cpu: { read: 0x1000, length: 8 }\n".repeat(n);

test("20 000 one-line steps load, each with its own line", () => {
  const s = loadScenario(`${HEAD}${cpuSteps(20_000)}host:\n  iommu: type1\n`, "f.yaml");
  assert.equal(s.steps.length, 20_000);
  assert.equal(s.steps[0].line, 7);
  assert.equal(s.steps[19_999].line, 20_006);
  assert.equal(s.host?.iommu, "type1");
});

test("a mistake in a later chunk is reported at its own line and column", () => {
  const text = `${HEAD}${cpuSteps(3000)}  - cpu: { read: 0x1000, length: 0 }\n${cpuSteps(10)}`;
  assert.throws(
    () => loadScenario(text, "f.yaml"),
    (e: unknown) =>
      e instanceof ScenarioError && e.line === 3007 && e.column === 34 && /length/.test(e.detail),
  );
});

test("a YAML syntax error in a later chunk is reported where it is", () => {
  const text = `${HEAD}${cpuSteps(1000)}  - cpu: { read: 0x1000, length: 8\n${cpuSteps(10)}`;
  assert.throws(
    () => loadScenario(text, "f.yaml"),
    (e: unknown) => e instanceof ScenarioError && e.line > 1006 && /YAML syntax/.test(e.detail),
  );
});

test("an anchor in one step and its alias in another, chunks apart, still resolve", () => {
  const text = `${HEAD}  - &probe { cpu: { read: 0x2000, length: 4 } }\n${cpuSteps(1000)}  - *probe\n`;
  const s = loadScenario(text, "f.yaml");
  assert.equal(s.steps.length, 1002);
  assert.deepEqual(s.steps[1001], { ...s.steps[0], line: 1008 });
});

test("steps of a block list indented like its key, and comments between items, load", () => {
  const text = `${HEAD}# first\n- cpu: { read: 0, length: 1 }\n\n  # between\n- reset: system\nhost:\n  iommu: type1\n`;
  const s = loadScenario(text, "f.yaml");
  assert.deepEqual(
    s.steps.map((x) => [x.kind, x.line]),
    [
      ["cpu", 8],
      ["reset", 11],
    ],
  );
  assert.deepEqual(s, whole(text));
});

test("a block scalar holding lines that look like steps stays one value", () => {
  const text = `${HEAD}  - expect_mtree:\n      contains: |\n        - cpu: { read: 0 }\n        steps:\n  - reset: system\n`;
  const s = loadScenario(text, "f.yaml");
  assert.equal(s.steps.length, 2);
  assert.deepEqual(s, whole(text));
});

test("aliases of aliases that would expand to a huge tree are refused at the alias", () => {
  const levels = ["a0: &a0 [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]"];
  for (let i = 1; i < 9; i++)
    levels.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(", ")}]`,
    );
  const text = `x:\n  ${levels.join("\n  ")}\nname: t\nmachine:\n  memory: 1G\ndescription: *a8\n`;
  assert.throws(
    () => loadScenario(text, "f.yaml"),
    (e: unknown) => e instanceof ScenarioError && /aliases expand to more than/.test(e.detail),
  );
});

test("a long double-quoted description loads as written", () => {
  const long = "ab c#'d".replaceAll("'", "").repeat(40_000);
  const s = loadScenario(`name: t\ndescription: "${long}"\nmachine:\n  memory: 1G\n`, "f.yaml");
  assert.equal(s.description, long);
});

test("a long double-quoted string with an escape is refused where it starts, with the way out", () => {
  const long = `${"x".repeat(100_000)}\\t`;
  assert.throws(
    () => loadScenario(`name: t\ndescription: "${long}"\nmachine:\n  memory: 1G\n`, "f.yaml"),
    (e: unknown) =>
      e instanceof ScenarioError &&
      e.line === 2 &&
      e.column === 14 &&
      /block scalar/.test(e.detail),
  );
});

test("a file with CRLF line ends loads as with LF", () => {
  const text = `${HEAD}${cpuSteps(100)}  - reset: system\nhost:\n  iommu: type1\n`;
  const crlf = loadScenario(text.replaceAll("\n", "\r\n"), "f.yaml");
  assert.deepEqual(crlf, loadScenario(text, "f.yaml"));
  assert.deepEqual(crlf, whole(text.replaceAll("\n", "\r\n")));
});

/** The error a text gets, as `line:column: detail`. */
function errorOf(load: () => unknown): string {
  try {
    load();
  } catch (e) {
    if (e instanceof ScenarioError) return `${e.line}:${e.column}: ${e.detail}`;
    throw e;
  }
  return "no error";
}

/** Step items of every kind the fast reader reads, and some it declines, in one file. */
const MIXED = [
  "  - cpu: { read: 0x1000, length: 8 }\n",
  '  - cpu: {write: 0x2000, data: "c0ffee"}   # a comment\n',
  "  - dma: { device: usb0, read: 0x800000012345000, length: 4 }\n    expect: { fault: false }\n",
  "  - hcall: H_PUT_TCE\n    args: { liobn: 0x80000000, ioba: 0x1000, tce: 0x5003 }\n\n    expect: { ret: H_SUCCESS }\n",
  "  - check: shadow\n",
  "  - cpu: { read: 0xffffffffffffffff, length: 1 }\n",
  "  - cpu:\n      read: 0x3000\n      length: 2\n",
  "  - rtas: ibm,query-pe-dma-window\n    device: usb0\n",
  "  - reset: system\n",
];

test("steps read by the fast reader load as the whole document gives them, among others", () => {
  const text = `${HEAD}${Array.from({ length: 300 }, (_, i) => MIXED[i % MIXED.length]).join("")}`;
  const s = loadScenario(text, "f.yaml");
  assert.equal(s.steps.length, 300);
  assert.deepEqual(s, whole(text));
  const crlf = text.replaceAll("\n", "\r\n");
  assert.deepEqual(loadScenario(crlf, "f.yaml"), whole(crlf));
});

test("a fast-read step that fails its check, or names an unknown device, is reported as parsed whole", () => {
  const bad = [
    "  - cpu: { read: 0x1000, length: 0 }\n",
    "  - cpu: { read: 0x1000, length: 8, lenght: 8 }\n",
    "  - dma: { device: nope, read: 0x1000, length: 4 }\n",
    "  - hcall: H_PUT_TCE\n    args: { liobn: 0x80000000, ioba: 0x1000 }\n",
    "  - hcall: H_NOPE\n",
    "  - cpu: { read: 0x10000000000000000, length: 1 }\n",
    "  - check: shadow\n    cpu: { read: 0, length: 1 }\n",
  ];
  for (const b of bad) {
    const text = `${HEAD}${cpuSteps(200)}${b}${cpuSteps(5)}`;
    const chunked = errorOf(() => loadScenario(text, "f.yaml"));
    assert.match(chunked, /^20[78]:/, b);
    assert.equal(
      chunked,
      errorOf(() => whole(text)).replace(/^(\d+)/, (n) => String(Number(n) - 2)),
      b,
    );
  }
});
