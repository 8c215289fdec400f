/**
 * `ich9-usb-ehci1`, the ICH9 USB 2.0 controller, as far as the DMA path needs it: its PCI
 * identity and BAR 0 (4 KiB: capability registers at 0, operational registers at 0x20, six
 * port registers after them, as QEMU 7.2's `hcd-ehci-pci.c` lays out the ICH9 variant).
 * Register contents are not modelled; its DMA goes through its bus-master address space.
 */
import type { MemorySystem } from "../memory/memory-system.ts";
import type { QomObjectRef } from "../memory/region.ts";
import type { PciFunctionSpec } from "./pci-device.ts";

const INERT = { read: () => 0n, write: () => 0 };
const OPREG_BASE = 0x20n;
const PORTSC_BASE = 0x44n;
const PORTS = 6n;

/** Builds ich9-usb-ehci1's identity and BAR 0. */
export function ich9UsbEhci1(system: MemorySystem, owner: QomObjectRef): PciFunctionSpec {
  const o = { owner };
  const bar = system.container("ehci", 0x1000n, o);
  bar.addSubregion(system.io("capabilities", 0x10n, INERT, o), 0n);
  bar.addSubregion(system.io("operational", PORTSC_BASE, INERT, o), OPREG_BASE);
  bar.addSubregion(system.io("ports", 4n * PORTS, INERT, o), OPREG_BASE + PORTSC_BASE);
  return {
    typeName: "ich9-usb-ehci1",
    vendorId: 0x8086,
    deviceId: 0x293a,
    classCode: 0x0c0320,
    revision: 3,
    bars: [{ region: bar, kind: "mem32" }],
  };
}
