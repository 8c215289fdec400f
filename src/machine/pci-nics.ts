/**
 * Network functions that appear in recorded q35 machines: `e1000` and `e1000e` with their BARs (QEMU 7.2
 * `hw/net/e1000e.c`: 128 KiB registers, an empty 128 KiB flash BAR, 32 I/O ports, 16 KiB MSI-X) and
 * `virtio-net-pci` with its three BARs. Neither's registers do
 * anything; their DMA goes through their bus-master address spaces.
 */

import type { MemorySystem } from "../memory/memory-system.ts";
import type { QomObjectRef } from "../memory/region.ts";
import type { PciFunctionSpec } from "./pci-device.ts";
import { atLeast, type QemuLine } from "./qemu-line.ts";

const INERT = { read: () => 0n, write: () => 0 };

/** e1000e's PCI identity and BARs 0-3. */
export function e1000e(system: MemorySystem, owner: QomObjectRef): PciFunctionSpec {
  const o = { owner };
  const msix = system.container("e1000e-msix", 0x4000n, o);
  msix.addSubregion(system.io("msix-table", 0x50n, INERT, o), 0n);
  msix.addSubregion(system.io("msix-pba", 0x8n, INERT, o), 0x2000n);
  return {
    typeName: "e1000e",
    vendorId: 0x8086,
    deviceId: 0x10d3,
    classCode: 0x020000,
    revision: 0,
    express: true,
    bars: [
      { region: system.io("e1000e-mmio", 0x20000n, INERT, o), kind: "mem32" },
      // A dummy BAR for drivers that probe for it: an empty container that decodes nothing.
      { region: system.container("e1000e-flash", 0x20000n, o), kind: "mem32" },
      { region: system.io("e1000e-io", 0x20n, INERT, o), kind: "io" },
      { region: msix, kind: "mem32" },
    ],
  };
}

/** e1000's PCI identity and BARs 0-1 (128 KiB registers, 64 I/O ports). */
export function e1000(system: MemorySystem, owner: QomObjectRef): PciFunctionSpec {
  const o = { owner };
  return {
    typeName: "e1000",
    vendorId: 0x8086,
    deviceId: 0x100e,
    classCode: 0x020000,
    revision: 3,
    bars: [
      { region: system.io("e1000-mmio", 0x20000n, INERT, o), kind: "mem32" },
      { region: system.io("e1000-io", 0x40n, INERT, o), kind: "io" },
    ],
  };
}

/** virtio-pci's modern capability regions, each 4 KiB in its 16 KiB BAR container. */
const VIRTIO_PCI_MODERN = ["common", "isr", "device", "notify"] as const;

/**
 * virtio-net-pci's PCI identity and BARs (QEMU's defaults): the legacy I/O BAR 0 (a
 * transitional device, unless below a PCIe port), the MSI-X BAR 1 (4 vectors) and the modern
 * BAR 4 with its common, ISR, device and notify structures. Their registers are not modelled.
 * Under QEMU 10.0 the modern BAR container `virtio-pci` is also the root of an address space,
 * `virtio-pci-cfg-mem-as`, through which the VIRTIO_PCI_CAP_PCI_CFG window reaches the
 * capability registers; 7.2 dispatched those accesses to the regions directly, with no such
 * address space.
 */
export function virtioNetPci(
  system: MemorySystem,
  owner: QomObjectRef,
  onPciePort = false,
  qemu: QemuLine = "7.2",
): PciFunctionSpec {
  const o = { owner };
  // virtio_pci_realize: `disable-legacy=auto` drops the legacy interface below a PCIe port.
  const legacy = !onPciePort;
  const msix = system.container("virtio-net-pci-msix", 0x1000n, o);
  msix.addSubregion(system.io("msix-table", 0x40n, INERT, o), 0n);
  msix.addSubregion(system.io("msix-pba", 0x8n, INERT, o), 0x800n);
  const modern = system.container("virtio-pci", 0x4000n, o);
  VIRTIO_PCI_MODERN.forEach((part, i) => {
    modern.addSubregion(
      system.io(`virtio-pci-${part}-virtio-net`, 0x1000n, INERT, o),
      BigInt(i) * 0x1000n,
    );
  });
  if (atLeast(qemu, "10.0")) system.addressSpace(modern, "virtio-pci-cfg-mem-as");
  return {
    typeName: "virtio-net-pci",
    vendorId: 0x1af4,
    deviceId: legacy ? 0x1000 : 0x1041,
    classCode: 0x020000,
    revision: 1,
    ...(legacy ? {} : { express: true }),
    bars: [
      legacy ? { region: system.io("virtio-pci", 0x20n, INERT, o), kind: "io" } : undefined,
      { region: msix, kind: "mem32" },
      undefined,
      undefined,
      { region: modern, kind: "mem64", prefetchable: true },
    ],
  };
}
