/**
 * What the playground does with each kind of input, as plain functions of text (no DOM, no I/O):
 * a scenario is loaded by the CLI's loader and run; an `info mtree` dump is imported; a QEMU trace
 * log with its command line is rebuilt into a scenario and replayed. Each gives the report page
 * (the HTML report renderer of src/view), the verdict, the `info mtree` texts and, when the input
 * is wrong, its problems at line and column. The page calls these; so do the Node tests.
 */
import { formatReport, PLAIN } from "../cli/text-report.ts";
import { formatTrace } from "../cli/trace-text.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import { importMtree } from "../memory/mtree/import.ts";
import { MtreeSyntaxError } from "../memory/mtree/parse.ts";
import { formatMtree } from "../memory/mtree/print.ts";
import { loadScenario } from "../scenario/load.ts";
import { ScenarioError } from "../scenario/reader.ts";
import type { Report } from "../scenario/report.ts";
import { runScenario, snapshotState } from "../scenario/run.ts";
import type { Behaviour, Scenario } from "../scenario/schema.ts";
import { CommandLineError, parseCommandLine } from "../trace/cmdline.ts";
import type { Assumption } from "../trace/rebuild.ts";
import { TraceSyntaxError } from "../trace/record.ts";
import { replayTrace } from "../trace/replay.ts";
import { flatViewPictures, renderMemoryHtml } from "../view/flat-views.ts";
import { type DmaState, renderReportHtml } from "../view/html.ts";
import { sha256Hex } from "./sha256.ts";

