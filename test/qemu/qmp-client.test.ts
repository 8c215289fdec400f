/**
 * The QMP client against a scripted server on a unix socket: the failures a live QEMU can produce
 * (dying mid-call, never answering, answering late, refusing a command) are errors, never hangs.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { QmpClient, QmpError, readMtreeDumps } from "../../src/qemu/qmp.ts";

const dir = mkdtempSync(join(tmpdir(), "iova-qmp-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let serial = 0;

type Handler = (msg: { execute: string; arguments?: unknown; id?: unknown }, sock: Socket) => void;

/** A fake QEMU: greets, accepts qmp_capabilities, and passes every other command to `handle`. */
async function fakeQemu(handle: Handler): Promise<{ path: string; server: Server }> {
  const path = join(dir, `qmp-${serial++}.sock`);
  const server = createServer((sock) => {
    sock.setEncoding("utf8");
    sock.write(`${JSON.stringify({ QMP: { version: {}, capabilities: [] } })}\r\n`);
    let buf = "";
    sock.on("data", (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.execute === "qmp_capabilities") reply(sock, { return: {}, id: msg.id });
        else handle(msg, sock);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, server };
}

function reply(sock: Socket, msg: unknown): void {
  sock.write(`${JSON.stringify(msg)}\r\n`);
}

test("an HMP command's text comes back with CR removed; events in between are skipped", async () => {
  const { path, server } = await fakeQemu((msg, sock) => {
    reply(sock, { event: "STOP", timestamp: {} });
    reply(sock, { return: "line 1\r\nline 2\r\n", id: msg.id });
  });
  const client = await QmpClient.connect(path);
  assert.equal(await client.hmp("info mtree -f"), "line 1\nline 2\n");
  client.close();
  server.close();
});

test("QEMU's error reply is a QmpError carrying its description", async () => {
  const { path, server } = await fakeQemu((msg, sock) =>
    reply(sock, {
      error: { class: "CommandNotFound", desc: "The command foo has not been found" },
      id: msg.id,
    }),
  );
  const client = await QmpClient.connect(path);
  await assert.rejects(
    client.execute("foo"),
    (e: Error) => e instanceof QmpError && /foo has not been found/.test(e.message),
  );
  client.close();
  server.close();
});

test("a QEMU that dies mid-call is an error, not a hang", async () => {
  const { path, server } = await fakeQemu((_msg, sock) => sock.destroy());
  const client = await QmpClient.connect(path, { timeoutMs: 60_000 });
  await assert.rejects(client.hmp("info mtree"), /closed the QMP connection/);
  // And every later call fails at once.
  await assert.rejects(client.execute("query-status"), /closed the QMP connection/);
  server.close();
});

test("a call QEMU never answers times out; its late reply is not taken for the next call's", async () => {
  let first: { id?: unknown; sock: Socket } | undefined;
  const { path, server } = await fakeQemu((msg, sock) => {
    if (msg.execute === "slow") {
      first = { id: msg.id, sock };
      return;
    }
    // Answer the timed-out call first, then this one: the client must match by id.
    if (first) reply(first.sock, { return: "stale", id: first.id });
    reply(sock, { return: "fresh", id: msg.id });
  });
  const client = await QmpClient.connect(path, { timeoutMs: 100 });
  await assert.rejects(client.execute("slow"), /QMP call slow timed out after 100 ms/);
  assert.equal(await client.execute("query-status"), "fresh");
  client.close();
  server.close();
});

test("a socket nobody listens on is a clear error after the connect deadline", async () => {
  await assert.rejects(
    QmpClient.connect(join(dir, "absent.sock"), { connectTimeoutMs: 100 }),
    /cannot connect to QMP socket .*absent\.sock/,
  );
});

test("a server that accepts but never greets fails the handshake by timeout", async () => {
  const path = join(dir, `mute-${serial++}.sock`);
  const server = createServer(() => {});
  await new Promise<void>((r) => server.listen(path, r));
  await assert.rejects(
    QmpClient.connect(path, { timeoutMs: 100 }),
    /handshake .* failed: QMP greeting timed out/,
  );
  server.close();
});

/** A fake QEMU that answers every command with the raw line `line` (the id spliced in by `make`). */
async function rawReplies(make: (id: unknown) => string) {
  return fakeQemu((msg, sock) => sock.write(`${make(msg.id)}\r\n`));
}

for (const [what, line] of [
  ["null", "null"],
  ["a number", "123"],
  ["a string", '"s"'],
  ["an array", '[{"return": {}}]'],
] as const) {
  test(`a QMP line that is JSON but ${what}, not an object, ends the session with a clear error`, async () => {
    const { path, server } = await rawReplies(() => line);
    const client = await QmpClient.connect(path);
    await assert.rejects(
      client.execute("query-status"),
      (e: Error) => e instanceof QmpError && /not a JSON object/.test(e.message),
    );
    await assert.rejects(client.execute("query-status"), /not a JSON object/);
    client.close();
    server.close();
  });
}

test("a line that is not JSON at all ends the session with a clear error", async () => {
  const { path, server } = await rawReplies(() => "{ this is not json");
  const client = await QmpClient.connect(path);
  await assert.rejects(client.execute("query-status"), /QMP line that is not JSON: \{ this is/);
  client.close();
  server.close();
});

test('"error": null, or an error without a description, is a protocol error', async () => {
  for (const error of ["null", "{}", '{"desc": 5}', '"oops"']) {
    const { path, server } = await rawReplies((id) => `{"error": ${error}, "id": ${id}}`);
    const client = await QmpClient.connect(path);
    await assert.rejects(client.execute("query-status"), /QMP error without a description/);
    client.close();
    server.close();
  }
});

test("a reply with neither return nor error is a protocol error", async () => {
  const { path, server } = await rawReplies((id) => `{"id": ${id}}`);
  const client = await QmpClient.connect(path);
  await assert.rejects(client.execute("query-status"), /neither return nor error/);
  client.close();
  server.close();
});

test("a human-monitor-command return that is not a string is a QmpError", async () => {
  for (const value of [{}, 42, null, ["x"]]) {
    const { path, server } = await fakeQemu((msg, sock) =>
      reply(sock, { return: value, id: msg.id }),
    );
    const client = await QmpClient.connect(path);
    await assert.rejects(
      client.hmp("info mtree -f"),
      (e: Error) => e instanceof QmpError && /returned .*, not text/.test(e.message),
    );
    client.close();
    server.close();
  }
});

test("an HMP reply that is not memory-tree text is a QmpError naming the command", async () => {
  const { path, server } = await fakeQemu((msg, sock) =>
    reply(sock, { return: "unknown command: 'info'\r\n", id: msg.id }),
  );
  const client = await QmpClient.connect(path);
  await assert.rejects(
    readMtreeDumps(client),
    /reply to 'info mtree -o -D' is not memory-tree text: unknown command: 'info'/,
  );
  client.close();
  server.close();
});

test("a message past the receive cap ends the session, saying the limit", async () => {
  const { path, server } = await fakeQemu((msg, sock) =>
    reply(sock, { return: "x".repeat(5000), id: msg.id }),
  );
  const client = await QmpClient.connect(path, { maxMessageChars: 1000 });
  await assert.rejects(
    client.execute("human-monitor-command"),
    /QMP message longer than 1000 characters/,
  );
  client.close();
  server.close();
});

test("a 40 MB reply arriving in many chunks is read whole (each byte scanned once)", async () => {
  const text = `address-space: memory\n${"y".repeat(40 * 2 ** 20)}`;
  const { path, server } = await fakeQemu((msg, sock) => reply(sock, { return: text, id: msg.id }));
  const client = await QmpClient.connect(path);
  const got = await client.hmp("info mtree -o -D");
  assert.equal(got.length, text.length);
  client.close();
  server.close();
});
