/**
 * Which QEMU release a machine models: QEMU 7.2 (Debian 12's, the default) or QEMU 10.0. The
 * line decides the machine types that exist (`pseries` is pseries-10.0 under 10.0), what `info
 * mtree` shows, and whatever rule a later release changed; rules read it from `machine.qemu`.
 * Separate from `behaviour` (the 2016 code), which is an option of its own.
 */

/** Every release line iova models, the default first. */
export const QEMU_LINES = ["7.2", "10.0"] as const;

/** A QEMU release line iova models. */
export type QemuLine = (typeof QEMU_LINES)[number];

/** The line a machine models when nothing says otherwise. */
export const DEFAULT_QEMU_LINE: QemuLine = "7.2";

/** Whether a text names a line iova models (`7.2`, `10.0`). */
export function isQemuLine(text: string): text is QemuLine {
  return (QEMU_LINES as readonly string[]).includes(text);
}

/** Whether `line` is `since` or later (`atLeast(machine.qemu, "10.0")`). */
export function atLeast(line: QemuLine, since: QemuLine): boolean {
  return QEMU_LINES.indexOf(line) >= QEMU_LINES.indexOf(since);
}
