/**
 * Running QEMU 10.0 beside the host's 7.2: the binaries `scripts/install-qemu-10.sh` unpacks into
 * a private tree must be told where that tree's firmware and modules are, or they pick up 7.2's
 * (and refuse its display modules). This builds the argv and environment for one such run.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** Where the install script unpacks QEMU 10.0: `IOVA_QEMU10_DIR`, else `~/.cache/iova/qemu-10.0`. */
export function qemu10Dir(env: NodeJS.ProcessEnv = process.env): string {
  return env.IOVA_QEMU10_DIR || join(homedir(), ".cache", "iova", "qemu-10.0");
}

/** Whether the tree holds this system emulator (e.g. `qemu-system-ppc64`). */
export function qemu10Installed(binary: string, dir: string = qemu10Dir()): boolean {
  return isEmulatorName(binary) && existsSync(join(dir, "usr", "bin", binary));
}

/** An argv (binary first) and the environment to run it with. */
export interface QemuCommand {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

function isEmulatorName(binary: string): boolean {
  return /^qemu-system-[a-z0-9_]+$/.test(binary);
}

/**
 * The command that runs `binary` (a system emulator's name, not a path) from the QEMU 10.0 tree:
 * that tree's firmware directories first, its module directory, and `-qtest-log none` when the
 * command line uses qtest without choosing a log (10.0 needs one).
 */
export function qemu10Command(
  binary: string,
  args: readonly string[],
  dir: string = qemu10Dir(),
  baseEnv: NodeJS.ProcessEnv = process.env,
): QemuCommand {
  if (!isEmulatorName(binary)) {
    throw new Error(`'${binary}' is not a QEMU system emulator name (qemu-system-...)`);
  }
  const qtestLog = args.includes("-qtest") && !args.includes("-qtest-log");
  return {
    argv: [
      join(dir, "usr", "bin", binary),
      "-L",
      join(dir, "usr", "share", "qemu"),
      "-L",
      join(dir, "usr", "share", "seabios"),
      ...args,
      ...(qtestLog ? ["-qtest-log", "none"] : []),
    ],
    env: { ...baseEnv, QEMU_MODULE_DIR: join(dir, "usr", "lib", "x86_64-linux-gnu", "qemu") },
  };
}
