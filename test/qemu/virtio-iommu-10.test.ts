/**
 * virtio-iommu's properties and defaults under QEMU 7.2 and 10.0, compared with the real binaries:
 * the refusals of `granule` and `aw-bits` (7.2 has neither; 10.0 checks their values), and the
 * `aw-bits` and `granule` each q35 machine type gives the device, read with `qom-get` from a
 * QEMU started under qtest (then stopped). The 10.0 cases need scripts/install-qemu-10.sh's tree
 * and are skipped, saying so, without it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ARM64_64K_HOST } from "../../src/host/arm64-64k-host.ts";
import { Q35Machine } from "../../src/machine/q35.ts";
import { startQtestQemu } from "../../src/qemu/qtest-client.ts";
import { skipWithoutQemu10, skipWithoutQemu72, QEMU10_WRAPPER as WRAPPER } from "./installed.ts";

const skip10 = skipWithoutQemu10("qemu-system-x86_64");
const skip7 = skipWithoutQemu72("qemu-system-x86_64");

/** Runs a QEMU that must refuse its command line; returns the message after the option. */
function refusal(line: "7.2" | "10.0", device: string): string {
  const cmd = line === "7.2" ? ["qemu-system-x86_64"] : [WRAPPER, "qemu-system-x86_64"];
  const args = ["-nodefaults", "-display", "none", "-S", "-M", "q35", "-device", device];
  const r = spawnSync(cmd[0], [...cmd.slice(1), ...args], { encoding: "utf8", timeout: 60_000 });
  assert.notEqual(r.status, 0, `QEMU ${line} accepted -device ${device}`);
  return r.stderr.trim().replace(`qemu-system-x86_64: -device ${device}: `, "");
}

/** What the model says of the same `-device virtio-iommu-pci,NAME=VALUE`. */
function modelRefusal(line: "7.2" | "10.0", name: string, value: string): string {
  try {
    new Q35Machine({
      qemu: line,
      devices: [{ driver: "virtio-iommu-pci", properties: { [name]: value } }],
    });
  } catch (e) {
    return (e as Error).message;
  }
  return "(accepted)";
}

test("QEMU 7.2 has neither granule nor aw-bits, as the model says", { skip: skip7 }, () => {
  for (const [name, value] of [
    ["granule", "64k"],
    ["aw-bits", "48"],
  ]) {
    assert.equal(
      modelRefusal("7.2", name, value),
      refusal("7.2", `virtio-iommu-pci,${name}=${value}`),
    );
  }
});

test("QEMU 10.0 refuses aw-bits outside [32,64], an unknown granule and len-reserved-regions as the model does", {
  skip: skip10,
}, () => {
  for (const [name, value] of [
    ["aw-bits", "31"],
    ["aw-bits", "65"],
    ["granule", "2k"],
    ["len-reserved-regions", "1"],
  ]) {
    assert.equal(
      modelRefusal("10.0", name, value),
      refusal("10.0", `virtio-iommu-pci,${name}=${value}`),
    );
  }
});

test("each q35 machine type's aw-bits and granule under QEMU 10.0 are the model's", {
  skip: skip10,
}, async () => {
  for (const machineType of ["q35", "pc-q35-9.0", "pc-q35-8.2"]) {
    const q = await startQtestQemu(
      "qemu-system-x86_64",
      ["-M", machineType, "-nodefaults", "-device", "virtio-iommu-pci,id=vi"],
      { release: "10.0", qmp: true },
    );
    let awBits: unknown;
    let granule: unknown;
    try {
      const path = "/machine/peripheral/vi/virtio-backend";
      awBits = await q.qmp!.execute("qom-get", { path, property: "aw-bits" });
      granule = await q.qmp!.execute("qom-get", { path, property: "granule" });
    } finally {
      await q.stop();
    }
    // On a 64 KiB host the model's `host` granule is visible as a 64 KiB mask.
    const vi = new Q35Machine({
      qemu: "10.0",
      machineType,
      host: { platform: ARM64_64K_HOST },
      devices: [{ driver: "virtio-iommu-pci" }],
    }).virtioIommu!;
    assert.equal(
      vi.config.inputRange.end,
      awBits === 64 ? (1n << 64n) - 1n : (1n << BigInt(Number(awBits))) - 1n,
      machineType,
    );
    assert.equal(
      vi.granule,
      granule === "host" ? 0x10000n : 0x1000n,
      `${machineType}: ${String(granule)}`,
    );
    assert.ok(granule === "host" || granule === "4k", `${machineType}: ${String(granule)}`);
  }
});
