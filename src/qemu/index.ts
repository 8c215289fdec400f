/** Live QEMU: a QMP client, starting a paused QEMU (7.2, or 10.0 beside it), its memory map and version. */
export * from "./launch.ts";
export * from "./qemu-10.ts";
export * from "./qmp.ts";
export * from "./version.ts";
