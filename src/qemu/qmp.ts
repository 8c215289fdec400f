/**
 * A small QMP client (QEMU's JSON machine protocol over a unix socket): greeting, capabilities
 * negotiation, commands with a timeout each. A QEMU that closes the socket or dies mid-call is an
 * error, never a hang. Every message is checked before use: a line that is not a JSON object, an
 * error without a description, a reply with neither `return` nor `error` end the session with a
 * `QmpError`. The receive buffer is capped (`maxMessageChars`) and each byte is scanned once.
 * Only queries are sent by iova's commands; `quit` only to a QEMU it started.
 */
import { createConnection, type Socket } from "node:net";

/**
 * The default cap on one QMP message: 256 Mi characters. A large machine's `info mtree -o -D`
 * is a few MB; JSON escaping at most doubles it.
 */
export const DEFAULT_MAX_MESSAGE_CHARS = 256 * 2 ** 20;

/** A QMP failure: the connection, a timeout, or QEMU's error reply. */
export class QmpError extends Error {
  override name = "QmpError";
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Options of a QMP session. */
export interface QmpOptions {
  /** Each command's (and the greeting's) timeout; default 10 s. */
  readonly timeoutMs?: number;
  /** How long to retry connecting while nobody listens; default 10 s. */
  readonly connectTimeoutMs?: number;
  /** The longest message accepted, in characters; default `DEFAULT_MAX_MESSAGE_CHARS`. */
  readonly maxMessageChars?: number;
  /** Stops connecting (the QEMU being waited for has gone). */
  readonly signal?: AbortSignal;
}

/** A short, printable excerpt of a bad message. */
function excerpt(text: string): string {
  const flat = text.slice(0, 81).replace(/\s+/g, " ");
  return text.length > 80 ? `${flat.slice(0, 80)}…` : flat;
}

/** A connected QMP session. */
export class QmpClient {
  readonly #socket: Socket;
  readonly #timeoutMs: number;
  readonly #maxChars: number;
  /** The received part of the current line, as it came (joined once the line is complete). */
  readonly #partial: string[] = [];
  #partialChars = 0;
  /** Calls in flight by id; QEMU echoes the id, so a reply that comes after its timeout is dropped. */
  readonly #pending = new Map<number, Pending>();
  #greeting: Pending | undefined;
  #nextId = 1;
  #closed: Error | undefined;

  private constructor(socket: Socket, timeoutMs: number, maxChars: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    this.#maxChars = maxChars;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.#onData(chunk));
    socket.on("close", () => this.#fail("QEMU closed the QMP connection"));
    socket.on("error", (e) => this.#fail(`QMP connection failed: ${e.message}`));
  }

  /** Ends the session: every waiting call fails with `why`, later ones at once. */
  #fail(why: string): void {
    this.#closed ??= new QmpError(why);
    const waiting = [...this.#pending.values()];
    if (this.#greeting) waiting.push(this.#greeting);
    this.#pending.clear();
    this.#greeting = undefined;
    for (const p of waiting) {
      clearTimeout(p.timer);
      p.reject(this.#closed);
    }
    this.#socket.destroy();
  }

  /** Connects to `path`, retrying until `connectTimeoutMs`, and negotiates capabilities. */
  static async connect(path: string, options: QmpOptions = {}): Promise<QmpClient> {
    const deadline = Date.now() + (options.connectTimeoutMs ?? 10_000);
    const signal = options.signal;
    for (;;) {
      if (signal?.aborted) throw new QmpError(`stopped connecting to QMP socket ${path}`);
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
      const client = new QmpClient(
        socket,
        options.timeoutMs ?? 10_000,
        options.maxMessageChars ?? DEFAULT_MAX_MESSAGE_CHARS,
      );
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

  /** Splits the stream into lines, looking at each received character once. */
  #onData(chunk: string): void {
    let from = 0;
    for (let nl = chunk.indexOf("\n"); nl >= 0; nl = chunk.indexOf("\n", from)) {
      if (this.#partialChars + nl - from > this.#maxChars) {
        this.#tooLong();
        return;
      }
      this.#partial.push(chunk.slice(from, nl));
      const line = this.#partial.join("").trim();
      this.#partial.length = 0;
      this.#partialChars = 0;
      from = nl + 1;
      if (line) this.#onMessage(line);
      if (this.#closed) return;
    }
    if (from < chunk.length) {
      this.#partialChars += chunk.length - from;
      if (this.#partialChars > this.#maxChars) {
        this.#tooLong();
        return;
      }
      this.#partial.push(from === 0 ? chunk : chunk.slice(from));
    }
  }

  #tooLong(): void {
    this.#partial.length = 0;
    this.#partialChars = 0;
    this.#fail(
      `QEMU sent a QMP message longer than ${this.#maxChars} characters (raise the QMP message limit)`,
    );
  }

  #onMessage(line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.#fail(`QEMU sent a QMP line that is not JSON: ${excerpt(line)}`);
      return;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      this.#fail(`QEMU sent a QMP message that is not a JSON object: ${excerpt(line)}`);
      return;
    }
    const msg = parsed as Record<string, unknown>;
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
    if ("error" in msg) {
      const err = msg.error as { desc?: unknown } | null;
      if (typeof err !== "object" || err === null || typeof err.desc !== "string") {
        this.#fail(`QEMU sent a QMP error without a description: ${excerpt(line)}`);
        return;
      }
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new QmpError(`QMP error: ${err.desc}`));
    } else if ("return" in msg) {
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(msg.return);
    } else {
      this.#fail(`QEMU sent a QMP reply with neither return nor error: ${excerpt(line)}`);
    }
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
    const text = await this.execute("human-monitor-command", { "command-line": commandLine });
    if (typeof text !== "string") {
      throw new QmpError(
        `human-monitor-command '${commandLine}' returned ${excerpt(JSON.stringify(text) ?? String(text))}, not text`,
      );
    }
    return text.replace(/\r\n/g, "\n");
  }

  /** Closes the connection. */
  close(): void {
    this.#closed ??= new QmpError("the QMP connection was closed");
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
  expectMtree(tree, "info mtree -o -D", /^address-space: /m);
  const flat = await client.hmp("info mtree -f");
  expectMtree(flat, "info mtree -f", /^FlatView #\d+/m);
  return { tree, flat };
}

/** A reply that is not the memory-tree text asked for (an error message, another command's). */
function expectMtree(text: string, command: string, shape: RegExp): void {
  if (!shape.test(text)) {
    const first = text.split("\n", 1)[0] ?? "";
    throw new QmpError(
      `QEMU's reply to '${command}' is not memory-tree text: ${first ? excerpt(first) : "(empty)"}`,
    );
  }
}
