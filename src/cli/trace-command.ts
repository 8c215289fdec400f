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
import { replayTrace, type TraceReplay, type TraceResult } from "../trace/replay.ts";
import { flatViewPictures, renderReportHtml } from "../view/index.ts";
import { UsageError } from "./errors.ts";
import { formatReport, PLAIN, type Style } from "./text-report.ts";

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

/** The file in chunks of text, read as it is consumed. */
function* fileChunks(path: string): Generator<string> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new UsageError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  try {
    const buffer = Buffer.alloc(CHUNK);
    const decoder = new StringDecoder("utf8");
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, CHUNK, null);
      } catch (e) {
        throw new UsageError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
      if (n === 0) break;
      yield decoder.write(buffer.subarray(0, n));
    }
    const rest = decoder.end();
    if (rest) yield rest;
  } finally {
    closeSync(fd);
  }
}

function readWhole(path: string): string {
  return [...fileChunks(path)].join("");
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

/** The findings as text. */
export function formatTrace(r: TraceResult, style: Style = PLAIN): string {
  const out: string[] = [];
  const unknown = Object.entries(r.unknownEvents);
  out.push(
    style.bold(`trace ${r.log}`) + style.dim(` (${r.lines} lines, ${r.events} events read)`),
  );
  if (unknown.length)
    out.push(
      style.dim(`  unknown events skipped: ${unknown.map(([n, c]) => `${n} x${c}`).join(", ")}`),
    );
  if (r.machine.ignored.length)
    out.push(style.dim(`  not modelled: ${r.machine.ignored.join("; ")}`));
  if (r.machine.kvm)
    out.push(style.dim("  KVM: in-kernel TCE handling may keep hypercalls out of the log"));
  out.push(
    `  ${r.steps} guest actions rebuilt; ${r.startupEvents} device-side events at start-up (not compared)`,
  );
  out.push("");
  // The run's report, with only the steps that failed (a long log has thousands).
  const failed = r.report.steps.filter((s) => !s.ok);
  const played = `  ${r.report.steps.length - failed.length} of ${r.report.steps.length} steps returned what the log says`;
  out.push(
    formatReport({ ...r.report, steps: failed }, style)
      .trimEnd()
      .replace(/^(.*steps.*)$/m, `$1\n${played}`),
  );
  out.push("");
  out.push(style.bold("device-side events (log against model, in order)"));
  const c = r.comparison;
  out.push(`  ${c.logEvents} logged, ${c.modelEvents} predicted, ${c.equal} equal in order`);
  if (c.skipped)
    out.push(`  ${c.skipped} notifications on entries the log does not give: not compared`);
  const d = c.firstDivergence;
  if (d) {
    out.push(style.red(`  first divergence at event ${d.index + 1}:`));
    for (const b of d.before) out.push(style.dim(`      ${r.log}:${b.line}: ${b.text}`));
    out.push(
      style.red(`    log:   ${d.log ? `${r.log}:${d.log.line}: ${d.log.text}` : "(nothing more)"}`),
    );
    out.push(
      style.red(
        `    model: ${d.model ? `${d.model.text}  (step ${(d.model.step ?? 0) + 1}, ${r.log}:${d.model.line})` : "(nothing more)"}`,
      ),
    );
    for (const a of d.logAfter)
      out.push(style.dim(`      then log   ${r.log}:${a.line}: ${a.text}`));
    for (const a of d.modelAfter) out.push(style.dim(`      then model ${a.text}`));
  } else out.push(style.green("  no divergence"));
  for (const [name, t] of [
    ["translations", r.translations],
    ["read-backs (H_GET_TCE)", r.readbacks],
  ] as const) {
    if (!t.checked) continue;
    out.push(
      `  ${name}: ${t.checked} checked, ${t.equal} as the model has them, ${t.unknown} on entries the log does not give`,
    );
    for (const m of t.mismatches)
      out.push(style.red(`    ${r.log}:${m.line}: ${m.logged}\n      model: ${m.model}`));
  }
  if (r.diagnoses.length) {
    out.push("");
    out.push(style.bold(style.red("diagnosis")));
    for (const g of r.diagnoses)
      out.push(
        style.red(
          `  ${r.log}:${g.line}: ${g.message}${g.count > 1 ? ` (and ${g.count - 1} more notifications of this window)` : ""}`,
        ),
      );
  }
  const unknownEntries = Object.entries(r.unknownEntries);
  if (unknownEntries.length || r.assumed.length || r.notes.length) {
    out.push("");
    out.push(style.bold("what the log does not say"));
    for (const [liobn, n] of unknownEntries)
      out.push(
        `  window ${liobn}: ${n} entries unknown at the end (--assume linear fills H_PUT_TCE_INDIRECT's)`,
      );
    for (const a of r.assumed)
      out.push(
        `  assumption ${r.assumption} used at ${r.log}:${a.line}: ${a.count} entries of ${a.liobn} from ${a.first}`,
      );
    for (const n of r.notes.slice(0, 20)) out.push(style.dim(`  ${r.log}:${n.line}: ${n.text}`));
    if (r.notes.length > 20) out.push(style.dim(`  … ${r.notes.length - 20} more notes`));
  }
  out.push("");
  out.push(
    r.ok
      ? style.green(style.bold("trace verdict: ok"))
      : style.red(style.bold("trace verdict: FAILED")),
  );
  return `${out.join("\n")}\n`;
}
