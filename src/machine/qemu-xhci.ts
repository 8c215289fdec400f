/**
 * The `qemu-xhci` USB controller as far as the DMA path needs it: QEMU's PCI identity and its
 * BAR 0 (a 16 KiB 64-bit memory BAR holding the capability, operational, port, runtime and
 * doorbell registers and the MSI-X table and PBA). Register contents are not modelled; the
 * controller's DMA goes through its bus-master address space.
 */
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import type { PciFunctionSpec } from "./pci-device.ts";

const REGS = { read: () => 0n, write: () => 0 };

/** The ports of each kind (QEMU's p2 and p3 defaults). */
const PORTS = 4;

/** Builds qemu-xhci's BAR 0 and PCI identity. `owner` is the device's QOM reference. */
export function qemuXhci(system: MemorySystem, owner: QomObjectRef): PciFunctionSpec {
  const core: QomObjectRef = { ...owner, key: "path", value: `${owner.value}/xhci-core` };
  const reg = (name: string, size: bigint, o: QomObjectRef = core): MemoryRegion =>
    system.io(name, size, REGS, { owner: o });
  const bar = system.container("xhci", 0x4000n, { owner: core });
  bar.addSubregion(reg("capabilities", 0x40n), 0n);
  bar.addSubregion(reg("operational", 0x400n), 0x40n);
  for (let i = 0; i < PORTS; i++)
    bar.addSubregion(reg(`usb3 port #${i + 1}`, 0x10n), 0x440n + BigInt(i) * 0x10n);
  for (let i = 0; i < PORTS; i++)
    bar.addSubregion(reg(`usb2 port #${i + 1}`, 0x10n), 0x480n + BigInt(i) * 0x10n);
  bar.addSubregion(reg("runtime", 0x220n), 0x1000n);
  bar.addSubregion(reg("doorbell", 0x820n), 0x2000n);
  bar.addSubregion(reg("msix-table", 0x100n, owner), 0x3000n);
  bar.addSubregion(reg("msix-pba", 0x8n, owner), 0x3800n);
  return {
    typeName: "qemu-xhci",
    vendorId: 0x1b36,
    deviceId: 0x000d,
    classCode: 0x0c0330,
    revision: 0x01,
    bars: [{ region: bar, kind: "mem64" }],
    express: true,
  };
}
