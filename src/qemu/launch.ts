/**
 * Starting a QEMU paused with a private QMP socket, for `iova qemu`: a clear error when the
 * binary is missing or QEMU refuses its command line, and a clean `quit` at the end.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QmpClient, QmpError } from "./qmp.ts";

/** A QEMU started by iova. */
export interface LaunchedQemu {
  readonly client: QmpClient;
  /** Sends `quit` and waits for the process to end. */
  stop(): Promise<void>;
}

/** Starts `argv` (binary first) with `-S` and a private QMP socket. */
export async function launchQemu(
  argv: readonly string[],
  timeoutMs = 20_000,
): Promise<LaunchedQemu> {
  if (argv.length === 0)
    throw new QmpError("no QEMU command line given (iova qemu -- qemu-system-... ARGS)");
  const dir = mkdtempSync(join(tmpdir(), "iova-qemu-"));
  const socket = join(dir, "qmp.sock");
  const child = spawn(
    argv[0],
    [...argv.slice(1), "-S", "-qmp", `unix:${socket},server=on,wait=off`],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  const exited = new Promise<string>((resolve) => {
    child.on("error", (e) =>
      resolve(
        `cannot start ${argv[0]}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such program" : e.message}`,
      ),
    );
    child.on("exit", (code) =>
      resolve(`${argv[0]} exited (${code}): ${stderr.trim().split("\n")[0] ?? ""}`),
    );
  });
  const connected = QmpClient.connect(socket, { connectTimeoutMs: timeoutMs });
  const first = await Promise.race([
    connected.then((c) => ({ c })),
    exited.then((why) => ({ why })),
  ]);
  if ("why" in first) {
    connected.then((c) => c.close()).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw new QmpError(first.why);
  }
  const client = first.c;
  return {
    client,
    async stop() {
      await client.execute("quit").catch(() => {});
      client.close();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
