/** `iova qtest`: replaying transcripts on a q35 machine built from a QEMU command line. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runCli } from "./run-cli.ts";

const data = join(import.meta.dirname, "..", "conformance", "qtest");
const tmp = mkdtempSync(join(tmpdir(), "iova-qtest-cli-"));
const write = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};

test("a transcript recorded on QEMU replays with exit 0 and every reply printed", () => {
  const r = runCli(
    "qtest",
    "--machine",
    join(data, "vtd-translation-on.cmdline"),
    join(data, "vtd-translation-on.qtest"),
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^read 0x201000 8\tOK 0x1122334455667788$/m);
  assert.match(r.err, /all equal/);
});

test("the first differing reply is reported with its line, and the exit code is 1", () => {
  const script = readFileSync(join(data, "vtd-translation-on.qtest"), "utf8").replace(
    "read 0x201000 8\tOK 0x1122334455667788",
    "read 0x201000 8\tOK 0x0000000000000000",
  );
  const path = write("changed.qtest", script);
  const r = runCli("qtest", "--machine", join(data, "vtd-translation-on.cmdline"), path);
  assert.equal(r.code, 1);
  const line = script.split("\n").findIndex((l) => l.startsWith("read 0x201000 8")) + 1;
  assert.match(
    r.err,
    new RegExp(
      `changed\\.qtest:${line}: read 0x201000 8: QEMU replied 'OK 0x0000000000000000', iova replies 'OK 0x1122334455667788'`,
    ),
  );
});

test("a script without replies is answered line by line", () => {
  const cmd = write("m.cmdline", "qemu-system-x86_64 -M q35 -m 256M -device intel-iommu\n");
  const path = write("s.qtest", "# registers\nreadl 0xfed90000\ninb 0x1234\nfrob 1\n");
  const r = runCli("qtest", "--machine", cmd, path);
  assert.equal(r.code, 0);
  assert.equal(
    r.out,
    "readl 0xfed90000\tOK 0x0000000000000010\ninb 0x1234\tOK 0x00ff\nfrob 1\tFAIL Unknown command 'frob'\n",
  );
});

test("a device abort that QEMU would die of ends the replay with exit 1", () => {
  const r = runCli(
    "qtest",
    "--machine",
    join(data, "edu-whole-buffer-abort.cmdline"),
    "--quiet",
    join(data, "edu-whole-buffer-abort.qtest"),
  );
  // The recorded transcript expects the abort, so the replay matches.
  assert.equal(r.code, 0, r.err);
  const script = readFileSync(join(data, "edu-whole-buffer-abort.qtest"), "utf8").replace(
    /\tQEMU aborts: .*$/m,
    "",
  );
  const r2 = runCli(
    "qtest",
    "--machine",
    join(data, "edu-whole-buffer-abort.cmdline"),
    write("abort.qtest", script),
  );
  assert.equal(r2.code, 1);
  assert.match(r2.err, /QEMU would die here: hardware error: EDU: DMA range/);
});

test("bad input exits 2 with the file and what is wrong", () => {
  const pc = write("pc.cmdline", "qemu-system-x86_64 -M pc -m 256M\n");
  const s = write("x.qtest", "readl 0\n");
  let r = runCli("qtest", "--machine", pc, s);
  assert.equal(r.code, 2);
  assert.match(r.err, /pc\.cmdline: machine 'pc': only q35 is modelled/);
  const scalable = write("s.cmdline", "-M q35 -device intel-iommu,x-scalable-mode=on\n");
  r = runCli("qtest", "--machine", scalable, s);
  assert.equal(r.code, 2);
  assert.match(r.err, /x-scalable-mode=on is not modelled/);
  r = runCli("qtest", "--machine", join(tmp, "missing"), s);
  assert.equal(r.code, 2);
  assert.match(r.err, /missing: cannot read: ENOENT/);
  r = runCli("qtest", s);
  assert.equal(r.code, 2);
  assert.match(r.err, /^iova: required option '--machine <cmdline-file>' not specified/);
});

test("--mtree prints info mtree after the replay: edu switched to its VT-d region", () => {
  const r = runCli(
    "qtest",
    "--machine",
    join(data, "vtd-context-switch.cmdline"),
    "--quiet",
    "--mtree",
    "-D",
    join(data, "vtd-context-switch.qtest"),
  );
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /address-space: vtd-root\n {2}0000000000000000-ffffffffffffffff \(prio 0, i\/o\): vtd-01\.0\n {4}0000000000000000-ffffffffffffffff \(prio 0, i\/o\): alias vtd-nodmar @vtd-nodmar 0000000000000000-ffffffffffffffff \[disabled\]\n {4}0000000000000000-ffffffffffffffff \(prio 0, i\/o\): vtd-01\.0-dmar\n/,
  );
  const bad = runCli("qtest", "--machine", "x", "-f", "y");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /-f, -D and -o go with --mtree/);
});

test("--qemu 10.0 builds the machine of that release: QEMU 10.0's transcript replays, and a removed type is refused", () => {
  const data10 = join(import.meta.dirname, "..", "conformance", "qtest-10.0");
  const r = runCli(
    "qtest",
    "-q",
    "--qemu",
    "10.0",
    "--machine",
    join(data10, "vtd-context-switch.cmdline"),
    join(data10, "vtd-context-switch.qtest"),
  );
  assert.equal(r.code, 0, r.err);
  // pc-q35-10.0 exists only in 10.0: 7.2 refuses it in its own words.
  const machine = write("q10.cmdline", "-M pc-q35-10.0 -m 256M\n");
  const script = write("empty.qtest", "");
  const on72 = runCli("qtest", "--machine", machine, script);
  assert.equal(on72.code, 2);
  assert.match(on72.err, /q10\.cmdline: qemu-system-x86_64: unsupported machine type\n/);
  assert.equal(runCli("qtest", "--qemu", "10.0", "--machine", machine, script).code, 0);
});
