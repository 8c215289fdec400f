/**
 * A real Linux 6.1 pseries guest under QEMU 7.2 (TCG), booted three ways; for each, `iova trace`
 * on QEMU's trace log with the run's own command line rebuilds every PHB's DMA address space so
 * that it prints what the live QEMU printed at the end (`info mtree` and `info mtree -f` blocks),
 * and its verdicts hold: every hypercall and DDW call returns what QEMU logged, every translation
 * the log shows is the model's, no device-side event differs.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { QemuLine } from "../../src/machine/qemu-line.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { parseCommandLine } from "../../src/trace/cmdline.ts";
import { replayTrace } from "../../src/trace/replay.ts";
import { skipWithoutQemu10 } from "../qemu/installed.ts";
import { phbFlatBlock, phbTreeBlock } from "./phb-blocks.ts";
import { bootGuest, type GuestRun } from "./real-guest.ts";

const BOOT = { timeout: 120_000 };
const PHB0 = "pci@800000020000000";
const PHB1 = "pci@800000020000001";

function replay(run: GuestRun, assumption: "none" | "linear" = "none", qemu?: QemuLine) {
  return replayTrace([run.log], parseCommandLine(run.cmdline), {
    logName: `${run.dir}/trace.log`,
    machineName: "cmdline",
    assumption,
    qemu,
  });
}

function assertRebuildsPhbs(run: GuestRun, buses: readonly string[], qemu?: QemuLine) {
  const { result, machine } = replay(run, "none", qemu);
  if (qemu) assert.equal(machine.qemu, qemu);
  const failed = result.report.steps.filter((s) => !s.ok);
  assert.deepEqual(failed, [], `steps that differ from the log (${run.dir})`);
  assert.equal(result.comparison.firstDivergence, null);
  assert.deepEqual(result.translations.mismatches, []);
  assert.deepEqual(result.unknownEvents, {});
  assert.ok(result.ok, `trace verdict (${run.dir})`);
  for (const bus of buses) {
    const tree = phbTreeBlock(run.mtree, bus);
    assert.ok(tree, `QEMU printed ${bus}`);
    assert.equal(phbTreeBlock(formatMtree(machine.memory), bus), tree);
    assert.equal(
      phbFlatBlock(formatMtree(machine.memory, { flat: true }), bus),
      phbFlatBlock(run.mtreeFlat, bus),
    );
  }
  return result;
}

describe("a real Linux guest traced by QEMU and replayed by iova", () => {
  test(
    "-m 4G with a qemu-xhci: Linux creates the 64-bit window, iova rebuilds it",
    BOOT,
    async () => {
      const run = await bootGuest("4G", ["-device", "qemu-xhci,id=xhci"]);
      assert.match(run.console, /INIT READY/);
      const result = assertRebuildsPhbs(run, [PHB0]);
      assert.match(
        phbTreeBlock(run.mtree, PHB0) ?? "",
        /0800000000000000-08000000ffffffff \(prio 0, i\/o\): tce-iommu-80000001/,
      );
      assert.deepEqual(
        result.report.guest.windows.map((w) => [w.liobn, w.start, w.size]),
        [
          ["0x80000000", "0x0", "0x40000000"],
          ["0x80000001", "0x800000000000000", "0x100000000"],
        ],
      );
      // Linux maps all RAM linearly: with that assumption named, every translation is checked.
      const linear = replay(run, "linear").result;
      assert.ok(linear.ok);
      assert.equal(linear.translations.unknown, 0);
      assert.equal(linear.assumed.length, 1);
    },
  );

  test(
    "disable_ddw on the kernel command line: only the default window, as QEMU has it",
    BOOT,
    async () => {
      const run = await bootGuest("4G", ["-device", "qemu-xhci,id=xhci"], {
        append: "disable_ddw",
      });
      assert.doesNotMatch(run.log, /spapr_iommu_ddw_create/);
      const result = assertRebuildsPhbs(run, [PHB0]);
      assert.deepEqual(
        result.report.guest.windows.map((w) => w.liobn),
        ["0x80000000"],
      );
      assert.doesNotMatch(phbTreeBlock(run.mtree, PHB0) ?? "", /tce-iommu-80000001/);
    },
  );

  test("several devices on two PHBs, timestamped log lines: every PHB rebuilt", BOOT, async () => {
    const run = await bootGuest(
      "2G",
      [
        "-device",
        "qemu-xhci,id=xhci",
        "-device",
        "virtio-net-pci",
        "-drive",
        "if=none,id=d0,driver=null-co,read-zeroes=on",
        "-device",
        "nvme,drive=d0,serial=n0",
        "-device",
        "spapr-pci-host-bridge,index=1,id=phb1",
        "-device",
        "qemu-xhci,bus=phb1.0,id=xhci1",
      ],
      { timestamps: true },
    );
    assert.match(run.log, /^\d+@\d+\.\d{6}:spapr_iommu_/m);
    const result = assertRebuildsPhbs(run, [PHB0, PHB1]);
    assert.deepEqual(result.machine.ignored, ["-device virtio-net-pci", "-device nvme"]);
    assert.ok(result.translations.checked > 0);
  });
});

const skip10 = skipWithoutQemu10("qemu-system-ppc64");

describe("the same guest under QEMU 10.0, replayed by iova --qemu 10.0", () => {
  test("-m 4G with a qemu-xhci: Linux creates the 64-bit window under 10.0, iova rebuilds it", {
    timeout: 300_000,
    skip: skip10,
  }, async () => {
    const run = await bootGuest("4G", ["-device", "qemu-xhci,id=xhci"], {
      release: "10.0",
      timeoutMs: 280_000,
    });
    assert.match(run.console, /INIT READY/);
    const result = assertRebuildsPhbs(run, [PHB0], "10.0");
    assert.equal(result.report.qemu, "10.0");
    assert.match(
      phbTreeBlock(run.mtree, PHB0) ?? "",
      /0800000000000000-08000000ffffffff \(prio 0, i\/o\): tce-iommu-80000001/,
    );
  });
});
