/**
 * `iova mtree --import`: prints the rebuilt model, and turns bad input into `path:line: message`
 * with exit code 2 and no stack trace.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli } from "./run-cli.ts";

const example = (f: string) => join(import.meta.dirname, "../../examples/mtree", f);

const run = runCli;

function tempFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "iova-")), "in.txt");
  writeFileSync(path, text);
  return path;
}

describe("iova mtree --import", () => {
  test("prints the flat views of the imported machine", () => {
    const r = run(
      "mtree",
      "--import",
      example("pseries-xhci-ddw.mtree-D.txt"),
      "--flat",
      example("pseries-xhci-ddw.mtree-f.txt"),
      "-f",
    );
    assert.equal(r.code, 0);
    assert.match(r.out, /0800000000000000-080000007fffffff \(prio 0, i\/o\): tce-iommu-80000001\n/);
  });

  const bad: [string, string, RegExp][] = [
    ["garbage line", "address-space: a\n  nonsense\n", /:2: expected a region line/],
    [
      "missing header",
      "  0000000000000000-0000000000000fff (prio 0, ram): r\n",
      /:1: expected an `address-space:`/,
    ],
    ["flat text as tree", "FlatView #0\n", /:1: expected .*give it as the flat hint/],
    [
      "bad indentation",
      "address-space: a\n  0000000000000000-0000000000000fff (prio 0, i/o): r\n   0000000000000000-0000000000000fff (prio 0, ram): s\n",
      /:3: expected an indentation of two spaces per level/,
    ],
    [
      "jump of two levels (non -D text)",
      "address-space: a\n  0000000000000000-0000000000000fff (prio 0, i/o): r\n      0000000000000000-0000000000000fff (prio 0, ram): s\n",
      /:3: expected a region at level 2\.\.2 .*-D/,
    ],
    [
      "alias without a target section",
      "address-space: a\n  0000000000000000-0000000000000fff (prio 0, i/o): r\n    0000000000000000-0000000000000fff (prio 0, ram): alias x @nowhere 0000000000000000-0000000000000fff\n",
      /:3: expected a `memory-region: nowhere` section/,
    ],
    ["empty file", "", /:1: expected at least one `address-space:` block/],
    [
      "short hex",
      "address-space: a\n  0000-0fff (prio 0, ram): r\n",
      /:2: expected a region line .*16-digit hex/,
    ],
  ];
  for (const [what, text, message] of bad) {
    test(`bad input: ${what}`, () => {
      const path = tempFile(text);
      const r = run("mtree", "--import", path);
      assert.equal(r.code, 2);
      assert.equal(r.out, "");
      assert.match(r.err, message);
      assert.ok(r.err.startsWith(`iova: ${path}:`), r.err);
      assert.doesNotMatch(r.err, /\n\s+at /);
    });
  }

  test("a bad flat hint names the hint file", () => {
    const flat = tempFile("FlatView #0\n AS garbage\n");
    const r = run(
      "mtree",
      "--import",
      example("pseries-xhci-ddw.mtree-D.txt"),
      "--flat",
      flat,
      "-f",
    );
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`^iova: ${flat}:2: expected an AS line`));
  });

  test("an unreadable file and an unknown flag are usage errors", () => {
    assert.equal(run("mtree", "--import", "/nonexistent/file").code, 2);
    assert.equal(run("mtree", "--nonsense").code, 2);
    assert.equal(run("frobnicate").code, 2);
  });

  test("-f -d is refused with the reason; -d alone prints the tree, as QEMU does", () => {
    const tree = example("pseries-xhci-ddw.mtree-D.txt");
    const refused = run("mtree", "--import", tree, "-f", "-d");
    assert.equal(refused.code, 2);
    assert.match(
      refused.err,
      /-f -d is not supported: QEMU's dispatch tables .* not the memory map/,
    );
    const plain = run("mtree", "--import", tree, "-d");
    assert.equal(plain.code, 0);
    assert.match(plain.out, /^address-space: /m);
  });

  test("a tree nested 3400 levels deep prints without a stack overflow", () => {
    const lines = ["address-space: memory"];
    for (let i = 1; i <= 3400; i++) {
      lines.push(`${"  ".repeat(i)}0000000000000000-000000000000ffff (prio 0, i/o): c${i}`);
    }
    const r = run("mtree", "--import", tempFile(`${lines.join("\n")}\n\n`), "-f");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Root memory region: c3400/);
  });

  test("--explain lists on stderr what was inferred without a flat hint, --json in a field", () => {
    const tree = example("pseries-xhci-ddw.mtree-D.txt");
    const r = run("mtree", "--import", tree, "-f", "--explain");
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /^iova: inferred \(known\) container: pci@800000020000000\.io \(line \d+\):/m,
    );
    assert.match(r.err, /^iova: inferred \(guess\) accelerator: TCG/m);
    const j = run("mtree", "--import", tree, "-f", "--json");
    const parsed = JSON.parse(j.out) as { mtree: string; inferred: { kind: string }[] };
    assert.match(parsed.mtree, /^FlatView #0/);
    assert.ok(parsed.inferred.some((f) => f.kind === "address-space-order"));
  });
});