/** A mistake in one of the inputs, where it is (1-based line and column; column 0 when unknown). */
export interface Problem {
  /** Which input: the scenario's name, `info mtree`, `info mtree -f`, `trace log`, `command line`. */
  readonly source: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** What a play shows. */
export interface PlayResult {
  /** ok / FAILED for runs and replays; imported for a dump; error when the input did not load. */
  readonly verdict: "ok" | "FAILED" | "imported" | "error";
  /** The run's report (the JSON contract of `iova run --json`), for scenarios and traces. */
  readonly report?: Report;
  /** The report page (self-contained HTML) with the maps, verdicts and tree. */
  readonly html?: string;
  /** `info mtree -D` of the resulting machine. */
  readonly mtree?: string;
  /** `info mtree -f` of the resulting machine. */
  readonly flat?: string;
  /** The text report (as `iova run` or `iova trace` prints it). */
  readonly text?: string;
  /** The scenario a trace was rebuilt into (what was played). */
  readonly scenarioText?: string;
  readonly problems: readonly Problem[];
}

/** Steps after which the timeline stops taking pictures, as `iova run --html` does. */
const TIMELINE_FRAMES = 100;
/** Mapping runs past which the timeline stops taking pictures, as `iova run --html` does. */
const TIMELINE_RUNS = 10_000;

/** An input that did not load: the problem, and nothing else to show. */
const failed = (problem: Problem): PlayResult => ({ verdict: "error", problems: [problem] });

/** What went wrong in the core itself (a defect, not the input's fault), as a problem. */
function internal(source: string, e: unknown): PlayResult {
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return failed({ source, line: 0, column: 0, message: `internal error: ${message}` });
}

/** The scenario's problems, from the loader the CLI uses (empty when it loads). */
export function checkScenario(text: string, name: string): Problem[] {
  try {
    loadScenario(text, name);
    return [];
  } catch (e) {
    if (e instanceof ScenarioError) return [scenarioProblem(e)];
    return [...(internal(name, e).problems as Problem[])];
  }
}

const scenarioProblem = (e: ScenarioError): Problem => ({
  source: e.path,
  line: e.line,
  column: e.column,
  message: e.detail,
});

/** The `info mtree` texts of a memory system. */
const mtreeTexts = (system: MemorySystem) => ({
  mtree: formatMtree(system, { disabled: true }),
  flat: formatMtree(system, { flat: true }),
});

/** Loads and runs a scenario, with the report page's timeline (as `iova run --html`). */
export function playScenario(text: string, name: string, behaviour?: Behaviour): PlayResult {
  let scenario: Scenario;
  try {
    scenario = loadScenario(text, name);
  } catch (e) {
    if (e instanceof ScenarioError) return failed(scenarioProblem(e));
    return internal(name, e);
  }
  try {
    const timeline: { label: string; state: DmaState }[] = [];
    let timelineNote =
      scenario.steps.length > TIMELINE_FRAMES
        ? `no timeline: more than ${TIMELINE_FRAMES} steps`
        : undefined;
    const { report, machine } = runScenario(scenario, {
      behaviour,
      digest: sha256Hex,
      afterStep: (i, step, m) => {
        if (timelineNote !== undefined) return;
        const state = snapshotState(m);
        const runs = state.host.containers.reduce((n, c) => n + c.mappings.length, 0);
        if (runs > TIMELINE_RUNS)
          timelineNote = `the timeline stops at step ${i}: step ${i + 1} leaves more than ${TIMELINE_RUNS} mapping runs`;
        else timeline.push({ label: `after step ${i + 1}: ${step.kind} ${step.name}`, state });
      },
    });
    return {
      verdict: report.ok ? "ok" : "FAILED",
      report,
      html: renderReportHtml(report, {
        timeline,
        timelineNote,
        flatViews: flatViewPictures(machine.memory),
      }),
      ...mtreeTexts(machine.memory),
      text: formatReport(report, PLAIN),
      problems: [],
    };
  } catch (e) {
    return internal(name, e);
  }
}

/** The line that starts QEMU's `info mtree -f` output. */
const FLAT_START = /^FlatView #\d+/m;

/**
 * Splits one pasted dump into its tree and its `-f` part: QEMU's `info mtree` and `info mtree -f`
 * outputs pasted one after the other, or either alone.
 */
export function splitMtreeDump(text: string): { tree: string; flat: string } {
  const at = text.search(FLAT_START);
  if (at < 0) return { tree: text, flat: "" };
  // `-f` output first and the tree after it: the tree starts at its first address-space line.
  const treeAfter = text.slice(at).search(/^address-space: /m);
  if (at === 0 || text.slice(0, at).trim() === "") {
    if (treeAfter < 0) return { tree: "", flat: text };
    return { tree: text.slice(at + treeAfter), flat: text.slice(0, at + treeAfter) };
  }
  return { tree: text.slice(0, at), flat: text.slice(at) };
}

/** Imports `info mtree` (best with -D; -o is read too) and, if given, `info mtree -f` as the hint. */
export function playMtree(tree: string, flat: string): PlayResult {
  if (tree.trim() === "")
    return failed({
      source: "info mtree",
      line: 1,
      column: 1,
      message: "expected the tree (`info mtree`, best with -D); the -f text alone is only a hint",
    });
  try {
    const imported = importMtree(tree, flat.trim() === "" ? undefined : flat);
    return {
      verdict: "imported",
      html: renderMemoryHtml(imported.system, "info mtree, imported"),
      ...mtreeTexts(imported.system),
      text: imported.inferred
        .map(
          (f) =>
            `inferred (${f.confidence}) ${f.kind}:${f.subject === undefined ? "" : ` ${f.subject}${f.line ? ` (line ${f.line})` : ""}:`} ${f.detail}`,
        )
        .join("\n"),
      problems: [],
    };
  } catch (e) {
    if (e instanceof MtreeSyntaxError)
      return failed({
        source: e.fromFlat ? "info mtree -f" : "info mtree",
        line: e.line,
        column: 0,
        message: `expected ${e.expected}`,
      });
    return internal("info mtree", e);
  }
}

/** Replays a QEMU trace log of the machine its command line describes (as `iova trace`). */
export function playTrace(
  log: string,
  commandLine: string,
  assumption: Assumption = "none",
): PlayResult {
  let traced: ReturnType<typeof parseCommandLine>;
  try {
    traced = parseCommandLine(commandLine);
  } catch (e) {
    if (e instanceof CommandLineError)
      return failed({ source: "command line", line: e.line, column: 0, message: e.message });
    return internal("command line", e);
  }
  try {
    const replay = replayTrace([log], traced, {
      logName: "trace.log",
      machineName: "cmdline",
      assumption,
    });
    const { result } = replay;
    return {
      verdict: result.ok ? "ok" : "FAILED",
      report: result.report,
      html: renderReportHtml(result.report, {
        flatViews: flatViewPictures(replay.machine.memory),
      }),
      ...mtreeTexts(replay.machine.memory),
      text: formatTrace(result, PLAIN),
      scenarioText: replay.scenarioText,
      problems: [],
    };
  } catch (e) {
    if (e instanceof TraceSyntaxError)
      return failed({
        source: "trace log",
        line: e.line,
        column: e.column,
        message: `expected ${e.expected}`,
      });
    if (e instanceof ScenarioError)
      return failed({
        source: "trace log",
        line: 0,
        column: 0,
        message: `the rebuilt scenario does not load (${e.message})`,
      });
    return internal("trace log", e);
  }
}
