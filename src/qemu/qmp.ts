/**
 * A small QMP client (QEMU's JSON machine protocol over a unix socket): greeting, capabilities
 * negotiation, commands with a timeout each. A QEMU that closes the socket or dies mid-call is an
 * error, never a hang. Only queries are sent by iova's commands; `quit` only to a QEMU it started.
 */
import { createConnection, type Socket } from "node:net";

/** A QMP failure: the connection, a timeout, or QEMU's error reply. */
export class QmpError extends Error {
  override name = "QmpError";
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** A connected QMP session. */
export class QmpClient {
  readonly #socket: Socket;
  readonly #timeoutMs: number;
  #buffer = "";
  #queue: Pending[] = [];
  #closed: Error | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.#onData(chunk));
    const fail = (why: string) => {
      this.#closed ??= new QmpError(why);
      for (const p of this.#queue.splice(0)) {
        clearTimeout(p.timer);
        p.reject(this.#closed);
      }
    };
    socket.on("close", () => fail("QEMU closed the QMP connection"));
    socket.on("error", (e) => fail(`QMP connection failed: ${e.message}`));
  }

  /** Connects to `path`, retrying until `connectTimeoutMs`, and negotiates capabilities. */
  static async connect(
    path: string,
    options: { timeoutMs?: number; connectTimeoutMs?: number } = {},
  ): Promise<QmpClient> {
    const deadline = Date.now() + (options.connectTimeoutMs ?? 10_000);
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        });
        const client = new QmpClient(socket, options.timeoutMs ?? 10_000);
        await client.#expect(); // greeting
        await client.execute("qmp_capabilities");
        return client;
      } catch (e) {
        if (Date.now() > deadline)
          throw new QmpError(`cannot connect to QMP socket ${path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let nl = this.#buffer.indexOf("\n");
    while (nl >= 0) {
      const line = this.#buffer.slice(0, nl).trim();
      this.#buffer = this.#buffer.slice(nl + 1);
      nl = this.#buffer.indexOf("\n");
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if ("event" in msg) continue;
      const p = this.#queue.shift();
      if (!p) continue;
      clearTimeout(p.timer);
      if ("error" in msg) {
        const err = msg.error as { desc?: string };
        p.reject(new QmpError(`QMP error: ${err.desc ?? JSON.stringify(err)}`));
      } else p.resolve("return" in msg ? msg.return : msg);
    }
  }

  #expect(): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.#queue.findIndex((p) => p.timer === timer);
        if (at >= 0) this.#queue.splice(at, 1);
        reject(new QmpError(`QMP call timed out after ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#queue.push({ resolve, reject, timer });
    });
  }

  /** Runs a QMP command and returns its `return` value. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const reply = this.#expect();
    this.#socket.write(
      `${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`,
    );
    return reply;
  }

  /** Runs an HMP command through `human-monitor-command` and returns its text (CR removed). */
  async hmp(commandLine: string): Promise<string> {
    const text = (await this.execute("human-monitor-command", {
      "command-line": commandLine,
    })) as string;
    return text.replace(/\r\n/g, "\n");
  }

  /** Closes the connection. */
  close(): void {
    this.#socket.destroy();
  }
}

/** The three dumps iova rebuilds a model from. */
export interface MtreeDumps {
  /** `info mtree -o -D`: the tree with owners and disabled regions. */
  readonly tree: string;
  /** `info mtree -f`: the flat views, the hint for what the tree leaves unsaid. */
  readonly flat: string;
}

/** Reads the dumps from a live QEMU: queries only, the VM's state is not changed. */
export async function readMtreeDumps(client: QmpClient): Promise<MtreeDumps> {
  const tree = await client.hmp("info mtree -o -D");
  const flat = await client.hmp("info mtree -f");
  return { tree, flat };
}
