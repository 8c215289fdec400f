/**
 * `iova qtest --machine CMDLINE-FILE SCRIPT`: builds a q35 machine from a QEMU command line and
 * replays a qtest transcript on it, printing iova's reply to every command (as a transcript:
 * command, tab, reply), and with `--mtree` the machine's `info mtree` afterwards. Exit 0 when every recorded reply matches, 1 at the first one that
 * differs (or when the model dies where QEMU would), 2 for bad input.
 */
import { readFileSync } from "node:fs";
import { Q35Machine } from "../machine/q35.ts";
import type { QemuLine } from "../machine/qemu-line.ts";
import { formatMtree } from "../memory/mtree/print.ts";
import { q35ConfigFromArgv, splitCommandLine } from "../qtest/cmdline.ts";
import { QtestSession } from "../qtest/protocol.ts";
import { parseTranscript, replayTranscript } from "../qtest/transcript.ts";

/** The command's options, already parsed. */
export interface QtestCommandOptions {
  /** File holding QEMU's command line (the binary optional; sockets and display ignored). */
  readonly machine: string;
  /** The transcript or script. */
  readonly script: string;
  /** Which QEMU release the machine models (default 7.2). */
  readonly qemu?: QemuLine;
  /** Print only the verdict, not every reply. */
  readonly quiet?: boolean;
  /** After the replay, print `info mtree` with these flags. */
  readonly mtree?: { readonly flat: boolean; readonly disabled: boolean; readonly owners: boolean };
}

function read(path: string): string | { error: string } {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    return { error: `${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}` };
  }
}

/** Runs the command; returns the exit code. */
export function runQtestCommand(
  options: QtestCommandOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): number {
  const cmdline = read(options.machine);
  if (typeof cmdline !== "string") {
    err(`${cmdline.error}\n`);
    return 2;
  }
  const script = read(options.script);
  if (typeof script !== "string") {
    err(`${script.error}\n`);
    return 2;
  }
  let machine: Q35Machine;
  try {
    const words = splitCommandLine(
      cmdline
        .split("\n")
        .filter((l) => !l.startsWith("#"))
        .join(" "),
    );
    machine = new Q35Machine({ ...q35ConfigFromArgv(words), qemu: options.qemu });
  } catch (e) {
    err(`${options.machine}: ${(e as Error).message}\n`);
    return 2;
  }
  const result = replayTranscript(new QtestSession(machine), parseTranscript(script));
  if (!options.quiet) for (const r of result.replies) out(`${r.command}\t${r.reply}\n`);
  if (options.mtree) out(formatMtree(machine.memory, options.mtree));
  const m = result.mismatch;
  if (m) {
    err(
      `${options.script}:${m.line}: ${m.command}: QEMU replied '${m.expected}', iova replies '${m.actual}'\n`,
    );
    return 1;
  }
  if (result.aborted !== undefined && !result.abortRecorded) {
    err(`${options.script}: QEMU would die here: ${result.aborted}\n`);
    return 1;
  }
  const checked = parseTranscript(script).filter((l) => l.kind === "command" && l.expected);
  err(`${result.replies.length} commands, ${checked.length} recorded replies, all equal\n`);
  return 0;
}
