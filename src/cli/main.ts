/**
 * The `iova` command. Exit codes: 0 success, 1 something checked failed (or, for `diff`, the two
 * sides differ), 2 bad input (`iova: path:line: message` on stderr), 70 an internal error (one
 * line; the stack only when IOVA_DEBUG is set). Every error line starts with `iova:`.
 *
 * Arguments are parsed with commander: per-command options and help, `--version`, unknown options
 * refused, all from one declaration per command (node:util parseArgs has no subcommands, help
 * text or choices, so each of those would be written here by hand).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { MachineTypeError } from "../machine/machine-type.ts";
import { diffMtree } from "../memory/mtree/diff.ts";
import { importMtree } from "../memory/mtree/import.ts";
import { MtreeSyntaxError } from "../memory/mtree/parse.ts";
import { launchQemu } from "../qemu/launch.ts";
import { QmpClient, QmpError, readMtreeDumps } from "../qemu/qmp.ts";
import { queryQemuVersion } from "../qemu/version.ts";
import { loadScenario } from "../scenario/load.ts";
import { ScenarioError } from "../scenario/reader.ts";
import { runScenario } from "../scenario/run.ts";
import type { CliCommand, CliContext, CliDeps } from "./command.ts";
import { COMMANDS } from "./commands/index.ts";
import { UsageError } from "./errors.ts";
import { COLOUR, PLAIN } from "./text-report.ts";

/** Exit code of bad input. */
export const EXIT_USAGE = 2;
/** Exit code of an internal error (sysexits' EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

/** How `main` runs: the environment and the dependencies (tests replace them). */
export interface MainOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly stdoutIsTTY?: boolean;
  readonly stderrIsTTY?: boolean;
  readonly deps?: Partial<CliDeps>;
}

const DEFAULT_DEPS: CliDeps = {
  runScenario,
  loadScenario,
  importMtree,
  diffMtree,
  connectQmp: (path) => QmpClient.connect(path, { connectTimeoutMs: 2000 }),
  readMtreeDumps: (client) => readMtreeDumps(client as QmpClient),
  queryQemuVersion: (client) => queryQemuVersion(client as QmpClient),
  launchQemu: (argv) => launchQemu(argv),
  now: () => performance.now(),
  sha256: (bytes) => createHash("sha256").update(bytes).digest("hex"),
};

/** The package's version, from package.json (two levels up from src/cli and dist/cli alike). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return String(pkg.version);
}

/** Colour on stdout: FORCE_COLOR (not 0/false) forces it, NO_COLOR turns it off, else a terminal. */
export function wantsColour(env: MainOptions["env"] = {}, isTTY = false): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return isTTY;
}

function contextFor(
  out: (s: string) => void,
  err: (s: string) => void,
  options: MainOptions,
): CliContext {
  const env = options.env ?? process.env;
  const stdoutIsTTY = options.stdoutIsTTY ?? process.stdout.isTTY === true;
  return {
    out,
    err,
    env,
    stdoutIsTTY,
    stderrIsTTY: options.stderrIsTTY ?? process.stderr.isTTY === true,
    style: wantsColour(env, stdoutIsTTY) ? COLOUR : PLAIN,
    deps: { ...DEFAULT_DEPS, ...options.deps },
  };
}

/** The commander program: every registered command, the result of the one that ran in `ran`. */
function program(context: CliContext, ran: { result?: number | Promise<number> }): Command {
  const root = new Command("iova")
    .description(
      "an executable model of a virtual machine's DMA path as QEMU builds it: memory regions, flat views, IOMMUs, sPAPR TCE windows and VFIO",
    )
    .version(version(), "-V, --version", "print the version")
    .helpOption("-h, --help", "print help")
    .helpCommand("help [command]", "print a command's help")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: context.out,
      writeErr: context.err,
      outputError: (message, write) => write(`iova: ${message.replace(/^error: /, "")}`),
    })
    .addHelpText(
      "after",
      "\nExit status: 0 ok, 1 a check or expectation failed (diff: the sides differ), 2 bad input,\n70 internal error (set IOVA_DEBUG=1 for the stack). NO_COLOR and FORCE_COLOR are honoured.",
    );
  for (const spec of COMMANDS) {
    const c = root.command(spec.name).description(spec.summary);
    spec.define(c);
    c.helpOption("-h, --help", "print this command's help")
      .exitOverride()
      .configureOutput({
        writeOut: context.out,
        writeErr: context.err,
        outputError: (message, write) =>
          write(
            // Commander's "(Did you mean --x?)" comes on a line of its own: keep one `iova:` line.
            `iova: ${message
              .replace(/^error: /, "")
              .trimEnd()
              .replace(/\n/g, " ")} (see 'iova help ${spec.name}')\n`,
          ),
      })
      .action((...a: unknown[]) => {
        const command = a[a.length - 1] as Command;
        ran.result = spec.run(context, command.processedArgs, command.opts());
      });
  }
  return root;
}

/** One error as the line (or lines) the user sees, and the exit code. */
function report(e: unknown, context: CliContext): number {
  if (e instanceof CommanderError) {
    // Help and --version end parsing this way; everything else is a usage error, already printed.
    if (
      e.code === "commander.helpDisplayed" ||
      e.code === "commander.version" ||
      e.code === "commander.help"
    )
      return 0;
    return EXIT_USAGE;
  }
  if (
    e instanceof UsageError ||
    e instanceof ScenarioError ||
    e instanceof MachineTypeError ||
    e instanceof QmpError ||
    e instanceof MtreeSyntaxError
  ) {
    context.err(`iova: ${e.message.replace(/^iova: /, "").trimEnd()}\n`);
    return EXIT_USAGE;
  }
  const message =
    e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
  context.err(`iova: internal error: ${message.split("\n")[0]}\n`);
  if (context.env.IOVA_DEBUG) context.err(`${e instanceof Error ? e.stack : String(e)}\n`);
  return EXIT_INTERNAL;
}

function commandOf(argv: readonly string[]): CliCommand | undefined {
  return COMMANDS.find((c) => c.name === argv[0]);
}

/** Whether the command `argv` names runs asynchronously with these arguments. */
function runsAsync(argv: readonly string[]): boolean {
  const a = commandOf(argv)?.async;
  return typeof a === "function" ? a(argv.slice(1)) : a === true;
}

/** Runs the CLI (every command but the live ones); returns the exit code. */
export function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
  options: MainOptions = {},
): number {
  const context = contextFor(out, err, options);
  try {
    if (runsAsync(argv)) throw new Error(`'${argv[0]}' runs asynchronously: call mainAsync`);
    const ran: { result?: number | Promise<number> } = {};
    const root = program(context, ran);
    if (argv.length === 0) {
      out(root.helpInformation());
      return 0;
    }
    root.parse([...argv], { from: "user" });
    return (ran.result as number | undefined) ?? 0;
  } catch (e) {
    return report(e, context);
  }
}

/** Runs the CLI, the live commands (`attach`, `qemu`) included; resolves to the exit code. */
export async function mainAsync(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
  options: MainOptions = {},
): Promise<number> {
  if (!runsAsync(argv)) return main(argv, out, err, options);
  const context = contextFor(out, err, options);
  try {
    const ran: { result?: number | Promise<number> } = {};
    await program(context, ran).parseAsync([...argv], { from: "user" });
    return (await ran.result) ?? 0;
  } catch (e) {
    return report(e, context);
  }
}
