/**
 * The `iova` command. Exit codes: 0 success, 1 something checked failed, 2 bad input
 * (`path:line: message` on stderr, never a stack trace).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  type Behaviour,
  type DmaState,
  diffMtree,
  flatViewPictures,
  formatMtree,
  formatMtreeDiff,
  importMtree,
  launchQemu,
  loadScenario,
  type MtreeDumps,
  MtreeSyntaxError,
  QmpClient,
  QmpError,
  readMtreeDumps,
  renderDiffHtml,
  renderMemoryHtml,
  renderReportHtml,
  runScenario,
  type Scenario,
  ScenarioError,
  SEED_SCENARIO,
  SEED_SOURCE,
  snapshotState,
} from "../index.ts";

import { UsageError } from "./errors.ts";
import { parseQtestOptions, QtestUsageError, runQtestCommand } from "./qtest-command.ts";
import { COLOUR, formatReport, PLAIN } from "./text-report.ts";

const USAGE = `usage:
  iova run [SCENARIO] [--json] [--quiet] [--behaviour qemu-7.2|qemu-2016-prefix]
           [--trace] [--trace-file FILE] [--html FILE]
      Run a scenario (default: the built-in seed) and print the report; exit 1 if anything failed.
      --trace writes JSON lines of events (hypercalls, RTAS, IOMMU notifications, VFIO listener
      callbacks, ioctls) to stderr; --trace-file to FILE. --html writes a self-contained page with
      the DMA address map (guest windows beside the host's, differences marked).
  iova check SCENARIO
      Run a scenario and print only the verdicts.
  iova mtree SCENARIO [-f] [-D] [-o]
      Print \`info mtree\` of the machine after the scenario's steps.
  iova mtree --import FILE [--flat FLATFILE] [-f] [-D] [-o] [--html OUT]
      Rebuild a model from QEMU's \`info mtree -D\` text (optionally with \`-o\`) and print it
      again as \`info mtree\` would. --flat gives QEMU's \`info mtree -f\` text of the same
      machine, to settle what the tree text does not say.
  iova diff A B [--flat-a FLAT] [--flat-b FLAT] [--json] [--html FILE]
      What changed between two \`info mtree -D\` dumps: regions that appeared, vanished or moved,
      and flat ranges that changed in each address space (give each dump's \`info mtree -f\` to
      settle what the tree text leaves unsaid).
  iova attach --qmp SOCKET [-f] [-D] [-o] [--json] [--html FILE]
      Read a running QEMU's memory map over QMP (queries only), rebuild it, print it.
  iova qemu [-f] [-D] [-o] [--json] [--html FILE] -- QEMU-COMMAND-LINE...
      Start that QEMU paused with a private QMP socket, attach, print, and quit it.
  iova qtest --machine CMDLINE-FILE [--quiet] [--mtree [-f] [-D] [-o]] SCRIPT
      Build a q35 machine from a QEMU command line and replay a qtest transcript on it, printing
      each reply (and with --mtree, info mtree afterwards); exit 1 at the first reply that
      differs from the one recorded after a tab.
  iova help
`;

/** Runs the CLI; returns the exit code. Output goes through the given writers. */
export function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): number {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case "mtree":
        return mtreeCommand(rest, out);
      case "run":
        return runCommand(rest, out, err, false);
      case "check":
        return runCommand(rest, out, err, true);
      case "diff":
        return diffCommand(rest, out);
      case "qtest":
        return runQtestCommand(parseQtestOptions(rest), out, err);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        out(USAGE);
        return 0;
      default:
        throw new UsageError(`iova: unknown command '${command}'\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof QtestUsageError) {
      err(e.message.endsWith("\n") ? e.message : `${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

function parse(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        import: { type: "string" },
        flat: { type: "string" },
        "flat-view": { type: "boolean", short: "f" },
        disabled: { type: "boolean", short: "D" },
        owners: { type: "boolean", short: "o" },
        dispatch: { type: "boolean", short: "d" },
        json: { type: "boolean" },
        trace: { type: "boolean" },
        html: { type: "string" },
        "trace-file": { type: "string" },
        quiet: { type: "boolean", short: "q" },
        behaviour: { type: "string" },
        qmp: { type: "string" },
        "flat-a": { type: "string" },
        "flat-b": { type: "string" },
      },
    });
  } catch (e) {
    throw new UsageError(`iova: ${(e as Error).message}\n${USAGE}`);
  }
}

