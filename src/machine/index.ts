/** Machines: pseries, q35 and arm virt, PCI functions, bridges and the emulated devices iova models. */
export * from "./arm-virt.ts";
export * from "./behaviour.ts";
export * from "./edu.ts";
export * from "./ich9-ehci.ts";
export * from "./machine-type.ts";
export * from "./pci-bridge.ts";
export * from "./pci-bus-node.ts";
export * from "./pci-device.ts";
export * from "./pci-nics.ts";
export * from "./pci-topology.ts";
export * from "./pseries.ts";
export * from "./q35.ts";
export * from "./q35-chipset.ts";
export * from "./qemu-line.ts";
export * from "./qemu-xhci.ts";
