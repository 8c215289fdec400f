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
import { QmpClient, QmpError } from "../../src/qemu/qmp.ts";

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
