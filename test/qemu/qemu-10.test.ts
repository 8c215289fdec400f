/**
 * The command that runs a QEMU 10.0 binary from its private tree: the tree's firmware and module
 * directories, `-qtest-log none` only where qtest is used without a log, and no paths accepted as
 * emulator names.
 */
import assert from "node:assert/strict";
import { homedir } from "node:os";
import { test } from "node:test";
import { qemu10Command, qemu10Dir, qemu10Installed } from "../../src/qemu/qemu-10.ts";

test("the tree is IOVA_QEMU10_DIR, else ~/.cache/iova/qemu-10.0", () => {
  assert.equal(qemu10Dir({ IOVA_QEMU10_DIR: "/opt/q10" }), "/opt/q10");
  assert.equal(qemu10Dir({}), `${homedir()}/.cache/iova/qemu-10.0`);
});

test("a 10.0 command puts the tree's firmware first and points QEMU_MODULE_DIR at its modules", () => {
  const { argv, env } = qemu10Command("qemu-system-ppc64", ["-M", "pseries"], "/opt/q10", {
    PATH: "/usr/bin",
  });
  assert.deepEqual(argv, [
    "/opt/q10/usr/bin/qemu-system-ppc64",
    "-L",
    "/opt/q10/usr/share/qemu",
    "-L",
    "/opt/q10/usr/share/seabios",
    "-M",
    "pseries",
  ]);
  assert.deepEqual(env, {
    PATH: "/usr/bin",
    QEMU_MODULE_DIR: "/opt/q10/usr/lib/x86_64-linux-gnu/qemu",
  });
});

test("qtest gets -qtest-log none unless the command line chose a log", () => {
  const qtest = ["-qtest", "unix:/tmp/q.sock"];
  assert.deepEqual(qemu10Command("qemu-system-x86_64", qtest, "/d", {}).argv.slice(-2), [
    "-qtest-log",
    "none",
  ]);
  const logged = [...qtest, "-qtest-log", "/tmp/log"];
  assert.deepEqual(qemu10Command("qemu-system-x86_64", logged, "/d", {}).argv.slice(5), logged);
  assert.ok(
    !qemu10Command("qemu-system-x86_64", ["-M", "q35"], "/d", {}).argv.includes("-qtest-log"),
  );
});

test("only emulator names are accepted, never paths", () => {
  for (const bad of ["/usr/bin/qemu-system-ppc64", "../bin/qemu-system-x86_64", "qemu-img", ""]) {
    assert.throws(() => qemu10Command(bad, [], "/d", {}), /not a QEMU system emulator name/, bad);
    assert.equal(qemu10Installed(bad, "/"), false);
  }
});
