/**
 * Starting a QEMU paused with a private QMP socket, for `iova qemu`. The child iova started is
 * killed, and its temporary directory removed, on every way out: a missing binary (reported as
 * soon as the system says so), a QEMU that exits or never opens its socket, a failed handshake,
 * `stop()`, an iova that exits or crashes, and SIGINT, SIGTERM or SIGHUP.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QmpClient, QmpError } from "./qmp.ts";

/** A QEMU started by iova. */
export interface LaunchedQemu {
  readonly client: QmpClient;
  /** The child's process id. */
  readonly pid: number;
  /** Sends `quit`, waits for the process to end (killing it after a grace period), cleans up. */
  stop(): Promise<void>;
}

/** Options of `launchQemu`. */
export interface LaunchOptions {
  /** How long QEMU may take to open its QMP socket; default 20 s. */
  readonly connectTimeoutMs?: number;
  /** Each QMP command's timeout; default 10 s. */
  readonly timeoutMs?: number;
  /** The longest QMP message accepted, in characters (see `QmpClient`). */
  readonly maxMessageChars?: number;
  /** How long `stop()` waits after `quit` before killing; default 5 s. */
  readonly quitGraceMs?: number;
  /** Where the temporary directory for the socket goes; default the system's. */
  readonly tmpRoot?: string;
  /** Told the child's process id as soon as it is started. */
  readonly onSpawn?: (pid: number) => void;
  /** The child's environment; default iova's own (see `qemu10Command`). */
  readonly env?: NodeJS.ProcessEnv;
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
/** Keep this much of QEMU's stderr: enough for its first error line. */
const STDERR_KEPT = 64 * 1024;

/**
 * Starts `argv` (binary first) with `-S` and a private QMP socket and connects to it. A number
 * for `options` is the connect timeout (the older form).
 */
export async function launchQemu(
  argv: readonly string[],
  options: LaunchOptions | number = {},
): Promise<LaunchedQemu> {
  const o: LaunchOptions = typeof options === "number" ? { connectTimeoutMs: options } : options;
  if (argv.length === 0 || argv[0] === "")
    throw new QmpError("no QEMU command line given (iova qemu -- qemu-system-... ARGS)");
  const connectTimeoutMs = o.connectTimeoutMs ?? 20_000;
  const dir = mkdtempSync(join(o.tmpRoot ?? tmpdir(), "iova-qemu-"));
  const socket = join(dir, "qmp.sock");
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  let child: ChildProcess;
  try {
    child = spawn(argv[0], [...argv.slice(1), "-S", "-qmp", `unix:${socket},server=on,wait=off`], {
      stdio: ["ignore", "ignore", "pipe"],
      env: o.env ?? process.env,
    });
  } catch (e) {
    removeDir();
    throw new QmpError(`cannot start ${argv[0]}: ${(e as Error).message}`);
  }
  if (child.pid !== undefined) o.onSpawn?.(child.pid);
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    if (stderr.length < STDERR_KEPT) stderr += d.slice(0, STDERR_KEPT - stderr.length);
  });
  const exited = new Promise<string>((resolve) => {
    child.once("error", (e) =>
      resolve(
        `cannot start ${argv[0]}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such program" : e.message}`,
      ),
    );
    child.once("exit", (code, signal) => {
      const how = code === null ? `killed by ${signal}` : `exited (${code})`;
      const line = stderr.trim().split("\n", 1)[0] ?? "";
      resolve(`${argv[0]} ${how}${line ? `: ${line}` : ""}`);
    });
  });
  let gone = false;
  const stopConnecting = new AbortController();
  void exited.then(() => {
    gone = true;
    stopConnecting.abort();
  });

  const killNow = () => {
    if (!gone && child.pid !== undefined) child.kill("SIGKILL");
  };
  // Last resorts: iova exiting (a crash included) or being told to stop by a signal.
  const onExit = () => {
    killNow();
    removeDir();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    onExit();
    release();
    // Nobody else handles it: end as the signal would have ended iova.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const release = () => {
    process.off("exit", onExit);
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  process.on("exit", onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
  const shutdown = async () => {
    killNow();
    await exited;
    removeDir();
    release();
  };

  const connecting = QmpClient.connect(socket, {
    connectTimeoutMs,
    timeoutMs: o.timeoutMs,
    maxMessageChars: o.maxMessageChars,
    signal: stopConnecting.signal,
  }).then(
    (client) => ({ client }),
    (error: Error) => ({ error }),
  );
  const first = await Promise.race([connecting, exited.then((why) => ({ why }))]);
  if ("why" in first) {
    void connecting.then((r) => ("client" in r ? r.client.close() : undefined));
    await shutdown();
    throw new QmpError(first.why);
  }
  if ("error" in first) {
    const neverOpened = !gone && /cannot connect to QMP socket/.test(first.error.message);
    await shutdown();
    throw new QmpError(
      neverOpened
        ? `${argv[0]} did not open its QMP socket within ${connectTimeoutMs} ms; it was killed`
        : `${first.error.message}; ${argv[0]} was killed`,
    );
  }
  const client = first.client;
  return {
    client,
    pid: child.pid ?? 0,
    async stop() {
      await client.execute("quit").catch(() => {});
      client.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        exited,
        new Promise((r) => {
          timer = setTimeout(r, o.quitGraceMs ?? 5000);
        }),
      ]);
      clearTimeout(timer);
      await shutdown();
    },
  };
}
