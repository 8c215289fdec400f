/**
 * The q35 machines recorded from QEMU 7.2, rebuilt from their command lines (and their recorded
 * PCI configuration writes, replayed as qtest port I/O): `info mtree` in every recorded form
 * equals QEMU's (blocks as sets, since QEMU's block order is hash order).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Q35Machine } from "../../src/machine/q35.ts";
import { formatMtree, type MtreeOptions } from "../../src/memory/mtree/print.ts";
import { QtestSession } from "../../src/qtest/protocol.ts";
import { blockDifference } from "./blocks.ts";
import { q35CaseFromCmdline } from "./q35-cmdline.ts";

const dataDir = join(import.meta.dirname, "data");
const cases = readdirSync(dataDir).filter((c) => c.startsWith("x86_64-q35-"));

/** Cases iova does not model, and why. */
const EXPECTED_UNSUPPORTED: Record<string, RegExp> = {
  // Root ports, PCIe-to-PCI bridges and the EHCI controller are not modelled.
  "x86_64-q35-bridges": /bus 'rp1': only pcie\.0 is modelled/,
  // KVM holds memory slots that `info mtree -f` names; only TCG and qtest are modelled on q35.
  "x86_64-q35-kvm": /only TCG and qtest are modelled/,
  // SeaBIOS ran for 4 s and programmed BARs of devices (VGA) that are not modelled.
  "x86_64-q35-seabios-booted": /^step qmp cont/,
  // The TPM CRB device and its backend are not modelled.
  "x86_64-q35-tpm-crb": /option -chardev|is not modelled/,
  // Root ports, switches and bridges (recorded for the importer) are not modelled on q35 yet.
  "x86_64-q35-amd-iommu-switch": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-intel-iommu-bridges": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-intel-iommu-switch": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-root-ports-4": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-root-ports-open": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-rp-hotplug-switch": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-rp-switch-pcipci": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-rp-switch-pcipci-open": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-switch-2down": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-switch-seabios": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-switches-nested": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-virtio-iommu-bridges": /bus 'rp1': only pcie\.0 is modelled/,
  "x86_64-q35-virtio-iommu-switch": /bus 'rp1': only pcie\.0 is modelled/,
  // A PCI expander bus is not modelled.
  "x86_64-q35-pxb-pcie": /bus 'pxb1': only pcie\.0 is modelled/,
  // Block devices (an NVMe or AHCI disk's -drive) are not modelled.
  "x86_64-q35-intel-iommu-cm": /option -drive is not modelled/,
  "x86_64-q35-root-ports-hotplug": /option -drive is not modelled/,
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
function build(name: string): { machine: Q35Machine } | { unsupported: string } {
  const conv = q35CaseFromCmdline(readFileSync(join(dataDir, name, "cmdline.txt"), "utf8"));
  if ("unsupported" in conv) return conv;
  let machine: Q35Machine;
  try {
    machine = new Q35Machine(conv.config);
  } catch (e) {
    return { unsupported: (e as Error).message };
  }
  const session = new QtestSession(machine);
  for (const line of conv.qtest) {
    const r = session.execute(line);
    assert.deepEqual(r, { reply: "OK" }, `${name}: ${line}`);
  }
  return { machine };
}

test("every q35 case either rebuilds or is unsupported for the stated reason", () => {
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
