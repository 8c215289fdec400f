/**
 * The real QEMU binaries the comparison tests run (Debian's 7.2 in /usr/bin, 10.0 from
 * scripts/install-qemu-10.sh's tree), and why a test is skipped when one is missing.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { qemu10Dir, qemu10Installed } from "../../src/qemu/qemu-10.ts";

/** Runs a binary of QEMU 10.0's tree: `bash QEMU10_WRAPPER qemu-system-... args`. */
export const QEMU10_WRAPPER = join(import.meta.dirname, "../../scripts/qemu-10.sh");

/** false when QEMU 10.0's `binary` (e.g. `qemu-system-ppc64`) is installed; else the skip reason. */
export function skipWithoutQemu10(binary: string): false | string {
  return qemu10Installed(binary)
    ? false
    : `QEMU 10.0 is not installed in ${qemu10Dir()} (run scripts/install-qemu-10.sh)`;
}

/** false when Debian's QEMU 7.2 `binary` is installed; else the skip reason. */
export function skipWithoutQemu72(binary: string): false | string {
  return existsSync(join("/usr/bin", binary)) ? false : "QEMU 7.2 is not installed";
}
