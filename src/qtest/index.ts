/** QEMU's qtest protocol over the q35 model: command lines, sessions and transcripts. */
export * from "./cmdline.ts";
export * from "./protocol.ts";
export * from "./transcript.ts";
export * from "./virt-cmdline.ts";
