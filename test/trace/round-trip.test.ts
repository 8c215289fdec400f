/**
 * iova's own run written as a QEMU trace log (`iova run --trace-format qemu`) reads back through
 * `iova trace` consistently, for every example: no divergence, every translation and read-back as
 * the model has them, every hypercall returning what was logged, the same windows at the end. A
 * run under the 2016 behaviour read against QEMU 7.2's is diagnosed as the seed's bug.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { main } from "../../src/cli/main.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { pseriesOf, runScenario } from "../../src/scenario/run.ts";
import type { Behaviour } from "../../src/scenario/schema.ts";
import { machineCommandLine, parseCommandLine } from "../../src/trace/cmdline.ts";
import { QemuTraceWriter } from "../../src/trace/qemu-format.ts";
import { replayTrace } from "../../src/trace/replay.ts";

const dir = join(import.meta.dirname, "../../examples");
// QEMU trace logs are read for pseries runs; q35 examples have no trace to go through.
const files = readdirSync(dir).filter(
  (f) =>
    f.endsWith(".yaml") && !/^\s*type: (q35|pc-q35-)/m.test(readFileSync(join(dir, f), "utf8")),
);

/** Runs an example, returning its QEMU-format log, its command line, and the original report. */
function record(file: string, behaviour?: Behaviour) {
  const text = readFileSync(join(dir, file), "utf8");
  const scenario = loadScenario(text, file);
  const writer = new QemuTraceWriter();
  const { report, machine } = runScenario(scenario, { behaviour, ...writer.options() });
  const log = writer.finish(pseriesOf(machine));
  const traced = parseCommandLine(machineCommandLine(scenario.machine));
  // The host kernel is not on a QEMU command line: the example's own host section comes along.
  const host = (parse(text, { intAsBigInt: true }) as { host?: Record<string, unknown> }).host;
  return { log, report, traced: host ? { ...traced, host } : traced, scenario };
}

const windows = (r: { guest: { windows: readonly unknown[] } }) =>
  r.guest.windows.map((w) => {
    const { valid_entries: _, mappings: _m, ...rest } = w as Record<string, unknown>;
    return rest;
  });

/**
 * Examples with steps QEMU's trace does not show: a vfio-pci hot-unplug logs only a file
 * descriptor, so the rebuilt run keeps the device and its listener; a hot-plug's `vfio_realize`
 * names the host device and group but not the bus, so a device plugged onto a second PHB is
 * rebuilt onto the first (where it joins the existing container instead of opening its own).
 */
const NOT_IN_QEMU_TRACE: Record<string, string> = {
  "b3c-replug-remaps.yaml": "device_del",
  "e13-memlock-two-phbs.yaml": "device_add",
};

for (const file of files.filter((f) => !(f in NOT_IN_QEMU_TRACE))) {
  describe(`examples/${file} through a QEMU trace log and back`, () => {
    const { log, report, traced, scenario } = record(file);
    const { result } = replayTrace([log], traced, {
      logName: `${file}.log`,
      machineName: "cmdline",
      behaviour: scenario.behaviour,
      // A trace log does not say which QEMU wrote it: the reader is told, as `--qemu` tells it.
      qemu: scenario.qemu,
    });

    test("reads back with no divergence and every check as the model has it", () => {
      assert.equal(result.comparison.firstDivergence, null);
      assert.deepEqual(result.translations.mismatches, []);
      assert.deepEqual(result.readbacks.mismatches, []);
      // A run under the 2016 behaviour shows the 2016 bug, and is named for it.
      assert.equal(result.diagnoses.length > 0, scenario.behaviour === "qemu-2016-prefix");
      assert.deepEqual(result.unknownEvents, {});
    });

    test("every rebuilt hypercall and DDW call returns what was logged", () => {
      assert.deepEqual(
        result.report.steps.filter((s) => !s.ok).map((s) => s.expectation_failures),
        [],
      );
    });

    test("the guest's windows at the end are the original run's", () => {
      assert.deepEqual(windows(result.report), windows(report));
    });
  });
}

for (const [file, kind] of Object.entries(NOT_IN_QEMU_TRACE)) {
  test(`examples/${file} has a ${kind} step, which a QEMU trace does not show: the replay differs`, () => {
    const { log, traced, scenario } = record(file);
    assert.ok(scenario.steps.some((s) => s.kind === kind));
    const { result } = replayTrace([log], traced, { logName: file, machineName: "cmdline" });
    assert.notEqual(result.comparison.firstDivergence, null);
  });
}

describe("the seed under QEMU 2016's behaviour, read against QEMU 7.2", () => {
  const { log, traced } = record("e03-seed-hotplug-after-ddw.yaml", "qemu-2016-prefix");
  const { result } = replayTrace([log], traced, {
    logName: "seed-2016.log",
    machineName: "cmdline",
  });

  test("is diagnosed as notifications lacking the section's offset, with both addresses", () => {
    assert.equal(result.ok, false);
    assert.equal(result.diagnoses.length, 1);
    const d = result.diagnoses[0];
    assert.equal(d.bug, "iova-lacks-section-offset");
    assert.equal(d.window, "0x80000001");
    assert.equal(d.loggedIova, "0x40000000");
    assert.equal(d.busAddress, "0x800000040000000");
    assert.match(d.message, /lacks the section's offset 0x800000000000000/);
    const lines = log.split("\n");
    assert.equal(lines[d.line - 1], "vfio_iommu_map_notify iommu MAP @ 0x40000000 - 0x40ffffff");
  });

  test("diverges from the model at the first replayed notification of the 64-bit window", () => {
    const div = result.comparison.firstDivergence;
    assert.ok(div);
    assert.equal(div.log?.text, "vfio_iommu_map_notify iommu MAP @ 0x0 - 0xffffff");
    assert.equal(
      div.model?.text,
      "vfio_iommu_map_notify iommu MAP @ 0x8000000ff000000 - 0x8000000ffffffff",
    );
  });
});

test("iova run --trace-format qemu writes the log and its command line, and iova trace reads them back", () => {
  const tmp = join(process.env.TMPDIR ?? "/tmp", `iova-trace-${process.pid}.log`);
  const out: string[] = [];
  const err: string[] = [];
  const run = main(
    [
      "run",
      join(dir, "e02-ddw-for-xhci.yaml"),
      "--trace-format",
      "qemu",
      "--trace-file",
      tmp,
      "--quiet",
    ],
    (s) => out.push(s),
    (s) => err.push(s),
  );
  assert.equal(run, 0);
  assert.match(readFileSync(tmp, "utf8"), /^spapr_iommu_new_table liobn=0x80000000 /);
  assert.equal(
    readFileSync(`${tmp}.cmdline`, "utf8"),
    "qemu-system-ppc64 -M pseries -accel tcg -m 4G -device qemu-xhci,id=usb0\n",
  );
  const code = main(
    ["trace", tmp, "--machine", `${tmp}.cmdline`],
    (s) => out.push(s),
    (s) => err.push(s),
  );
  assert.equal(code, 0, out.join(""));
  assert.match(out.join(""), /trace verdict: ok/);
});
