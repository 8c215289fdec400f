/**
 * The arm virt machines recorded from QEMU 7.2, rebuilt from their command lines (and their
 * recorded steps: ECAM configuration writes, QMP `device_add`): `info mtree` in every recorded
 * form equals QEMU's (blocks as sets, since QEMU's block order is hash order). The same command
 * lines recorded on QEMU 10.0 (data-10.0/) are rebuilt with `qemu: "10.0"` and equal 10.0's.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type ArmVirtDeviceSpec, ArmVirtMachine } from "../../src/machine/arm-virt.ts";
import type { QemuLine } from "../../src/machine/qemu-line.ts";
import { formatMtree, type MtreeOptions } from "../../src/memory/mtree/print.ts";
import { splitCommandLine } from "../../src/qtest/cmdline.ts";
import { armVirtConfigFromArgv } from "../../src/qtest/virt-cmdline.ts";
import { blockDifference } from "./blocks.ts";

const dataDir = join(import.meta.dirname, "data");
const cases = readdirSync(dataDir).filter((c) => c.startsWith("aarch64-virt-"));
const dataDir10 = join(import.meta.dirname, "data-10.0");
const cases10 = readdirSync(dataDir10).filter((c) => c.startsWith("aarch64-virt-"));

/** Cases iova does not model, and why. */
const EXPECTED_UNSUPPORTED: Record<string, RegExp> = {
  // Flash images (-drive if=pflash) and memory hot-plug are not modelled.
  "aarch64-virt-pflash": /option -drive is not modelled/,
  "aarch64-virt-hotplug-dimm": /memory hot-plug is not modelled/,
  // TrustZone (the secure address spaces and devices) and EL2/MTE are not modelled.
  "aarch64-virt-secure": /-M virt property 'secure' is not modelled/,
  "aarch64-virt-virtualization-mte": /-M virt property 'virtualization' is not modelled/,
  // virtio-iommu is not modelled on arm virt.
  "aarch64-virt-virtio-iommu": /'virtio-iommu-pci' is not a valid device model name/,
  "aarch64-virt-virtio-iommu-bridge": /'virtio-iommu-pci' is not a valid device model name/,
};

const DUMPS: readonly [string, MtreeOptions][] = [
  ["mtree.txt", {}],
  ["mtree-D.txt", { disabled: true }],
  ["mtree-f.txt", { flat: true }],
  ["mtree-o.txt", { owners: true }],
  ["mtree-o-D.txt", { owners: true, disabled: true }],
  ["mtree-f-o.txt", { flat: true, owners: true }],
];

const ECAM_WRITE =
  /^pci-config-write \(ECAM (0x[0-9a-f]+), qtest\) ([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) reg (0x[0-9a-f]+) size ([124]) value (0x[0-9a-f]+)$/;
const DEVICE_ADD = /^qmp (\{"execute": "device_add", .*\})$/;

/** Builds the case's machine and replays its steps, or says why it cannot. */
function build(
  name: string,
  dir = dataDir,
  qemu: QemuLine = "7.2",
): { machine: ArmVirtMachine } | { unsupported: string } {
  const [command, ...rest] = readFileSync(join(dir, name, "cmdline.txt"), "utf8")
    .replace(/\r/g, "")
    .split("\n");
  let machine: ArmVirtMachine;
  try {
    machine = new ArmVirtMachine({ ...armVirtConfigFromArgv(splitCommandLine(command)), qemu });
  } catch (e) {
    return { unsupported: (e as Error).message };
  }
  for (const line of rest) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const add = DEVICE_ADD.exec(line);
    if (add) {
      const { driver, id, bus, ...properties } = JSON.parse(add[1]).arguments;
      machine.plug({ driver, id, bus, properties } as ArmVirtDeviceSpec);
      continue;
    }
    const m = ECAM_WRITE.exec(line);
    if (!m) return { unsupported: `step ${line}` };
    const [bus, dev, fn] = [m[2], m[3], m[4]].map((x) => Number.parseInt(x, 16));
    const addr =
      BigInt(m[1]) + (BigInt(bus) << 20n) + (BigInt((dev << 3) | fn) << 12n) + BigInt(m[5]);
    assert.equal(BigInt(m[1]), machine.ecamBase, `${name}: ECAM base`);
    const size = Number(m[6]);
    const value = BigInt(m[7]);
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = Number((value >> BigInt(8 * i)) & 0xffn);
    machine.cpuMemory.write(addr, bytes);
  }
  return { machine };
}

test("every arm virt case either rebuilds or is unsupported for the stated reason", () => {
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

test("every arm virt case of the QEMU 10.0 corpus is a 7.2 case, and iova rebuilds it when it rebuilds 7.2's", () => {
  assert.ok(cases10.length >= 4);
  for (const c of cases10) assert.ok(cases.includes(c), c);
  for (const c of cases10) {
    const r = build(c, dataDir10, "10.0");
    if (c in EXPECTED_UNSUPPORTED) {
      assert.ok("unsupported" in r, c);
      assert.match(r.unsupported, EXPECTED_UNSUPPORTED[c]);
    } else assert.ok("machine" in r, c);
  }
});

for (const name of cases10) {
  if (name in EXPECTED_UNSUPPORTED) continue;
  describe(`${name} under --qemu 10.0`, () => {
    const built = build(name, dataDir10, "10.0");
    for (const [file, options] of DUMPS) {
      test(`${file} matches QEMU 10.0's`, () => {
        assert.ok("machine" in built);
        const { missing, extra } = blockDifference(
          readFileSync(join(dataDir10, name, file), "utf8"),
          formatMtree(built.machine.memory, options),
        );
        assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
      });
    }
  });
}

test("SMMUv3's IOMMU regions are 2^48 bytes on 7.2's arm virt and 2^64 on 10.0's, as recorded", () => {
  const region = (dir: string, qemu: QemuLine) => {
    const built = build("aarch64-virt-smmuv3", dir, qemu);
    assert.ok("machine" in built);
    const text = formatMtree(built.machine.memory, {});
    return [...text.matchAll(/^ {2}(\S+) \(prio 0, i\/o\): smmuv3-iommu-memory-region-8-1$/gm)].map(
      (m) => m[1],
    );
  };
  const recorded = (dir: string) =>
    [
      ...readFileSync(join(dir, "aarch64-virt-smmuv3", "mtree.txt"), "utf8").matchAll(
        /^ {2}(\S+) \(prio 0, i\/o\): smmuv3-iommu-memory-region-8-1$/gm,
      ),
    ].map((m) => m[1]);
  assert.deepEqual(recorded(dataDir)[0], "0000000000000000-0000ffffffffffff");
  assert.deepEqual(recorded(dataDir10)[0], "0000000000000000-ffffffffffffffff");
  assert.deepEqual(region(dataDir, "7.2"), recorded(dataDir));
  assert.deepEqual(region(dataDir10, "10.0"), recorded(dataDir10));
});
