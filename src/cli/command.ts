/**
 * What a command of `iova` is: a name, its arguments and options (declared on a commander
 * `Command`), and a function that runs it. Adding a command is one such object and one line in
 * src/cli/commands/index.ts.
 */
import type { Command } from "commander";
import type { diffMtree, importMtree, loadScenario, runScenario } from "../index.ts";
import type { MtreeDumps } from "../qemu/qmp.ts";
import type { QemuIdentity } from "../qemu/version.ts";
import type { Style } from "./text-report.ts";

/** A QMP session as the live commands use it. */
export interface QmpSession {
  close(): void;
}

/** The library functions the commands call, replaceable (tests drive failures through them). */
export interface CliDeps {
  readonly runScenario: typeof runScenario;
  readonly loadScenario: typeof loadScenario;
  readonly importMtree: typeof importMtree;
  readonly diffMtree: typeof diffMtree;
  readonly connectQmp: (path: string) => Promise<QmpSession>;
  readonly readMtreeDumps: (client: QmpSession) => Promise<MtreeDumps>;
  /** Which QEMU answers (`query-version`). */
  readonly queryQemuVersion: (client: QmpSession) => Promise<QemuIdentity>;
  readonly launchQemu: (
    argv: readonly string[],
  ) => Promise<{ client: QmpSession; stop(): Promise<void> }>;
  /** A clock in milliseconds, for progress on a terminal. */
  readonly now: () => number;
  /** SHA-256 of bytes, as hex. */
  readonly sha256: (bytes: Uint8Array) => string;
}

/** What a command runs with: where to write, the environment, and its dependencies. */
export interface CliContext {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  /** Styling for stdout (colour only on a terminal, or when FORCE_COLOR asks). */
  readonly style: Style;
  readonly deps: CliDeps;
}

/** One command of `iova`. */
export interface CliCommand {
  readonly name: string;
  /** One line for `iova help`. */
  readonly summary: string;
  /** Declares the command's arguments, options and longer help on commander's command. */
  readonly define: (command: Command) => void;
  /** Runs the command: its positional arguments (commander's processed ones), its options. */
  readonly run: (
    context: CliContext,
    args: readonly unknown[],
    options: Readonly<Record<string, unknown>>,
  ) => number | Promise<number>;
  /**
   * True when `run` returns a promise (only `mainAsync` can run it); a function when that depends
   * on the arguments (given without the command's name).
   */
  readonly async?: boolean | ((args: readonly string[]) => boolean);
}
