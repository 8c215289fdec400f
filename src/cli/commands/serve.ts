/**
 * `iova serve`: the playground page on http://127.0.0.1:PORT/ until SIGINT. The page does all its
 * work in the browser; the server only hands out the one file (the same page works opened as a
 * file). It binds the loopback address only and answers only requests addressed to it by name
 * (127.0.0.1 or localhost), so a web page elsewhere cannot reach it through DNS rebinding.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { CliCommand, CliContext } from "../command.ts";
import { UsageError } from "../errors.ts";

/** The port `iova serve` listens on unless told otherwise. */
export const DEFAULT_PORT = 7272;
const HOST = "127.0.0.1";

/** A port as the user wrote it: decimal, 0 (any free port) to 65535. */
export function parsePort(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535)
    throw new UsageError(`--port takes a port number from 0 to 65535, not '${text}'`);
  return Number(text);
}

/**
 * The page: dist/playground.html beside the compiled CLI (what the package carries), or, run from
 * a source checkout, built now from the sources by the same script `npm run build` uses.
 */
async function playgroundPage(context: CliContext): Promise<string> {
  const built = new URL("../../playground.html", import.meta.url);
  if (existsSync(built)) return readFileSync(built, "utf8");
  const script = new URL("../../../scripts/build-playground.mjs", import.meta.url);
  if (!existsSync(script))
    throw new UsageError(`the playground page is missing (${built.pathname}): npm run build`);
  context.err("iova: building the playground page from the sources\n");
  const { buildPlayground } = (await import(script.href)) as { buildPlayground: () => string };
  return buildPlayground();
}

/** Answers one request: the page at /, nothing else. */
function answer(page: Buffer, port: number, req: IncomingMessage, res: ServerResponse): void {
  const host = req.headers.host ?? "";
  if (host !== `${HOST}:${port}` && host !== `localhost:${port}`) {
    res.writeHead(403, { "content-type": "text/plain; charset=utf-8" }).end("wrong host\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("only GET and HEAD\n");
    return;
  }
  const path = (req.url ?? "/").split("?")[0];
  if (path !== "/" && path !== "/index.html" && path !== "/playground.html") {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
    return;
  }
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "content-length": page.length,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(req.method === "HEAD" ? undefined : page);
}

/** Listens, or says in one line why it cannot. */
function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      const where = `port ${port} on ${HOST}`;
      if (e.code === "EADDRINUSE") reject(new UsageError(`${where} is in use (try --port N)`));
      else if (e.code === "EACCES")
        reject(new UsageError(`${where}: permission denied (ports below 1024 need privileges)`));
      else reject(new UsageError(`${where}: cannot listen: ${e.code ?? e.message}`));
    });
    server.listen(port, HOST, () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

/** `iova serve`. */
export const serveCommand: CliCommand = {
  name: "serve",
  summary: "serve the playground (iova in the browser) on http://127.0.0.1:PORT/ until Ctrl+C",
  async: true,
  define(c) {
    c.option(
      "--port <n>",
      `the port on 127.0.0.1 (0: any free one; default ${DEFAULT_PORT})`,
      String(DEFAULT_PORT),
    ).addHelpText(
      "after",
      "\nThe page runs everything in the browser (no work on the server) and also works opened\nas a file: dist/playground.html in the package. Exit status: 0 when stopped by SIGINT or\nSIGTERM, 2 for a bad or busy port.",
    );
  },
  async run(context, _args, options) {
    const port = parsePort(String(options.port));
    const page = Buffer.from(await playgroundPage(context), "utf8");
    let bound = port;
    const server = createServer((req, res) => answer(page, bound, req, res));
    bound = await listen(server, port);
    context.out(`iova playground: http://${HOST}:${bound}/\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        server.close(() => resolve());
        server.closeAllConnections();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    context.err("iova: stopped\n");
    return 0;
  },
};
