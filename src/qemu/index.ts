/** Live QEMU: a QMP client, starting a paused QEMU, reading its memory map. */
export * from "./launch.ts";
export * from "./qmp.ts";
