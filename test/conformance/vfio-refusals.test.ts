/**
 * vfio-pci behind an IOMMU that has no MAP notifications (SMMUv3 on arm virt, AMD-Vi on q35):
 * iova's refusal is QEMU 7.2's message, assembled from the format strings recorded from the
 * real binaries (test/conformance/qemu-strings/vfio-refusals-7.2.txt) in the order QEMU 7.2
 * prefixes them (vfio_realize, vfio_get_group, vfio_connect_container, then the listener's
 * "Region" prefix before the IOMMU's own error). A real run needs an assigned host device,
 * which the recording machine lacks; the same text was reported from real QEMU on arm64.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ARM64_HOST } from "../../src/host/arm-host.ts";
import { X86_HOST } from "../../src/host/x86-host.ts";
import { ArmVirtMachine } from "../../src/machine/arm-virt.ts";
import { Q35Machine } from "../../src/machine/q35.ts";

const recorded = readFileSync(
  join(import.meta.dirname, "qemu-strings", "vfio-refusals-7.2.txt"),
  "utf8",
)
  .split("\n")
  .filter((l) => l && !l.startsWith("#"))
  .map((l) => l.split("\t") as [string, string]);

/** The recorded format of `binary` that starts with `prefix` (exactly one). */
function format(binary: string, prefix: string): string {
  const found = recorded.filter(([b, f]) => b === binary && f.startsWith(prefix));
  assert.equal(found.length, 1, `${binary}: one format starting '${prefix}'`);
  return found[0][1];
}

/** C's printf for the conversions these formats use. */
function printf(fmt: string, ...args: (string | number)[]): string {
  let i = 0;
  return fmt.replace(/%(0?\d*)([sdx])/g, (_m, width: string, conv: string) => {
    const v = args[i++];
    const text = conv === "x" ? (v as number).toString(16) : String(v);
    return width.startsWith("0") ? text.padStart(Number(width), "0") : text;
  });
}

function refusal(binary: string, host: string, group: number, region: string, device: string) {
  return (
    printf(format(binary, "vfio "), host) +
    printf(format(binary, "failed to setup container"), group) +
    format(binary, "memory listener initialization failed") +
    printf(format(binary, "Region "), region) +
    device
  );
}

test("SMMUv3 refusal equals QEMU 7.2's message built from qemu-system-aarch64's strings", () => {
  const expected = refusal(
    "qemu-system-aarch64",
    "0000:01:00.0",
    1,
    // vfio_realize asks for the address space at realize, before any machine-done: index 0.
    "smmuv3-iommu-memory-region-24-0",
    printf(format("qemu-system-aarch64", "device "), 0, 3, 0),
  );
  assert.throws(
    () =>
      new ArmVirtMachine({
        iommu: "smmuv3",
        host: { platform: ARM64_HOST },
        devices: [{ driver: "vfio-pci", slot: 3, properties: { host: "0000:01:00.0" } }],
      }),
    (e: Error) => e.message === expected,
  );
});

test("AMD-Vi refusal equals QEMU 7.2's message built from qemu-system-x86_64's strings", () => {
  const expected = refusal(
    "qemu-system-x86_64",
    "0000:01:00.0",
    1,
    "amd_iommu",
    printf(format("qemu-system-x86_64", "device "), 0, 3, 0),
  );
  assert.throws(
    () =>
      new Q35Machine({
        host: { platform: X86_HOST },
        amdIommu: true,
        devices: [{ driver: "vfio-pci", slot: 3, properties: { host: "0000:01:00.0" } }],
      }),
    (e: Error) => e.message === expected,
  );
});
