/** Machines: the pseries machine, PCI functions and the emulated devices iova models. */
export * from "./behaviour.ts";
export * from "./machine-type.ts";
export * from "./pci-device.ts";
export * from "./pseries.ts";
export * from "./qemu-xhci.ts";
