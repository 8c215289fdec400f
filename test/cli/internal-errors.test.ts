/**
 * One handler runs every command: an unexpected exception becomes one line
 * `iova: internal error: ...` and exit code 70, with the stack on stderr only when IOVA_DEBUG is
 * set; bad input keeps exit 2 with its position. Each command is driven into the failure through
 * the dependency it calls.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { CliDeps } from "../../src/cli/command.ts";
import { mainAsync } from "../../src/cli/main.ts";
import { identifyQemu } from "../../src/qemu/version.ts";

const qemu72 = identifyQemu({ major: 7, minor: 2, micro: 22, package: "" });

const root = join(import.meta.dirname, "../..");
const seed = join(root, "examples/e03-seed-hotplug-after-ddw.yaml");
const treeD = join(root, "examples/mtree/pseries-xhci-ddw.mtree-D.txt");

const boom = () => {
  throw new TypeError("Cannot read properties of undefined (reading 'x')");
};
const fakeClient = { close() {} };

async function run(args: string[], deps: Partial<CliDeps>, env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  const code = await mainAsync(
    args,
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
    { deps, env },
  );
  return { code, out, err };
}

const cases: [string, string[], Partial<CliDeps>][] = [
  ["run", ["run", seed], { runScenario: boom }],
  ["check", ["check", seed], { runScenario: boom }],
  ["mtree of a scenario", ["mtree", seed], { runScenario: boom }],
  ["mtree --import", ["mtree", "--import", treeD], { importMtree: boom }],
  ["diff", ["diff", treeD, treeD], { diffMtree: boom }],
  ["attach (connecting)", ["attach", "--qmp", "/x.sock"], { connectQmp: async () => boom() }],
  [
    "attach (printing what QEMU sent)",
    ["attach", "--qmp", "/x.sock"],
    {
      connectQmp: async () => fakeClient,
      queryQemuVersion: async () => qemu72,
      readMtreeDumps: async () => ({ tree: "address-space: memory\n", flat: "" }),
      importMtree: boom,
    },
  ],
  ["qemu", ["qemu", "--", "qemu-system-ppc64"], { launchQemu: async () => boom() }],
];

for (const [what, args, deps] of cases) {
  test(`${what}: an unexpected exception is one line, exit 70, no stack`, async () => {
    const r = await run(args, deps);
    assert.equal(r.code, 70);
    // attach and qemu may first say which QEMU answered; the failure is one line, the last.
    const lines = r.err.split("\n").filter((l) => l !== "" && !/^iova: QEMU \d/.test(l));
    assert.deepEqual(lines, [
      "iova: internal error: TypeError: Cannot read properties of undefined (reading 'x')",
    ]);
  });
}

test("IOVA_DEBUG adds the stack on stderr", async () => {
  const r = await run(["run", seed], { runScenario: boom }, { IOVA_DEBUG: "1" });
  assert.equal(r.code, 70);
  assert.match(r.err, /^iova: internal error: TypeError: .*\nTypeError: .*\n\s+at /);
});

test("attach: QEMU's reply that is not mtree text is bad input (exit 2), not a stack trace", async () => {
  const r = await run(["attach", "--qmp", "/x.sock"], {
    connectQmp: async () => fakeClient,
    queryQemuVersion: async () => qemu72,
    readMtreeDumps: async () => ({ tree: "not mtree text", flat: "" }),
  });
  assert.equal(r.code, 2);
  assert.match(r.err, /(^|\n)iova: \/x\.sock: QEMU's `info mtree -o -D` reply, line 1: expected /);
});

test("attach closes the QMP session even when printing fails", async () => {
  let closed = false;
  const r = await run(["attach", "--qmp", "/x.sock"], {
    connectQmp: async () => ({
      close() {
        closed = true;
      },
    }),
    queryQemuVersion: async () => qemu72,
    readMtreeDumps: async () => ({ tree: "", flat: "" }),
    importMtree: boom,
  });
  assert.equal(r.code, 70);
  assert.equal(closed, true);
});

test("a scenario's bad input keeps exit 2 and its path:line:column", async () => {
  const r = await run(["run", join(root, "test/cli/conventions.test.ts")], {});
  assert.equal(r.code, 2);
  assert.match(r.err, /^iova: .*conventions\.test\.ts:\d+:\d+: /);
});
