/**
 * A scenario's `qemu:` key and `--qemu`: which QEMU release the machine models reaches the
 * machine (`machine.qemu`), its machine type and the report, and a type the release lacks is
 * refused with its place in the file or, when `--qemu` chose the release, with QEMU's words.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { MachineTypeError } from "../../src/machine/machine-type.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { ScenarioError } from "../../src/scenario/reader.ts";
import { pseriesOf, runScenario } from "../../src/scenario/run.ts";
import { runCli } from "../cli/run-cli.ts";

const scenario = (head: string, type = "pseries") =>
  `name: q\n${head}machine:\n  type: ${type}\n  memory: 1G\nsteps: []\n`;

test("qemu: 10.0 unquoted (a YAML number) and quoted both name the 10.0 release", () => {
  for (const head of ["qemu: 10.0\n", 'qemu: "10.0"\n']) {
    const s = loadScenario(scenario(head), "q.yaml");
    assert.equal(s.qemu, "10.0");
    const { report, machine } = runScenario(s);
    assert.equal(machine.qemu, "10.0");
    assert.equal(pseriesOf(machine).compat.version, "10.0");
    assert.equal(report.qemu, "10.0");
  }
});

test("without qemu: the scenario models QEMU 7.2, and pseries is pseries-7.2", () => {
  const { report, machine } = runScenario(loadScenario(scenario(""), "q.yaml"));
  assert.equal(report.qemu, "7.2");
  assert.equal(pseriesOf(machine).compat.version, "7.2");
});

test("qemu: 9.2 is refused at its line, naming the releases iova models", () => {
  assert.throws(
    () => loadScenario(scenario("qemu: 9.2\n"), "q.yaml"),
    (e: unknown) =>
      e instanceof ScenarioError &&
      /^q\.yaml:2:\d+: expected qemu to be one of: 7\.2, 10\.0; got '9\.2'/.test(e.message),
  );
});

test("a pseries type removed in 10.0 is refused under qemu: 10.0 at machine.type, in QEMU's words", () => {
  assert.throws(
    () => loadScenario(scenario("qemu: 10.0\n", "pseries-2.12"), "q.yaml"),
    (e: unknown) =>
      e instanceof ScenarioError &&
      e.message.startsWith("q.yaml:4:") &&
      e.message.includes('QEMU 10.0 says: unsupported machine type: "pseries-2.12"'),
  );
  // pseries-9.0 exists only in 10.0.
  assert.throws(() => loadScenario(scenario("", "pseries-9.0"), "q.yaml"), ScenarioError);
  assert.equal(loadScenario(scenario("qemu: 10.0\n", "pseries-9.0"), "q.yaml").qemu, "10.0");
});

test("--qemu overrides the file: a 7.2-only type then fails with QEMU 10.0's message", () => {
  const s = loadScenario(scenario("", "pseries-2.1"), "q.yaml");
  assert.throws(
    () => runScenario(s, { qemu: "10.0" }),
    (e: unknown) =>
      e instanceof MachineTypeError &&
      e.message ===
        'qemu-system-ppc64: unsupported machine type: "pseries-2.1"\nUse -machine help to list supported machines',
  );
});

test("iova run --qemu 10.0 says which QEMU it models, in text and JSON; a bad release is exit 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "iova-qemu-"));
  try {
    const file = join(dir, "q.yaml");
    writeFileSync(file, scenario(""));
    const text = runCli("run", "--qemu", "10.0", file);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /^scenario q \(QEMU 10\.0, behaviour qemu-7\.2\)$/m);
    const json = runCli("run", "--json", "--qemu", "10.0", file);
    assert.equal(JSON.parse(json.out).qemu, "10.0");
    const plain = runCli("run", "--json", file);
    assert.equal(JSON.parse(plain.out).qemu, "7.2");
    const bad = runCli("run", "--qemu", "9.2", file);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /argument '9\.2' is invalid\. Allowed choices are 7\.2, 10\.0/);
    writeFileSync(file, scenario("", "pseries-2.1"));
    const removed = runCli("run", "--qemu", "10.0", file);
    assert.equal(removed.code, 2);
    assert.equal(
      removed.err,
      'iova: qemu-system-ppc64: unsupported machine type: "pseries-2.1"\nUse -machine help to list supported machines\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("iova mtree and check take --qemu: the 10.0 machine's map and verdicts; --import refuses it", () => {
  const dir = mkdtempSync(join(tmpdir(), "iova-qemu-"));
  try {
    const file = join(dir, "m.yaml");
    writeFileSync(file, "name: m\nmachine:\n  memory: 1G\n  maxmem: 4G\nsteps: []\n");
    const ten = runCli("mtree", "--qemu", "10.0", file);
    assert.equal(ten.code, 0, ten.err);
    assert.match(ten.out, /^address-space: device-memory$/m);
    const seven = runCli("mtree", file);
    assert.doesNotMatch(seven.out, /^address-space: device-memory$/m);
    const check = runCli("check", "--qemu", "10.0", file);
    assert.equal(check.code, 0, check.err);
    const imported = runCli("mtree", "--qemu", "10.0", "--import", file);
    assert.equal(imported.code, 2);
    assert.match(imported.err, /^iova: --qemu goes with a SCENARIO/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
