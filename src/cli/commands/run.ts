/** `iova run` and `iova check`: play a scenario and report on it. */
import { Option } from "commander";
import { BEHAVIOUR_HELP } from "../../machine/behaviour.ts";
import { QEMU_LINES, type QemuLine } from "../../machine/qemu-line.ts";
import type { RunOptions } from "../../scenario/run.ts";
import { snapshotState } from "../../scenario/run.ts";
import type { Scenario } from "../../scenario/schema.ts";
import { SEED_SCENARIO, SEED_SOURCE } from "../../scenario/seed.ts";
import { machineCommandLine, QemuTraceWriter } from "../../trace/index.ts";
import { flatViewPictures } from "../../view/flat-views.ts";
import type { DmaState } from "../../view/html.ts";
import { renderReportHtml } from "../../view/html.ts";
import type { CliCommand, CliContext } from "../command.ts";
import {
  ChunkedWriter,
  dumpDirectory,
  lineFile,
  readInput,
  writeJson,
  writeOutput,
} from "../io.ts";
import { formatHead, formatStep, formatTail } from "../text-report.ts";

/** Steps after which the HTML page's timeline stops taking pictures (each holds the whole state). */
const TIMELINE_FRAMES = 100;
/** Mapping runs past which the timeline stops taking pictures (the final state is always drawn). */
const TIMELINE_RUNS = 10_000;
/** How often the progress line on a terminal may change. */
const PROGRESS_INTERVAL_MS = 100;
/** How long a run goes before the progress line appears. */
const PROGRESS_AFTER_MS = 1000;

/** The scenario at `path`, or the built-in seed. */
export function readScenario(context: CliContext, path: string | undefined): Scenario {
  if (path === undefined) return context.deps.loadScenario(SEED_SCENARIO, SEED_SOURCE);
  return context.deps.loadScenario(readInput(path), path);
}

/**
 * Progress on a terminal: once a run has gone a second, one line on stderr names the step
 * running now (rewritten in place, at most every 100 ms, cleared before the report writes), and
 * a step that took longer than a second leaves a line saying so. The runner is synchronous: within
 * a step the line moves when the runner reports work (`onWork`, every 16384 guest mappings
 * mirrored into the host, the work of a long hot-plug or H_STUFF_TCE), so a step past a second
 * says it is still running. Nothing at all when stderr is not a terminal.
 */
function progress(context: CliContext, scenario: Scenario) {
  if (!context.stderrIsTTY) return undefined;
  const now = context.deps.now;
  const started = now();
  let shown = -Infinity;
  let stepStarted = started;
  let running = 0;
  let dirty = false;
  const total = scenario.steps.length;
  return {
    /** Within a step (the runner's `onWork`): a step past a second says it is still going. */
    during() {
      const t = now();
      if (t - stepStarted <= PROGRESS_AFTER_MS || t - shown < PROGRESS_INTERVAL_MS) return;
      shown = t;
      const s = scenario.steps[running];
      context.err(
        `\r\x1b[Kiova: step ${running + 1}/${total}: ${s.kind} (line ${s.line}) running ${((t - stepStarted) / 1000).toFixed(1)} s`,
      );
      dirty = true;
    },
    before(index: number) {
      const t = now();
      stepStarted = t;
      running = index;
      if (t - started < PROGRESS_AFTER_MS) return;
      if (t - shown < PROGRESS_INTERVAL_MS) return;
      shown = t;
      const s = scenario.steps[index];
      context.err(`\r\x1b[Kiova: step ${index + 1}/${total}: ${s.kind} (line ${s.line})`);
      dirty = true;
    },
    after(index: number) {
      const took = now() - stepStarted;
      if (took <= PROGRESS_AFTER_MS) return;
      const s = scenario.steps[index];
      context.err(
        `\r\x1b[Kiova: step ${index + 1}/${total} (${s.kind}, line ${s.line}) took ${(took / 1000).toFixed(1)} s\n`,
      );
      dirty = false;
    },
    /** Clears the progress line (before stdout writes on the same terminal, and at the end). */
    clear() {
      if (dirty) context.err("\r\x1b[K");
      dirty = false;
    },
  };
}

interface RunFlags {
  json?: boolean;
  quiet?: boolean;
  strict?: boolean;
  behaviour?: "qemu-7.2" | "qemu-2016-prefix";
  qemu?: QemuLine;
  trace?: boolean;
  traceFile?: string;
  traceFormat?: "json" | "qemu";
  html?: string;
  dumpDir?: string;
}

