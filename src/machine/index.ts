/** Machines: pseries and q35, PCI functions and the emulated devices iova models. */
export * from "./behaviour.ts";
export * from "./edu.ts";
export * from "./machine-type.ts";
export * from "./pci-device.ts";
export * from "./pci-nics.ts";
export * from "./pseries.ts";
export * from "./q35.ts";
export * from "./q35-chipset.ts";
export * from "./qemu-line.ts";
export * from "./qemu-xhci.ts";
