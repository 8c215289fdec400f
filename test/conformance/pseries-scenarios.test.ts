/**
 * The pseries machines recorded from QEMU 7.2, rebuilt from their command lines as scenarios:
 * the machine after the recorded steps prints QEMU's `info mtree`, `-f` and `-D` (blocks as sets).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { blockDifference } from "./blocks.ts";
import { cmdlineToScenario } from "./cmdline-to-scenario.ts";

const dataDir = join(import.meta.dirname, "data");
const cases = readdirSync(dataDir).filter(
  (c) => c.startsWith("ppc64-pseries") && statSync(join(dataDir, c)).isDirectory(),
);

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

for (const name of cases) {
  const conversion = cmdlineToScenario(
    name,
    readFileSync(join(dataDir, name, "cmdline.txt"), "utf8"),
  );
  if ("unsupported" in conversion) continue;
  describe(name, () => {
    const { report, machine } = runScenario(loadScenario(conversion.yaml, `${name}.yaml`));
    const read = (file: string) => readFileSync(join(dataDir, name, file), "utf8");
    test("every recorded step returns what QEMU returned", () => {
      assert.deepEqual(
        report.steps.filter((s) => !s.ok),
        [],
      );
    });
    for (const [file, options] of [
      ["mtree.txt", {}],
      ["mtree-D.txt", { disabled: true }],
      ["mtree-f.txt", { flat: true }],
    ] as const) {
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
