/** Live QEMU: a QMP client, starting a paused QEMU, reading its memory map and version. */
export * from "./launch.ts";
export * from "./qmp.ts";
export * from "./version.ts";
