/**
 * The pseries machines recorded from QEMU 7.2 (data/) and from QEMU 10.0 (data-10.0/), rebuilt
 * from their command lines as scenarios with `qemu:` naming the release they were recorded on:
 * the machine after the recorded steps prints that QEMU's `info mtree`, `-f` and `-D` (blocks
 * as sets). The same command line under the other release is checked to differ where the two
 * QEMUs' recordings differ, so each release's model is needed for its own corpus.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MachineTypeError } from "../../src/machine/machine-type.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { blockDifference } from "./blocks.ts";
import { cmdlineToScenario } from "./cmdline-to-scenario.ts";

const CORPORA = [
  { qemu: "7.2", dir: join(import.meta.dirname, "data") },
  { qemu: "10.0", dir: join(import.meta.dirname, "data-10.0") },
] as const;
const pseriesCases = (dir: string) =>
  readdirSync(dir).filter(
    (c) => c.startsWith("ppc64-pseries") && statSync(join(dir, c)).isDirectory(),
  );
const dataDir = CORPORA[0].dir;
const cases = pseriesCases(dataDir);

/** Cases whose command lines use devices iova does not model yet. */
const EXPECTED_UNSUPPORTED = new Set([
  "ppc64-pseries-hotplug-dimm",
  "ppc64-pseries-hotplug-pci",
  "ppc64-pseries-nvdimm",
  "ppc64-pseries-phb1-phb2",
  "ppc64-pseries-virtio",
  // Recorded for the importer: bridges, VIO, a firmware run, a second PHB's DDW, hot-plug.
  "ppc64-pseries-bridges-nested",
  "ppc64-pseries-pci-bridge",
  "ppc64-pseries-phb1-ddw",
  "ppc64-pseries-slof-booted",
  "ppc64-pseries-vio",
  "ppc64-pseries-xhci-ddw-hotplug",
]);

test("the converter covers every pseries case that uses only modelled devices", () => {
  const unsupported = cases.filter(
    (c) =>
      "unsupported" in cmdlineToScenario(c, readFileSync(join(dataDir, c, "cmdline.txt"), "utf8")),
  );
  assert.deepEqual(unsupported.sort(), [...EXPECTED_UNSUPPORTED].sort());
});

/** The case's scenario with `qemu:` set to the release, or why it cannot be converted. */
function convert(dir: string, name: string, qemu: string) {
  const conversion = cmdlineToScenario(name, readFileSync(join(dir, name, "cmdline.txt"), "utf8"));
  if ("unsupported" in conversion) return conversion;
  return { yaml: conversion.yaml.replace(/^name: .*\n/, (line) => `${line}qemu: "${qemu}"\n`) };
}

const DUMPS = [
  ["mtree.txt", {}],
  ["mtree-D.txt", { disabled: true }],
  ["mtree-f.txt", { flat: true }],
] as const;

for (const { qemu, dir } of CORPORA) {
  for (const name of pseriesCases(dir)) {
    const conversion = convert(dir, name, qemu);
    if ("unsupported" in conversion) continue;
    describe(`${name} (QEMU ${qemu})`, () => {
      const { report, machine } = runScenario(loadScenario(conversion.yaml, `${name}.yaml`));
      const read = (file: string) => readFileSync(join(dir, name, file), "utf8");
      test("every recorded step returns what QEMU returned", () => {
        assert.equal(report.qemu, qemu);
        assert.deepEqual(
          report.steps.filter((s) => !s.ok),
          [],
        );
      });
      for (const [file, options] of DUMPS) {
        test(`${file} matches`, () => {
          const { missing, extra } = blockDifference(
            read(file),
            formatMtree(machine.memory, options),
          );
          assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
        });
      }
    });
  }
}

test("the 10.0 corpus converts the same pseries cases as the 7.2 one, less those 10.0 refuses", () => {
  const converted = (dir: string, qemu: string) =>
    pseriesCases(dir).filter((c) => !("unsupported" in convert(dir, c, qemu)));
  const on10 = converted(CORPORA[1].dir, "10.0");
  assert.ok(on10.length >= 11, `only ${on10.length} pseries cases convert on 10.0`);
  for (const c of on10) assert.ok(converted(dataDir, "7.2").includes(c), c);
});

test("a machine with maxmem needs the 10.0 model for the 10.0 recording: device-memory gets an address space", () => {
  const name = "ppc64-pseries-m16G-hotplug-mem";
  const dir10 = CORPORA[1].dir;
  const recorded = readFileSync(join(dir10, name, "mtree.txt"), "utf8");
  const as72 = runScenario(
    loadScenario((convert(dir10, name, "7.2") as { yaml: string }).yaml, "m.yaml"),
  );
  const { missing } = blockDifference(recorded, formatMtree(as72.machine.memory));
  assert.deepEqual(missing, [
    "address-space: device-memory\n  0000000400000000-00000007ffffffff (prio 0, i/o): device-memory",
  ]);
});

test("pseries-2.1, a 7.2 case, is refused under QEMU 10.0 with the message 10.0 gave (FAILED.txt)", () => {
  const failed = readFileSync(join(CORPORA[1].dir, "FAILED.txt"), "utf8");
  const said = /^ppc64-pseries-2\.1-compat: (.*)$/m.exec(failed)?.[1];
  assert.equal(said, 'qemu-system-ppc64: unsupported machine type: "pseries-2.1"');
  const scenario = loadScenario(
    (convert(dataDir, "ppc64-pseries-2.1-compat", "7.2") as { yaml: string }).yaml,
    "c.yaml",
  );
  assert.throws(
    () => runScenario(scenario, { qemu: "10.0" }),
    (e: unknown) => e instanceof MachineTypeError && e.message.split("\n")[0] === said,
  );
});
