/**
 * The machine of the recorded x86 guests (data/x86-virtio-iommu*) and how their `info mtree` is
 * compared: -m 1G, virtio-iommu-pci at 00:01.0, e1000e at 00:02.0, nvme at 00:03.0. NVMe is not
 * modelled: an edu stands at 00:03.0 (virtio-iommu gives every function the same kind of
 * address space, whatever the function is).
 */
import { Q35Machine } from "../../src/machine/q35.ts";
import type { QemuLine } from "../../src/machine/qemu-line.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { mtreeBlocks } from "../conformance/blocks.ts";

/** The recorded machine, as QEMU 7.2 builds it or (with `qemu`) another release. */
export function recordedMachine(qemu?: QemuLine, machineType?: string): Q35Machine {
  return new Q35Machine({
    ...(qemu ? { qemu } : {}),
    ...(machineType ? { machineType } : {}),
    memory: 1n << 30n,
    devices: [
      { driver: "virtio-iommu-pci" },
      { driver: "e1000e", slot: 2 },
      { driver: "edu", slot: 3 },
    ],
  });
}

/** The `virtio-iommu-device` address spaces of an `info mtree` text, sorted. */
export function virtioIommuSpaces(text: string): string[] {
  return mtreeBlocks(text)
    .filter((b) => b.startsWith("address-space: virtio-iommu-device\n"))
    .sort();
}

/** The model's `virtio-iommu-device` address spaces, as `virtioIommuSpaces` gives a dump's. */
export function modelVirtioIommuSpaces(m: Q35Machine): string[] {
  return virtioIommuSpaces(formatMtree(m.memory, {}));
}
