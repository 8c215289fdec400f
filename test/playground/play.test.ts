/**
 * The playground's plays (src/playground/play.ts), in Node: the verdicts `iova run` gives, the
 * loader's problems at line and column, `info mtree` dumps split and imported, a trace replayed;
 * and the link state round-trips exactly and refuses what is not one.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/main.ts";
import {
  decodeState,
  encodeState,
  FragmentError,
  MAX_STATE_BYTES,
  type PlayState,
} from "../../src/playground/fragment.ts";
import {
  checkScenario,
  playMtree,
  playScenario,
  playTrace,
  splitMtreeDump,
} from "../../src/playground/play.ts";

const root = join(import.meta.dirname, "../..");
const read = (...p: string[]) => readFileSync(join(root, ...p), "utf8");

/** What `iova ARGS` prints on stdout and stderr, and its exit code. */
function cli(...args: string[]) {
  let out = "";
  let err = "";
  const code = main(
    args,
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
  );
  return { out, err, code };
}

test("every example gets the report `iova run --json` prints, with a drawn map", () => {
  const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml"));
  assert.ok(examples.length >= 20);
  for (const name of examples) {
    const file = join(root, "examples", name);
    const played = playScenario(read("examples", name), file);
    const json = JSON.parse(cli("run", "--json", file).out);
    // Containers' pseudo-pointers are numbered per process (src/vfio/container.ts), not per run.
    const same = (v: unknown) =>
      JSON.parse(JSON.stringify(v).replace(/0x55d5c0de[0-9a-f]{4}/g, "0x55d5c0de????"));
    assert.deepEqual(same(played.report), same(json), name);
    assert.equal(played.verdict, json.ok ? "ok" : "FAILED", name);
    assert.match(played.html ?? "", /<svg/, `${name}: the report draws a map`);
    assert.match(played.mtree ?? "", /^address-space: /m, `${name}: the info mtree text`);
  }
});

const BAD_TCE =
  "name: x\nmachine:\n  type: pseries\n  memory: 1G\nsteps:\n  - hcall: H_PUT_TCE\n    args: { liobn: 0x80000000, ioba: 0x0, tce: nope }\n";

test("a scenario's mistake is where the CLI reports it: line 7, column 48, at `nope`", () => {
  const [p, ...more] = checkScenario(BAD_TCE, "x.yaml");
  assert.equal(more.length, 0);
  assert.deepEqual([p.line, p.column], [7, BAD_TCE.split("\n")[6].indexOf("nope") + 1]);
  const file = join(mkdtempSync(join(tmpdir(), "iova-play-")), "x.yaml");
  writeFileSync(file, BAD_TCE);
  const { err, code } = cli("run", file);
  assert.equal(code, 2);
  const [q] = checkScenario(BAD_TCE, file);
  assert.equal(err, `iova: ${q.source}:${q.line}:${q.column}: ${q.message}\n`);
  const played = playScenario(BAD_TCE, "x.yaml");
  assert.equal(played.verdict, "error");
  assert.deepEqual(played.problems, [p]);
  assert.match(p.message, /tce/);
});

test("a YAML syntax error is placed as the loader places it", () => {
  const [p] = checkScenario(
    "name: x\nmachine:\n  type: pseries\n  memory: [\nsteps: []\n",
    "y.yaml",
  );
  assert.equal(p.source, "y.yaml");
  assert.deepEqual([p.line, p.column], [5, 1]);
  assert.match(p.message, /^YAML syntax/);
});

test("a behaviour chosen in the page overrides the scenario's, as `--behaviour` does", () => {
  const name = "e04-seed-2016-prefix.yaml";
  const file = join(root, "examples", name);
  for (const behaviour of ["qemu-7.2", "qemu-2016-prefix"] as const) {
    const played = playScenario(read("examples", name), name, behaviour);
    assert.equal(played.verdict, cli("run", "--quiet", "--behaviour", behaviour, file).out.trim());
    assert.match(played.html ?? "", new RegExp(`Behaviour ${behaviour}\\.`));
  }
});

test("a dump pasted as the tree then -f, or -f then the tree, is split into the two", () => {
  const tree = read("examples/mtree/pseries-xhci-ddw.mtree-D.txt");
  const flat = read("examples/mtree/pseries-xhci-ddw.mtree-f.txt");
  assert.deepEqual(splitMtreeDump(tree + flat), { tree, flat });
  assert.deepEqual(splitMtreeDump(flat + tree), { tree, flat });
  assert.deepEqual(splitMtreeDump(tree), { tree, flat: "" });
  assert.deepEqual(splitMtreeDump(flat), { tree: "", flat });
});

