/**
 * A real QEMU driven over the qtest protocol, for recording transcripts and comparing iova with
 * QEMU. Debian's QEMU has no qtest accelerator and no `clock_step` under TCG, so QEMU runs under
 * TCG with a firmware image of `hlt` instructions (the CPU halts at the reset vector, keeping the
 * machine's layout: the image has the size of SeaBIOS's) and the qtest socket attached; device
 * timers run in real time, and a caller waits for them by polling.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { qemu10Command } from "./qemu-10.ts";
import { QmpClient } from "./qmp.ts";

/** Why a qtest session with QEMU failed. */
export class QtestClientError extends Error {
  override name = "QtestClientError";
}

/** A running QEMU with its qtest socket. */
export interface QtestQemu {
  /** Sends one command; resolves with QEMU's reply line (IRQ notifications skipped). */
  command(line: string): Promise<string>;
  /** The QMP connection, when asked for (`info mtree` through `human-monitor-command`). */
  readonly qmp: QmpClient | undefined;
  /** What QEMU printed on stderr and stdout so far. */
  output(): string;
  /** Ends QEMU and removes its files. */
  stop(): Promise<void>;
}

/** The firmware: 256 KiB of `hlt`, so `pc.bios` and `isa-bios` have SeaBIOS's sizes. */
export function haltingFirmware(): Uint8Array {
  return new Uint8Array(256 * 1024).fill(0xf4);
}

/**
 * Starts `binary` with `args` (the machine's options), a halting firmware and a qtest socket;
 * with `qmp`, a QMP socket too.
 */
export async function startQtestQemu(
  binary: string,
  args: readonly string[],
  options: {
    readonly timeoutMs?: number;
    readonly qmp?: boolean;
    /** "10.0": run `binary` from scripts/install-qemu-10.sh's tree (qemu-10.ts), not the host's. */
    readonly release?: "7.2" | "10.0";
  } = {},
): Promise<QtestQemu> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const dir = mkdtempSync(join(tmpdir(), "iova-qtest-"));
  const firmware = join(dir, "halt.bin");
  writeFileSync(firmware, haltingFirmware());
  const socketPath = join(dir, "qtest.sock");
  const qmpPath = join(dir, "qmp.sock");
  const qmpArgs = options.qmp ? ["-qmp", `unix:${qmpPath},server=on,wait=off`] : [];
  const fullArgs = [
    ...args,
    "-bios",
    firmware,
    "-display",
    "none",
    "-accel",
    "tcg",
    "-qtest",
    `unix:${socketPath},server=on,wait=off`,
    ...qmpArgs,
  ];
  const command =
    options.release === "10.0"
      ? qemu10Command(binary, fullArgs)
      : { argv: [binary, ...fullArgs], env: process.env };
  const child: ChildProcess = spawn(command.argv[0], command.argv.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    env: command.env,
  });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += String(d);
  });
  child.stderr?.on("data", (d) => {
    output += String(d);
  });
  let exitReason: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on("error", (e) => {
      exitReason = `cannot start ${binary}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such program" : e.message}`;
      resolve();
    });
    child.on("exit", (code, signal) => {
      exitReason ??= `${binary} exited (${signal ?? code}): ${output.trim().split("\n").slice(-3).join(" | ")}`;
      resolve();
    });
  });
  const cleanup = () => rmSync(dir, { recursive: true, force: true });

  let qmp: QmpClient | undefined;
  const socket = await connectWithRetry(socketPath, timeoutMs, () => exitReason)
    .then(async (s) => {
      if (options.qmp) qmp = await QmpClient.connect(qmpPath, { connectTimeoutMs: timeoutMs });
      return s;
    })
    .catch((e) => {
      if (child.exitCode === null) child.kill("SIGKILL");
      cleanup();
      throw e;
    });
  let buffer = "";
  const waiting: ((line: string | undefined) => void)[] = [];
  const lines: string[] = [];
  socket.on("data", (d) => {
    buffer += String(d);
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith("IRQ")) continue;
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  socket.on("close", () => {
    for (const w of waiting.splice(0)) w(undefined);
  });

  return {
    qmp,
    command(line: string): Promise<string> {
      return new Promise((resolve, reject) => {
        const queued = lines.shift();
        if (queued !== undefined) {
          resolve(queued);
          return;
        }
        const timer = setTimeout(() => {
          reject(new QtestClientError(`no reply to '${line}' within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.push((reply) => {
          clearTimeout(timer);
          if (reply === undefined) {
            reject(new QtestClientError(`QEMU closed the qtest socket: ${exitReason ?? output}`));
          } else resolve(reply);
        });
        socket.write(`${line}\n`);
      });
    },
    output: () => output,
    async stop() {
      qmp?.close();
      socket.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      cleanup();
    },
  };
}

async function connectWithRetry(
  path: string,
  timeoutMs: number,
  exited: () => string | undefined,
): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = exited();
    if (why !== undefined) throw new QtestClientError(why);
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = createConnection(path);
        s.once("connect", () => resolve(s));
        s.once("error", reject);
      });
    } catch {
      if (Date.now() > deadline) throw new QtestClientError(`could not connect to ${path}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
