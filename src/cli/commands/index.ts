/** Every command of `iova`, in the order `iova help` lists them. A new command is one line here. */
import type { CliCommand } from "../command.ts";
import { attachCommand, qemuCommand } from "./live.ts";
import { diffCommand, mtreeCommand } from "./mtree.ts";
import { qtestCommand } from "./qtest.ts";
import { checkCommand, runCommand } from "./run.ts";
import { serveCommand } from "./serve.ts";
import { traceCommand } from "./trace.ts";

export const COMMANDS: readonly CliCommand[] = [
  runCommand,
  checkCommand,
  mtreeCommand,
  diffCommand,
  attachCommand,
  qemuCommand,
  traceCommand,
  qtestCommand,
  serveCommand,
];
