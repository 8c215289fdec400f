/**
 * `iova trace`'s rebuild against a recorded Linux 6.1 boot under QEMU 7.2 (examples/trace/): the
 * rebuilt PHB address space prints what the live QEMU printed at the end, every hypercall returns
 * what QEMU logged, the entries H_PUT_TCE_INDIRECT does not log stay unknown (or are filled in by
 * the named assumption), and differences are found with their log lines.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { parseCommandLine } from "../../src/trace/cmdline.ts";
import { replayTrace } from "../../src/trace/replay.ts";
import { phbFlatBlock, phbTreeBlock } from "./phb-blocks.ts";

const dir = join(import.meta.dirname, "../../examples/trace/linux-6.1-xhci-4g");
const read = (f: string) => readFileSync(join(dir, f), "utf8");
const machine = parseCommandLine(read("cmdline.txt"));
const replay = (log: string, assumption: "none" | "linear" = "none") =>
  replayTrace([log], machine, { logName: "trace.log", machineName: "cmdline.txt", assumption });

describe("a recorded Linux 6.1 boot with a qemu-xhci and 4 GiB", () => {
  const { result, machine: model, scenarioText } = replay(read("trace.log"));

  test("the command line gives the machine: pseries, 4 GiB, the xhci", () => {
    assert.deepEqual(machine.machine, {
      type: "pseries",
      memory: 4n << 30n,
      smp: 1,
      devices: [{ driver: "qemu-xhci", id: "xhci" }],
    });
    assert.deepEqual(machine.ignored, []);
  });

  test("info mtree of the PHB's address space is what QEMU printed at the end", () => {
    assert.equal(phbTreeBlock(formatMtree(model.memory)), phbTreeBlock(read("mtree.txt")));
    assert.ok(phbTreeBlock(read("mtree.txt"))?.includes("tce-iommu-80000001"));
  });

  test("info mtree -f of the PHB's address space is what QEMU printed at the end", () => {
    assert.equal(
      phbFlatBlock(formatMtree(model.memory, { flat: true })),
      phbFlatBlock(read("mtree-f.txt")),
    );
  });

  test("every hypercall and DDW call returns what QEMU logged, and the verdicts hold", () => {
    assert.deepEqual(
      result.report.steps.filter((s) => !s.ok),
      [],
    );
    assert.ok(result.ok);
    // Every event is a step but two translations and two table allocations (start-up, the DDW).
    assert.equal(result.steps, result.events - 4);
  });

  test("the 64-bit window's entries H_PUT_TCE_INDIRECT did not log are unknown, and named", () => {
    assert.deepEqual(result.unknownEntries, { "0x80000001": 255 });
    assert.equal(result.translations.unknown, 1);
    assert.equal(result.translations.equal, 1);
    assert.match(result.notes.map((n) => n.text).join("\n"), /255 entries are not in the log/);
    assert.deepEqual(result.assumed, []);
  });

  test("with the linear assumption every translation is checked, and the assumption is named", () => {
    const linear = replay(read("trace.log"), "linear").result;
    assert.deepEqual(linear.unknownEntries, {});
    assert.deepEqual(linear.translations, { checked: 2, equal: 2, unknown: 0, mismatches: [] });
    assert.equal(linear.assumed.length, 1);
    assert.deepEqual(
      {
        liobn: linear.assumed[0].liobn,
        first: linear.assumed[0].first,
        count: linear.assumed[0].count,
      },
      { liobn: "0x80000001", first: "0x800000000000000", count: 255 },
    );
  });

  test("the rebuilt scenario is exactly what was played: loading and running it again gives the same report", () => {
    const again = runScenario(loadScenario(scenarioText, "again.yaml")).report;
    assert.deepEqual(again, result.report);
    assert.match(scenarioText, /^# Rebuilt by `iova trace`/);
    assert.match(scenarioText, /ibm,create-pe-dma-window.* # trace\.log:\d+/);
  });
});

describe("differences between a log and the model are found", () => {
  const log = read("trace.log");

  test("a translation the model's table does not give is a mismatch with its line", () => {
    const lines = log.split("\n");
    const at = lines.findIndex((l) => l.startsWith("spapr_iommu_xlate liobn=0x80000000"));
    lines[at] = lines[at].replace("perm=3", "perm=1");
    const { result } = replay(lines.join("\n"));
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.translations.mismatches.map((m) => m.line),
      [at + 1],
    );
    assert.match(result.translations.mismatches[0].model, /perm=3/);
  });

  test("a hypercall that QEMU failed but the model accepts fails its step", () => {
    const changed = log.replace(
      "spapr_iommu_pci_put liobn=0x80000000 ioba=0x1000 tce=0x7e373003 ret=0",
      "spapr_iommu_pci_put liobn=0x80000000 ioba=0x1000 tce=0x7e373003 ret=-4",
    );
    assert.notEqual(changed, log);
    const { result } = replay(changed);
    assert.equal(result.ok, false);
    assert.match(
      result.report.steps.find((s) => !s.ok)?.expectation_failures?.[0]?.message ?? "",
      /ret: expected H_PARAMETER, got H_SUCCESS \(0\)/,
    );
  });

  test("a VFIO event the model does not predict is the first divergence, with context", () => {
    const lines = log.trimEnd().split("\n");
    lines.splice(20, 0, "vfio_spapr_remove_window offset=0x0");
    const { result } = replay(lines.join("\n"));
    const d = result.comparison.firstDivergence;
    assert.ok(d);
    assert.deepEqual(d.log, { line: 21, text: "vfio_spapr_remove_window offset=0x0" });
    assert.equal(d.model, null);
    assert.equal(result.ok, false);
  });

  test("a system reset in the log (the default table allocated again) becomes a reset step", () => {
    const lines = log.trimEnd().split("\n");
    const first = lines[0];
    assert.match(first, /^spapr_iommu_new_table liobn=0x80000000/);
    const { result, scenarioText } = replay([...lines, first].join("\n"));
    assert.match(scenarioText, /- \{ reset: system \} # trace\.log:\d+/);
    assert.deepEqual(
      result.report.guest.windows.map((w) => w.liobn),
      ["0x80000000"],
    );
  });
});
