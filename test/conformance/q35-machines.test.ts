/**
 * The q35 machines recorded from QEMU 7.2 (data/) and QEMU 10.0 (data-10.0/), rebuilt from their
 * command lines (and their recorded PCI configuration writes, replayed as qtest port I/O) with
 * the model of the release they were recorded on: `info mtree` in every recorded form equals
 * that QEMU's (blocks as sets, since QEMU's block order is hash order).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Q35Machine } from "../../src/machine/q35.ts";
import type { QemuLine } from "../../src/machine/qemu-line.ts";
import { formatMtree, type MtreeOptions } from "../../src/memory/mtree/print.ts";
import { QtestSession } from "../../src/qtest/protocol.ts";
import { blockDifference } from "./blocks.ts";
import { q35CaseFromCmdline } from "./q35-cmdline.ts";

const dataDir = join(import.meta.dirname, "data");
const cases = readdirSync(dataDir).filter((c) => c.startsWith("x86_64-q35-"));
const dataDir10 = join(import.meta.dirname, "data-10.0");
const cases10 = readdirSync(dataDir10).filter((c) => c.startsWith("x86_64-q35-"));

/** Cases iova does not model, and why. */
const EXPECTED_UNSUPPORTED: Record<string, RegExp> = {
  // KVM holds memory slots that `info mtree -f` names; only TCG and qtest are modelled on q35.
  "x86_64-q35-kvm": /only TCG and qtest are modelled/,
  // SeaBIOS ran for 4 s and programmed BARs of devices (VGA) that are not modelled.
  "x86_64-q35-seabios-booted": /^step qmp cont/,
  "x86_64-q35-switch-seabios": /^step qmp cont/,
  // The TPM CRB device and its backend are not modelled.
  "x86_64-q35-tpm-crb": /option -chardev|is not modelled/,
  // Block devices (an NVMe or AHCI disk's -drive) are not modelled.
  "x86_64-q35-intel-iommu-cm": /option -drive is not modelled/,
  "x86_64-q35-root-ports-hotplug": /option -drive is not modelled/,
};

/** The 10.0 corpus's cases iova does not model (FAILED.txt lists those 10.0 refused). */
const EXPECTED_UNSUPPORTED_10: Record<string, RegExp> = {
  "x86_64-q35-seabios-booted": EXPECTED_UNSUPPORTED["x86_64-q35-seabios-booted"],
  "x86_64-q35-tpm-crb": EXPECTED_UNSUPPORTED["x86_64-q35-tpm-crb"],
};

/**
 * 10.0 cases whose `-f` listing has every line of QEMU's but not in QEMU's order: QEMU 10.0 makes a
 * bridge's `pci_bridge_pci_mem`/`pci_bridge_pci_io` address spaces right after the bridge's own
 * bus-master space, which the model (bus-master spaces made at machine-done) does not reproduce.
 */
const FLAT_ORDER_ONLY_10: Record<string, string> = {
  "x86_64-q35-bridges": "bridge address spaces listed in another place of their flat view's group",
};

const DUMPS: readonly [string, MtreeOptions][] = [
  ["mtree.txt", {}],
  ["mtree-D.txt", { disabled: true }],
  ["mtree-f.txt", { flat: true }],
  ["mtree-o.txt", { owners: true }],
  ["mtree-o-D.txt", { owners: true, disabled: true }],
  ["mtree-f-o.txt", { flat: true, owners: true }],
];

/** Builds the case's machine and replays its steps, or says why it cannot. */
function build(
  name: string,
  dir = dataDir,
  qemu: QemuLine = "7.2",
): { machine: Q35Machine } | { unsupported: string } {
  const conv = q35CaseFromCmdline(readFileSync(join(dir, name, "cmdline.txt"), "utf8"));
  if ("unsupported" in conv) return conv;
  let machine: Q35Machine;
  try {
    machine = new Q35Machine({ ...conv.config, qemu });
  } catch (e) {
    return { unsupported: (e as Error).message };
  }
  const session = new QtestSession(machine);
  for (const step of conv.steps) {
    if ("deviceAdd" in step) {
      machine.plug(step.deviceAdd);
      continue;
    }
    const r = session.execute(step.qtest);
    assert.deepEqual(r, { reply: "OK" }, `${name}: ${step.qtest}`);
  }
  return { machine };
}

