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
  /** Calls in flight by id; QEMU echoes the id, so a reply that comes after its timeout is dropped. */
  readonly #pending = new Map<number, Pending>();
  #greeting: Pending | undefined;
  #nextId = 1;
  #closed: Error | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.#onData(chunk));
    const fail = (why: string) => {
      this.#closed ??= new QmpError(why);
      const waiting = [...this.#pending.values()];
      if (this.#greeting) waiting.push(this.#greeting);
      this.#pending.clear();
      this.#greeting = undefined;
      for (const p of waiting) {
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
      let socket: Socket;
      try {
        socket = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        });
      } catch (e) {
        // Not listening yet (a QEMU still starting): retry until the deadline.
        if (Date.now() > deadline)
          throw new QmpError(`cannot connect to QMP socket ${path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const client = new QmpClient(socket, options.timeoutMs ?? 10_000);
      try {
        await client.#waitGreeting();
        await client.execute("qmp_capabilities");
        return client;
      } catch (e) {
        client.close();
        throw new QmpError(`QMP handshake on ${path} failed: ${(e as Error).message}`);
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
      if (line) this.#onMessage(line);
    }
  }

  #onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if ("event" in msg) return;
    if ("QMP" in msg) {
      const g = this.#greeting;
      this.#greeting = undefined;
      if (g) {
        clearTimeout(g.timer);
        g.resolve(msg.QMP);
      }
      return;
    }
    const id = typeof msg.id === "number" ? msg.id : undefined;
    const p = id === undefined ? undefined : this.#pending.get(id);
    if (!p || id === undefined) return; // late reply to a call that already timed out
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if ("error" in msg) {
      const err = msg.error as { desc?: string };
      p.reject(new QmpError(`QMP error: ${err.desc ?? JSON.stringify(err)}`));
    } else p.resolve(msg.return);
  }

  #timer(what: string, drop: () => void, reject: (e: Error) => void): NodeJS.Timeout {
    return setTimeout(() => {
      drop();
      reject(new QmpError(`QMP ${what} timed out after ${this.#timeoutMs} ms`));
    }, this.#timeoutMs);
  }

  #waitGreeting(): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      const timer = this.#timer("greeting", () => (this.#greeting = undefined), reject);
      this.#greeting = { resolve, reject, timer };
    });
  }

  /** Runs a QMP command and returns its `return` value. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    const reply = new Promise((resolve, reject) => {
      const timer = this.#timer(`call ${command}`, () => this.#pending.delete(id), reject);
      this.#pending.set(id, { resolve, reject, timer });
    });
    const message = args ? { execute: command, arguments: args, id } : { execute: command, id };
    this.#socket.write(`${JSON.stringify(message)}\n`);
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