test("a recorded QEMU dump imports with or without -f and prints as `iova mtree --import` does", () => {
  const data = join(root, "test/conformance/data/ppc64-pseries-hotplug-pci");
  const tree = readFileSync(join(data, "mtree-D.txt"), "utf8");
  const flat = readFileSync(join(data, "mtree-f.txt"), "utf8");
  for (const hint of [flat, ""]) {
    const played = playMtree(tree, hint);
    assert.equal(played.verdict, "imported");
    const args = ["mtree", "--import", join(data, "mtree-D.txt"), "-D"];
    if (hint) args.push("--flat", join(data, "mtree-f.txt"));
    assert.equal(played.mtree, cli(...args).out);
    assert.equal(played.flat, cli(...args.filter((a) => a !== "-D"), "-f").out);
  }
});

test("a broken dump names its line; the -f text alone is refused with a reason", () => {
  const bad = playMtree(
    "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n    zzz\n",
    "",
  );
  assert.equal(bad.verdict, "error");
  assert.deepEqual([bad.problems[0].source, bad.problems[0].line], ["info mtree", 3]);
  const flatOnly = playMtree("", read("examples/mtree/pseries-xhci-ddw.mtree-f.txt"));
  assert.equal(flatOnly.verdict, "error");
  assert.match(flatOnly.problems[0].message, /-f text alone is only a hint/);
});

test("the Linux 6.1 trace replays to ok, as `iova trace` says, and its bad line is placed", () => {
  const dir = "examples/trace/linux-6.1-xhci-4g";
  const played = playTrace(read(dir, "trace.log"), read(dir, "cmdline.txt"));
  const { out } = cli(
    "trace",
    join(root, dir, "trace.log"),
    "--machine",
    join(root, dir, "cmdline.txt"),
    "--quiet",
  );
  assert.equal(played.verdict, out.trim());
  assert.equal(played.verdict, "ok");
  assert.match(played.text ?? "", /no divergence/);
  assert.match(played.scenarioText ?? "", /H_PUT_TCE_INDIRECT/);
  assert.match(played.flat ?? "", /tce-iommu-80000001/);
  const broken = playTrace(
    `${read(dir, "trace.log")}spapr_iommu_pci_put liobn=zz\n`,
    read(dir, "cmdline.txt"),
  );
  assert.equal(broken.verdict, "error");
  assert.equal(broken.problems[0].source, "trace log");
  assert.equal(broken.problems[0].line, read(dir, "trace.log").split("\n").length);
});

test("--assume linear in the page fills what the log leaves unsaid, as `iova trace --assume linear` does", () => {
  const dir = "examples/trace/linux-6.1-xhci-4g";
  const args = ["trace", join(root, dir, "trace.log"), "--machine", join(root, dir, "cmdline.txt")];
  for (const assume of ["none", "linear"] as const) {
    const played = playTrace(read(dir, "trace.log"), read(dir, "cmdline.txt"), assume);
    const printed = cli(...args, "--assume", assume).out;
    assert.equal(/assumption linear used/.test(played.text ?? ""), assume === "linear");
    // The same findings, but for the log's name (the page has no path for it).
    assert.equal(played.text, printed.replaceAll(join(root, dir, "trace.log"), "trace.log"));
  }
});

const STATE: PlayState = {
  mode: "trace",
  scenario: { name: "a b.yaml", text: "name: é ☃ 😀\n\tsteps: []\n" },
  behaviour: "qemu-2016-prefix",
  mtree: { tree: "address-space: memory\n", flat: "" },
  trace: {
    log: "x".repeat(100_000),
    commandLine: "qemu-system-ppc64 -M pseries\n",
    assume: "linear",
  },
};

test("the link state round-trips exactly, compressed", async () => {
  const fragment = await encodeState(STATE);
  assert.match(fragment, /^#v1=[A-Za-z0-9_-]+$/);
  assert.ok(fragment.length < 2000, `${fragment.length} characters`);
  assert.deepEqual(await decodeState(fragment), STATE);
});

test("a link that is not one is refused with a reason, and a deflate bomb stops at the cap", async () => {
  await assert.rejects(decodeState("#nothing"), FragmentError);
  await assert.rejects(decodeState("#v1=***"), /base64url/);
  await assert.rejects(decodeState("#v1=AAAA"), FragmentError);
  const valid = await encodeState(STATE);
  const wrongMode = (await encodeState({ ...STATE, mode: "x" as "trace" })) as string;
  await assert.rejects(decodeState(wrongMode), /mode/);
  const bomb = await encodeState({
    ...STATE,
    trace: { ...STATE.trace, log: "x".repeat(MAX_STATE_BYTES) },
  });
  await assert.rejects(decodeState(bomb), /inflates past/);
  assert.ok(valid.length > 4);
});