test("every q35 case of the 7.2 corpus either rebuilds or is unsupported for the stated reason", () => {
  const unsupported: Record<string, string> = {};
  for (const c of cases) {
    const r = build(c);
    if ("unsupported" in r) unsupported[c] = r.unsupported;
  }
  assert.deepEqual(Object.keys(unsupported).sort(), Object.keys(EXPECTED_UNSUPPORTED).sort());
  for (const [c, why] of Object.entries(unsupported)) assert.match(why, EXPECTED_UNSUPPORTED[c]);
});

for (const name of cases) {
  if (name in EXPECTED_UNSUPPORTED) continue;
  describe(name, () => {
    const built = build(name);
    for (const [file, options] of DUMPS) {
      test(`${file} matches QEMU's`, () => {
        assert.ok("machine" in built);
        const { missing, extra } = blockDifference(
          readFileSync(join(dataDir, name, file), "utf8"),
          formatMtree(built.machine.memory, options),
        );
        assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
      });
    }
  });
}

test("every q35 case of the 10.0 corpus either rebuilds under 10.0 or is unsupported for the stated reason", () => {
  const unsupported: Record<string, string> = {};
  for (const c of cases10) {
    const r = build(c, dataDir10, "10.0");
    if ("unsupported" in r) unsupported[c] = r.unsupported;
  }
  assert.deepEqual(Object.keys(unsupported).sort(), Object.keys(EXPECTED_UNSUPPORTED_10).sort());
  for (const [c, why] of Object.entries(unsupported)) assert.match(why, EXPECTED_UNSUPPORTED_10[c]);
});

for (const name of cases10) {
  if (name in EXPECTED_UNSUPPORTED_10) continue;
  describe(`${name} (QEMU 10.0)`, () => {
    const built = build(name, dataDir10, "10.0");
    for (const [file, options] of DUMPS) {
      const orderOnly = options.flat === true && name in FLAT_ORDER_ONLY_10;
      const what = orderOnly
        ? "has QEMU 10.0's lines (order known to differ)"
        : "matches QEMU 10.0's";
      test(`${file} ${what}`, () => {
        assert.ok("machine" in built);
        const recorded = readFileSync(join(dataDir10, name, file), "utf8");
        const printed = formatMtree(built.machine.memory, options);
        if (orderOnly) {
          const lines = (t: string) => t.replaceAll("\r", "").split("\n").sort();
          assert.deepEqual(lines(printed), lines(recorded));
          return;
        }
        const { missing, extra } = blockDifference(recorded, printed);
        assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
      });
    }
  });
}

/** Whether the case's machine built under `qemu` prints the 10.0 recording of `file`. */
function matches10(name: string, qemu: QemuLine, file: string, options: MtreeOptions): boolean {
  const built = build(name, dataDir10, qemu);
  assert.ok("machine" in built);
  const { missing, extra } = blockDifference(
    readFileSync(join(dataDir10, name, file), "utf8"),
    formatMtree(built.machine.memory, options),
  );
  return missing.length + extra.length === 0;
}

test("the 10.0 recordings need the 10.0 model: the 7.2 model misses what changed", () => {
  // QOM owners renumbered (ISA DMA and RTC under ICH9-LPC).
  assert.equal(matches10("x86_64-q35-default", "7.2", "mtree-o.txt", { owners: true }), false);
  // virtio-pci's config address space.
  assert.equal(matches10("x86_64-q35-intel-iommu", "7.2", "mtree.txt", {}), false);
  // AMD-Vi's restructured address spaces, and the IOAPIC's empty one.
  assert.equal(matches10("x86_64-q35-amd-iommu", "7.2", "mtree-f.txt", { flat: true }), false);
  for (const name of ["x86_64-q35-default", "x86_64-q35-intel-iommu", "x86_64-q35-amd-iommu"])
    assert.equal(matches10(name, "10.0", "mtree-o-D.txt", { owners: true, disabled: true }), true);
});
