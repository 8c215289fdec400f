/**
 * `iova trace LOG --machine CMDLINE-FILE`: a QEMU trace log replayed through the model (see
 * src/trace/). Prints the final windows, entries and host mappings as `iova run` does, the first
 * place the log and the model differ with a few events around it, what the log does not say, and
 * the verdicts. Exit 0 when everything agrees, 1 when something differs, 2 on bad input.
 */
import { closeSync, openSync, readSync, writeFileSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import type { QemuLine } from "../machine/qemu-line.ts";
import { ScenarioError } from "../scenario/reader.ts";
import type { Behaviour } from "../scenario/schema.ts";
import { CommandLineError, parseCommandLine, type TracedMachine } from "../trace/cmdline.ts";
import type { Assumption } from "../trace/rebuild.ts";
import { TraceSyntaxError } from "../trace/record.ts";
import { replayTrace, type TraceReplay } from "../trace/replay.ts";
import { flatViewPictures, renderReportHtml } from "../view/index.ts";
import { UsageError } from "./errors.ts";
import { PLAIN, type Style } from "./text-report.ts";
import { formatTrace } from "./trace-text.ts";

export { formatTrace } from "./trace-text.ts";

/** The parsed options of `iova trace`. */
export interface TraceCommandOptions {
  readonly log: string;
  /** The QEMU command line file. */
  readonly machine?: string;
  /** The machine read from a live QEMU (`--qmp`), instead of a command line file. */
  readonly live?: { readonly machine: TracedMachine; readonly source: string };
  readonly json?: boolean;
  readonly html?: string;
  readonly scenario?: string;
  readonly assume?: string;
  readonly behaviour?: string;
  /** Which QEMU release the model plays (`--qemu`). */
  readonly qemu?: QemuLine;
  readonly quiet?: boolean;
  /** Show progress on stderr (a terminal). */
  readonly progress?: boolean;
  readonly style?: Style;
}

const CHUNK = 1 << 20;

/**
 * The file in chunks of bytes, read as it is consumed. Each chunk is a view of one reused buffer,
 * valid until the next is asked for: the trace reader reads bytes where they lie (decoding a log
 * of 10^6 lines to text first would cost as much as reading it).
 */
export function* fileChunks(path: string): Generator<Uint8Array> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new UsageError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  try {
    const buffer = Buffer.alloc(CHUNK);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, CHUNK, null);
      } catch (e) {
        throw new UsageError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
      if (n === 0) break;
      yield buffer.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

function readWhole(path: string): string {
  const decoder = new StringDecoder("utf8");
  let text = "";
  for (const chunk of fileChunks(path)) text += decoder.write(chunk as Buffer);
  return text + decoder.end();
}

/** Runs `iova trace`; returns the exit code. */
export function traceCommand(
  options: TraceCommandOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): number {
  const assumption = options.assume ?? "none";
  if (assumption !== "none" && assumption !== "linear")
    throw new UsageError(`iova: --assume takes none or linear, not '${assumption}'`);
  const behaviour = options.behaviour;
  if (behaviour !== undefined && behaviour !== "qemu-7.2" && behaviour !== "qemu-2016-prefix")
    throw new UsageError(
      `iova: --behaviour takes qemu-7.2 or qemu-2016-prefix, not '${behaviour}'`,
    );
  const machineName = options.live?.source ?? options.machine ?? "";
  let traced: TracedMachine;
  if (options.live) traced = options.live.machine;
  else {
    if (options.machine === undefined)
      throw new UsageError("iova: trace needs --machine CMDLINE-FILE (or --qmp SOCKET)");
    try {
      traced = parseCommandLine(readWhole(options.machine));
    } catch (e) {
      if (e instanceof CommandLineError)
        throw new UsageError(`${machineName}:${e.line}: ${e.message}`);
      throw e;
    }
  }
  let replay: TraceReplay;
  try {
    replay = replayTrace(fileChunks(options.log), traced, {
      logName: options.log,
      machineName,
      assumption: assumption as Assumption,
      qemu: options.qemu,
      behaviour: behaviour as Behaviour | undefined,
      onProgress: options.progress
        ? (what, done, total) =>
            err(
              `\riova: ${what === "lines" ? `${done} lines read` : `step ${done}/${total}`}\x1b[K`,
            )
        : undefined,
    });
  } catch (e) {
    if (options.progress) err("\r\x1b[K");
    if (e instanceof TraceSyntaxError)
      throw new UsageError(`${options.log}:${e.line}:${e.column}: expected ${e.expected}`);
    if (e instanceof ScenarioError)
      throw new UsageError(`${options.log}: the rebuilt scenario does not load (${e.message})`);
    throw e;
  }
  if (options.progress) err("\r\x1b[K");
  const { result } = replay;
  if (options.scenario !== undefined) write(options.scenario, replay.scenarioText);
  if (options.html !== undefined)
    write(
      options.html,
      renderReportHtml(result.report, { flatViews: flatViewPictures(replay.machine.memory) }),
    );
  if (options.json) out(`${JSON.stringify(result, null, 2)}\n`);
  else if (options.quiet) out(`${result.ok ? "ok" : "FAILED"}\n`);
  else out(formatTrace(result, options.style ?? PLAIN));
  return result.ok ? 0 : 1;
}

function write(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new UsageError(`${path}: cannot write: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}
