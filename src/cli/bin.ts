#!/usr/bin/env node
/** Entry point of the `iova` executable. */
import { mainAsync } from "./main.ts";

// A reader that stops early (`iova run | head`) closes the pipe: stop quietly, as cat(1) would.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  process.stderr.write(`iova: stdout: ${e.message}\n`);
  process.exit(74);
});
process.exitCode = await mainAsync(process.argv.slice(2));