function readInput(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

function mtreeCommand(args: readonly string[], out: (s: string) => void): number {
  const { values, positionals } = parse(args);
  if (values.dispatch) {
    throw new UsageError("iova: -d (QEMU's dispatch tables) is not modelled");
  }
  if (!values.import) {
    if (positionals.length !== 1)
      throw new UsageError(`iova: mtree needs a SCENARIO or --import FILE\n${USAGE}`);
    const { machine } = runScenario(readScenario(positionals[0]));
    out(
      formatMtree(machine.memory, {
        flat: values["flat-view"],
        owners: values.owners,
        disabled: values.disabled,
      }),
    );
    return 0;
  }
  const treePath = values.import;
  const flatPath = values.flat;
  const treeText = readInput(treePath);
  const flatText = flatPath === undefined ? undefined : readInput(flatPath);
  let result: ReturnType<typeof importMtree>;
  try {
    result = importMtree(treeText, flatText);
  } catch (e) {
    if (e instanceof MtreeSyntaxError) {
      // Which file: a flat-view error can only come from the hint once the tree parsed.
      const path = e.fromFlat ? flatPath : treePath;
      throw new UsageError(`${path}:${e.line}: expected ${e.expected}`);
    }
    throw new UsageError(`${treePath}: ${(e as Error).message}`);
  }
  if (values.html !== undefined) {
    writeOutput(values.html, renderMemoryHtml(result.system, `info mtree of ${treePath}`));
    return 0;
  }
  out(
    formatMtree(result.system, {
      flat: values["flat-view"],
      owners: values.owners,
      disabled: values.disabled,
    }),
  );
  return 0;
}

function writeOutput(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new UsageError(`${path}: cannot write: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

function readScenario(path: string | undefined): Scenario {
  if (path === undefined) return loadScenario(SEED_SCENARIO, SEED_SOURCE);
  const text = readInput(path);
  try {
    return loadScenario(text, path);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    throw e;
  }
}

function runCommand(
  args: readonly string[],
  out: (s: string) => void,
  err: (s: string) => void,
  verdictsOnly: boolean,
): number {
  const { values, positionals } = parse(args);
  if (positionals.length > 1) throw new UsageError(`iova: run takes one SCENARIO\n${USAGE}`);
  if (verdictsOnly && positionals.length === 0)
    throw new UsageError(`iova: check needs a SCENARIO\n${USAGE}`);
  const behaviour = values.behaviour;
  if (behaviour !== undefined && behaviour !== "qemu-7.2" && behaviour !== "qemu-2016-prefix") {
    throw new UsageError(
      `iova: --behaviour takes qemu-7.2 or qemu-2016-prefix, not '${behaviour}'`,
    );
  }
  const scenario = readScenario(positionals[0]);
  const traceLines: string[] = [];
  const timeline: { label: string; state: DmaState }[] = [];
  const traceFile = values["trace-file"];
  const wantTrace = values.trace || traceFile !== undefined;
  const showProgress = process.stderr.isTTY && !values.trace && scenario.steps.length >= 20;
  const { report, machine } = runScenario(scenario, {
    behaviour: behaviour as Behaviour | undefined,
    trace: wantTrace
      ? (e) => {
          const line = JSON.stringify(e);
          if (values.trace) err(`${line}\n`);
          if (traceFile !== undefined) traceLines.push(line);
        }
      : undefined,
    onProgress: showProgress
      ? (i, n) => process.stderr.write(`\riova: step ${i + 1}/${n}`)
      : undefined,
    afterStep:
      values.html === undefined
        ? undefined
        : (i, step, m) =>
            timeline.push({
              label: `after step ${i + 1}: ${step.kind} ${step.name}`,
              state: snapshotState(m),
            }),
  });
  if (showProgress) process.stderr.write("\r\x1b[K");
  if (values.html !== undefined) {
    try {
      writeFileSync(
        values.html,
        renderReportHtml(report, { timeline, flatViews: flatViewPictures(machine.memory) }),
      );
    } catch (e) {
      throw new UsageError(
        `${values.html}: cannot write: ${(e as NodeJS.ErrnoException).code ?? e}`,
      );
    }
  }
  if (traceFile !== undefined) {
    try {
      writeFileSync(traceFile, traceLines.length ? `${traceLines.join("\n")}\n` : "");
    } catch (e) {
      throw new UsageError(`${traceFile}: cannot write: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  if (values.json) {
    out(`${JSON.stringify(report, null, 2)}\n`);
  } else if (verdictsOnly) {
    for (const c of report.checks) out(`${c.ok ? "ok  " : "FAIL"} ${c.name}\n`);
    out(`${report.ok ? "ok" : "FAILED"}\n`);
  } else if (!values.quiet) {
    out(formatReport(report, process.stdout.isTTY && !process.env.NO_COLOR ? COLOUR : PLAIN));
  } else {
    out(`${report.ok ? "ok" : "FAILED"}\n`);
  }
  return report.ok ? 0 : 1;
}

function diffCommand(args: readonly string[], out: (s: string) => void): number {
  const { values, positionals } = parse(args);
  if (positionals.length !== 2) throw new UsageError(`iova: diff takes two dumps A B\n${USAGE}`);
  const a = importFile(positionals[0], values["flat-a"]);
  const b = importFile(positionals[1], values["flat-b"]);
  const d = diffMtree(a, b);
  if (values.html !== undefined)
    writeOutput(values.html, renderDiffHtml(d, positionals[0], positionals[1]));
  else out(values.json ? `${JSON.stringify(d, null, 2)}\n` : formatMtreeDiff(d));
  return 0;
}

function importFile(
  treePath: string,
  flatPath: string | undefined,
): ReturnType<typeof importMtree> {
  const treeText = readInput(treePath);
  const flatText = flatPath === undefined ? undefined : readInput(flatPath);
  try {
    return importMtree(treeText, flatText);
  } catch (e) {
    if (e instanceof MtreeSyntaxError) {
      throw new UsageError(`${e.fromFlat ? flatPath : treePath}:${e.line}: expected ${e.expected}`);
    }
    throw new UsageError(`${treePath}: ${(e as Error).message}`);
  }
}

/** Prints a live QEMU's rebuilt memory map as `mtree` would (or JSON, or HTML). */
function printLive(
  dumps: MtreeDumps,
  values: ReturnType<typeof parse>["values"],
  out: (s: string) => void,
  source: string,
): void {
  const result = importMtree(dumps.tree, dumps.flat);
  if (values.html !== undefined) {
    writeOutput(values.html as string, renderMemoryHtml(result.system, `memory map of ${source}`));
    return;
  }
  const text = formatMtree(result.system, {
    flat: values["flat-view"] as boolean | undefined,
    owners: values.owners as boolean | undefined,
    disabled: values.disabled as boolean | undefined,
  });
  out(values.json ? `${JSON.stringify({ source, mtree: text, qemu: dumps }, null, 2)}\n` : text);
}

/** The asynchronous commands (live QEMU); everything else goes to `main`. */
export async function mainAsync(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "attach" && command !== "qemu") return main(argv, out, err);
  try {
    const dash = rest.indexOf("--");
    const own = command === "qemu" && dash >= 0 ? rest.slice(0, dash) : rest;
    const { values, positionals } = parse(own);
    if (command === "attach") {
      if (!values.qmp || positionals.length)
        throw new UsageError(`iova: attach needs --qmp SOCKET\n${USAGE}`);
      const client = await QmpClient.connect(values.qmp, { connectTimeoutMs: 2000 });
      try {
        printLive(await readMtreeDumps(client), values, out, values.qmp);
      } finally {
        client.close();
      }
      return 0;
    }
    if (dash < 0) throw new UsageError(`iova: qemu needs -- QEMU-COMMAND-LINE\n${USAGE}`);
    const qemu = await launchQemu(rest.slice(dash + 1));
    try {
      printLive(await readMtreeDumps(qemu.client), values, out, rest.slice(dash + 1).join(" "));
    } finally {
      await qemu.stop();
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof QmpError) {
      err(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
