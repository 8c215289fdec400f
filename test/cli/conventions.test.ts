/**
 * `iova` behaves like the command-line tools people know: per-command help on stdout with exit 0,
 * `--version`, unknown options refused with exit 2, `diff` exiting 1 when the sides differ, every
 * error line starting with `iova:`, NO_COLOR and FORCE_COLOR honoured.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main, wantsColour } from "../../src/cli/main.ts";
import { runCli, runCliAsync } from "./run-cli.ts";

const root = join(import.meta.dirname, "../..");
const treeD = join(root, "examples/mtree/pseries-xhci-ddw.mtree-D.txt");
const seed = join(root, "examples/e03-seed-hotplug-after-ddw.yaml");

const COMMANDS = ["run", "check", "mtree", "diff", "attach", "qemu", "serve"];

for (const command of COMMANDS) {
  test(`iova help ${command} and iova ${command} --help print its help on stdout and exit 0`, async () => {
    const viaHelp = await runCliAsync("help", command);
    const viaFlag = await runCliAsync(command, "--help");
    for (const r of [viaHelp, viaFlag]) {
      assert.equal(r.code, 0);
      assert.equal(r.err, "");
      assert.match(r.out, new RegExp(`^Usage: iova ${command} `));
    }
    assert.equal(viaHelp.out, viaFlag.out);
  });
}

test("iova --version prints package.json's version", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const r = runCli("--version");
  assert.deepEqual(r, { code: 0, out: `${pkg.version}\n`, err: "" });
});

test("iova with no arguments, and iova help, list every command", () => {
  for (const r of [runCli(), runCli("help")]) {
    assert.equal(r.code, 0);
    for (const c of COMMANDS) assert.match(r.out, new RegExp(`^  ${c} `, "m"));
  }
});

const refused: [string, string[]][] = [
  ["run does not take --qmp", ["run", "--qmp", "x"]],
  ["mtree does not take --json", ["mtree", seed, "--json"]],
  ["check does not take --html", ["check", seed, "--html", "x.html"]],
  ["diff does not take -f", ["diff", treeD, treeD, "-f"]],
  ["an unknown command", ["frobnicate"]],
  ["run takes one scenario", ["run", seed, seed]],
  ["check needs a scenario", ["check"]],
];
for (const [what, args] of refused) {
  test(`an option or argument a command does not take is refused with exit 2: ${what}`, () => {
    const r = runCli(...args);
    assert.equal(r.code, 2, r.err);
    assert.equal(r.out, "");
    assert.match(r.err, /^iova: /);
    for (const line of r.err.trimEnd().split("\n")) assert.match(line, /^iova: /);
  });
}

test("attach without --qmp is refused with exit 2", async () => {
  const r = await runCliAsync("attach");
  assert.equal(r.code, 2);
  assert.match(r.err, /^iova: required option '--qmp <socket>' not specified/);
});

test("iova mtree SCENARIO --html writes the page (the option is taken, not ignored)", () => {
  const out = join(mkdtempSync(join(tmpdir(), "iova-html-")), "m.html");
  const r = runCli("mtree", seed, "--html", out);
  assert.equal(r.code, 0, r.err);
  assert.match(readFileSync(out, "utf8"), /tce-iommu-80000001/);
});

test("diff exits 0 when the two dumps are the same and 1 when they differ, as diff(1)", () => {
  const same = runCli("diff", treeD, treeD);
  assert.equal(same.code, 0, same.err);
  const changed = join(mkdtempSync(join(tmpdir(), "iova-diff-")), "b.txt");
  const text = readFileSync(treeD, "utf8");
  const moved = text.replace("tce-iommu-80000001", "tce-iommu-renamed");
  assert.notEqual(moved, text);
  writeFileSync(changed, moved);
  const differs = runCli("diff", treeD, changed);
  assert.equal(differs.code, 1, differs.err);
  assert.match(differs.out, /tce-iommu-renamed/);
});

test("colour: on a terminal unless NO_COLOR; FORCE_COLOR forces it (and FORCE_COLOR=0 refuses it)", () => {
  assert.equal(wantsColour({}, true), true);
  assert.equal(wantsColour({}, false), false);
  assert.equal(wantsColour({ NO_COLOR: "1" }, true), false);
  assert.equal(wantsColour({ NO_COLOR: "" }, true), true);
  assert.equal(wantsColour({ FORCE_COLOR: "1" }, false), true);
  assert.equal(wantsColour({ FORCE_COLOR: "0" }, true), false);
});

test("the text report is coloured under FORCE_COLOR and plain under NO_COLOR on a terminal", () => {
  const runWith = (env: Record<string, string>, stdoutIsTTY: boolean) => {
    let out = "";
    main(
      ["run"],
      (s) => (out += s),
      () => {},
      { env, stdoutIsTTY },
    );
    return out;
  };
  const ESC = String.fromCharCode(27);
  assert.ok(runWith({ FORCE_COLOR: "1" }, false).includes(`${ESC}[32m`));
  assert.ok(!runWith({ NO_COLOR: "1" }, true).includes(ESC));
});