function play(
  context: CliContext,
  path: string | undefined,
  flags: RunFlags,
  mode: "report" | "json" | "quiet" | "verdicts",
): number {
  const scenario = readScenario(context, path);
  const { out, err, style } = context;
  const traceFile = flags.traceFile === undefined ? undefined : lineFile(flags.traceFile);
  const timeline: { label: string; state: DmaState }[] = [];
  const wantHtml = flags.html !== undefined;
  let timelineNote: string | undefined =
    wantHtml && scenario.steps.length > TIMELINE_FRAMES
      ? `no timeline: more than ${TIMELINE_FRAMES} steps`
      : undefined;
  const stream = mode === "report" && !wantHtml;
  const shows = progress(context, scenario);
  const text = new ChunkedWriter((s) => {
    shows?.clear();
    out(s);
  });
  // `check` names what failed: each failed expectation (and, with --strict, each refused step).
  const verdictLines: string[] = [];
  // JSON streams too when no page needs the steps: they go out inside `"steps": [...]` as they
  // end, and the fields known only at the end (verdict, summary, state) follow them.
  const streamJson = mode === "json" && !wantHtml;
  let jsonSteps = 0;
  const model = {
    qemu: flags.qemu ?? scenario.qemu,
    behaviour: flags.behaviour ?? scenario.behaviour,
  };
  if (stream) text.write(formatHead(scenario.name, model, style));
  if (streamJson) {
    text.write(
      `{\n  "scenario": ${JSON.stringify(scenario.name)},\n  "qemu": ${JSON.stringify(model.qemu)},\n  "behaviour": ${JSON.stringify(model.behaviour)},\n  "steps": [`,
    );
  }
  // QEMU's own trace format (what `iova trace` reads) instead of JSON lines.
  const qemuTrace =
    flags.traceFormat === "qemu" && (flags.trace || traceFile) ? new QemuTraceWriter() : undefined;
  const qemuHooks = qemuTrace?.options();
  const options: RunOptions = {
    qemu: flags.qemu,
    behaviour: flags.behaviour,
    strict: flags.strict,
    // Only the JSON report and the HTML page need every step at the end.
    keepSteps: wantHtml || (mode === "json" && !streamJson),
    digest: context.deps.sha256,
    dumpBytes: flags.dumpDir === undefined ? undefined : dumpDirectory(flags.dumpDir),
    trace: qemuHooks
      ? qemuHooks.trace
      : flags.trace || traceFile
        ? (e) => {
            const line = `${JSON.stringify(e)}\n`;
            if (flags.trace) err(line);
            traceFile?.writer.write(line);
          }
        : undefined,
    onProgress: shows ? (i) => shows.before(i) : undefined,
    onWork: shows ? () => shows.during() : undefined,
    beforeStep: qemuHooks?.beforeStep,
    afterStep: (i, report, machine) => {
      qemuHooks?.afterStep?.(i, report, machine);
      shows?.after(i);
      if (stream) text.write(formatStep(report, style));
      if (streamJson) {
        text.write(jsonSteps++ === 0 ? "\n    " : ",\n    ");
        writeJson(report, text, "    ");
      }
      if (mode === "verdicts") {
        const at = `step ${report.step} (line ${report.line}) ${report.kind} ${report.name}`;
        for (const f of report.expectation_failures ?? [])
          verdictLines.push(`FAIL ${at}: ${f.message}\n`);
        if (flags.strict && report.outcome === "refused")
          verdictLines.push(`FAIL ${at}: refused or faulted: ${report.error ?? report.refusal}\n`);
      }
      if (wantHtml && timelineNote === undefined) {
        const state = snapshotState(machine);
        const runs = state.host.containers.reduce((n, c) => n + c.mappings.length, 0);
        if (runs > TIMELINE_RUNS)
          timelineNote = `the timeline stops at step ${i}: step ${i + 1} leaves more than ${TIMELINE_RUNS} mapping runs`;
        else timeline.push({ label: `after step ${i + 1}: ${report.kind} ${report.name}`, state });
      }
    },
  };
  let result: ReturnType<CliContext["deps"]["runScenario"]>;
  try {
    result = context.deps.runScenario(scenario, options);
    if (qemuTrace) {
      const log = qemuTrace.finish(result.machine);
      if (flags.trace) err(log);
      traceFile?.writer.write(log);
      // The machine as a QEMU command line beside the log: `iova trace LOG --machine LOG.cmdline`.
      if (flags.traceFile !== undefined)
        writeOutput(`${flags.traceFile}.cmdline`, machineCommandLine(scenario.machine));
    }
  } finally {
    shows?.clear();
    traceFile?.close();
  }
  const { report, machine } = result;
  if (flags.html !== undefined) {
    writeOutput(
      flags.html,
      renderReportHtml(report, {
        timeline,
        timelineNote,
        flatViews: flatViewPictures(machine.memory),
      }),
    );
  }
  if (streamJson) {
    text.write(jsonSteps === 0 ? "]" : "\n  ]");
    for (const [key, value] of Object.entries(report)) {
      if (
        key === "scenario" ||
        key === "qemu" ||
        key === "behaviour" ||
        key === "steps" ||
        value === undefined
      )
        continue;
      text.write(`,\n  ${JSON.stringify(key)}: `);
      writeJson(value, text, "  ");
    }
    text.write("\n}\n");
  } else if (mode === "json") {
    writeJson(report, text);
    text.write("\n");
  } else if (mode === "verdicts") {
    if (report.error) text.write(`FAIL the machine did not start: ${report.error}\n`);
    for (const l of verdictLines) text.write(l);
    for (const c of report.checks) {
      text.write(`${c.ok ? "ok  " : "FAIL"} ${c.name}\n`);
      for (const v of c.violations.slice(0, 3)) text.write(`       ${v.message}\n`);
      if (c.total > 3) text.write(`       … ${c.total - 3} more\n`);
    }
    text.write(`${report.ok ? "ok" : "FAILED"}\n`);
  } else if (mode === "quiet") {
    text.write(`${report.ok ? "ok" : "FAILED"}\n`);
  } else {
    if (!stream) {
      text.write(formatHead(report.scenario, report, style));
      for (const s of report.steps) text.write(formatStep(s, style));
    }
    text.write(formatTail(report, style));
  }
  text.flush();
  return report.ok ? 0 : 1;
}

