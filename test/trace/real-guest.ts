/**
 * Boots the real Linux guest scripts/build-guest.sh builds (cached in ~/.cache/iova/guest) under
 * qemu-system-ppc64 -M pseries (the host's QEMU 7.2, or with `release: "10.0"` QEMU 10.0 from
 * scripts/install-qemu-10.sh's tree) with QEMU's sPAPR IOMMU and VFIO trace events on, waits for the
 * guest's INIT READY, and takes QEMU's own `info mtree` and `info mtree -f` over QMP before quitting.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { qemu10Command } from "../../src/qemu/qemu-10.ts";
import { QmpClient } from "../../src/qemu/qmp.ts";

/** What a boot leaves: the command line (shell text), the trace log, QEMU's dumps, the console. */
export interface GuestRun {
  readonly dir: string;
  readonly cmdline: string;
  readonly log: string;
  readonly mtree: string;
  readonly mtreeFlat: string;
  readonly console: string;
}

let guestDir: string | undefined;

/** The built guest's folder (builds it on first use; cached between runs). */
export function guest(): string {
  guestDir ??= execFileSync("sh", [join(import.meta.dirname, "../../scripts/build-guest.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  return guestDir;
}

const quote = (a: string) =>
  /^[A-Za-z0-9_.,:/=@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;

/** Boots the guest with `extra` QEMU arguments and `append` kernel words. */
export async function bootGuest(
  memory: string,
  extra: readonly string[],
  options: {
    append?: string;
    timestamps?: boolean;
    timeoutMs?: number;
    /** Which QEMU boots it: the host's 7.2 (default) or 10.0. */
    release?: "7.2" | "10.0";
  } = {},
): Promise<GuestRun> {
  const g = guest();
  const dir = mkdtempSync(join(tmpdir(), "iova-guest-"));
  const args = [
    "-M",
    "pseries",
    "-accel",
    "tcg",
    "-smp",
    "1",
    "-m",
    memory,
    "-nodefaults",
    "-nographic",
    "-kernel",
    join(g, "vmlinux"),
    "-initrd",
    join(g, "initrd.gz"),
    "-append",
    `console=hvc0 quiet ${options.append ?? ""}`.trim(),
    "-serial",
    `file:${join(dir, "console.log")}`,
    "-qmp",
    `unix:${join(dir, "qmp.sock")},server=on,wait=off`,
    "-trace",
    "spapr_iommu_*",
    "-trace",
    "vfio_*",
    "-D",
    join(dir, "trace.log"),
    ...(options.timestamps ? ["-msg", "timestamp=on"] : []),
    ...extra,
  ];
  const cmdline = ["qemu-system-ppc64", ...args].map(quote).join(" ");
  const command =
    options.release === "10.0"
      ? qemu10Command("qemu-system-ppc64", args)
      : { argv: ["qemu-system-ppc64", ...args], env: process.env };
  const child = spawn(command.argv[0], command.argv.slice(1), {
    stdio: ["ignore", "ignore", "pipe"],
    env: command.env,
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let running = true;
  void exited.then(() => {
    running = false;
  });
  const consolePath = join(dir, "console.log");
  const deadline = Date.now() + (options.timeoutMs ?? 110_000);
  try {
    for (;;) {
      if (existsSync(consolePath) && readFileSync(consolePath, "utf8").includes("INIT READY"))
        break;
      if (!running) throw new Error(`QEMU exited before the guest was ready: ${stderr}`);
      if (Date.now() > deadline) throw new Error("the guest did not print INIT READY in time");
      await sleep(250);
    }
    const client = await QmpClient.connect(join(dir, "qmp.sock"), { timeoutMs: 20_000 });
    try {
      const mtree = await client.hmp("info mtree");
      const mtreeFlat = await client.hmp("info mtree -f");
      await client.execute("quit").catch(() => undefined);
      await exited;
      return {
        dir,
        cmdline,
        log: readFileSync(join(dir, "trace.log"), "utf8"),
        mtree,
        mtreeFlat,
        console: readFileSync(consolePath, "utf8"),
      };
    } finally {
      client.close();
    }
  } finally {
    if (running) child.kill("SIGKILL");
  }
}