const behaviourOption = () =>
  new Option("--behaviour <name>", "play QEMU as it is, or as the 2016 thread found it").choices([
    "qemu-7.2",
    "qemu-2016-prefix",
  ]);
/** `--qemu 7.2|10.0`: which QEMU release the machine models (overrides the scenario's `qemu`). */
export const qemuOption = () =>
  new Option(
    "--qemu <release>",
    "model this QEMU release: its machine types, info mtree and behaviour (overrides the scenario's qemu:)",
  ).choices(QEMU_LINES);
const strictOption = () =>
  new Option("--strict", "a step refused or faulted without an expectation fails the run");

/** `iova run`. */
export const runCommand: CliCommand = {
  name: "run",
  summary: "run a scenario (default: the built-in seed) and print the report",
  define(c) {
    c.argument("[scenario]", "scenario file (YAML or JSON)")
      .option("--json", "print the report as JSON (schema/report.schema.json)")
      .option("-q, --quiet", "print only the verdict")
      .addOption(strictOption())
      .addOption(qemuOption())
      .addOption(behaviourOption())
      .option("--trace", "write JSON lines of events to stderr")
      .option("--trace-file <file>", "write JSON lines of events to FILE")
      .addOption(
        new Option(
          "--trace-format <format>",
          "json: JSON lines; qemu: QEMU's trace log (what `iova trace` reads), with FILE.cmdline",
        )
          .choices(["json", "qemu"])
          .default("json"),
      )
      .option("--html <file>", "write a self-contained page with the DMA address map")
      .option("--dump-dir <dir>", "write byte results too large for the report to files in DIR")
      .addHelpText(
        "after",
        "\nExit status: 0 when every expectation and invariant holds, 1 when one does not, 2 for bad\ninput, 70 for an internal error. Steps marked ERR were refused or faulted without an\nexpectation; --strict makes them fail the run.",
      )
      .addHelpText("after", `\n${BEHAVIOUR_HELP}`);
  },
  run(context, args, options) {
    const flags = options as RunFlags;
    const mode = flags.json ? "json" : flags.quiet ? "quiet" : "report";
    return play(context, args[0] as string | undefined, flags, mode);
  },
};

/** `iova check`. */
export const checkCommand: CliCommand = {
  name: "check",
  summary: "run a scenario and print only the invariants' verdicts",
  define(c) {
    c.argument("<scenario>", "scenario file")
      .addOption(strictOption())
      .addOption(qemuOption())
      .addOption(behaviourOption());
  },
  run(context, args, options) {
    return play(context, args[0] as string, options as RunFlags, "verdicts");
  },
};
