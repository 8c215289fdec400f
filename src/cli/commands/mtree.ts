/** `iova mtree` and `iova diff`: QEMU's `info mtree`, from a scenario or rebuilt from dumps. */

import { isQemuLine, QEMU_LINES, type QemuLine } from "../../machine/qemu-line.ts";
import { formatMtreeDiff, type MtreeDiff } from "../../memory/mtree/diff.ts";
import type { ImportResult, InferredFact } from "../../memory/mtree/import.ts";
import { MtreeSyntaxError } from "../../memory/mtree/parse.ts";
import { formatMtree } from "../../memory/mtree/print.ts";
import { diffReleases, formatReleaseDiff } from "../../scenario/release-diff.ts";
import { renderMemoryHtml } from "../../view/flat-views.ts";
import { renderDiffHtml } from "../../view/html.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { UsageError } from "../errors.ts";
import { ChunkedWriter, readInput, writeJson, writeOutput } from "../io.ts";
import { qemuOption, readScenario } from "./run.ts";

/** The tree (and flat hint) files rebuilt into a model; a syntax error names its file and line. */
export function importFiles(
  context: CliContext,
  treePath: string,
  flatPath: string | undefined,
): ImportResult {
  const treeText = readInput(treePath);
  const flatText = flatPath === undefined ? undefined : readInput(flatPath);
  try {
    return context.deps.importMtree(treeText, flatText);
  } catch (e) {
    if (e instanceof MtreeSyntaxError) {
      const path = e.fromFlat ? flatPath : treePath;
      throw new UsageError(`${path}:${e.line}: expected ${e.expected}`);
    }
    throw e;
  }
}

interface MtreeFlags {
  qemu?: QemuLine;
  import?: string;
  flat?: string;
  flatView?: boolean;
  disabled?: boolean;
  owners?: boolean;
  dispatch?: boolean;
  explain?: boolean;
  json?: boolean;
  html?: string;
}

/** Why `-f -d` is refused (without `-f`, QEMU ignores `-d` and so does iova). */
export const DISPATCH_REFUSED =
  "mtree -f -d is not supported: QEMU's dispatch tables (its PhysPageMap sections and " +
  "radix-tree nodes) are an internal lookup structure whose numbering follows QEMU's " +
  "allocation order and past accesses ([MRU]), not the memory map, so the model cannot " +
  "reproduce them; `-f` prints the flat views they are built from";

/** `--explain`: what the importer inferred beyond the tree text, one fact a line. */
function formatInferred(facts: readonly InferredFact[]): string {
  return facts
    .map((f) => {
      const where =
        f.subject === undefined ? "" : ` ${f.subject}${f.line ? ` (line ${f.line})` : ""}:`;
      return `iova: inferred (${f.confidence}) ${f.kind}:${where} ${f.detail}\n`;
    })
    .join("");
}

/** The `-f -D -o` options of `info mtree`. */
export function printOptions(c: import("commander").Command) {
  return c
    .option("-f, --flat-view", "print the flat views (info mtree -f)")
    .option("-D, --disabled", "include disabled regions (info mtree -D)")
    .option("-o, --owners", "print each region's owner (info mtree -o)");
}

/** `iova mtree`. */
export const mtreeCommand: CliCommand = {
  name: "mtree",
  summary: "print `info mtree` after a scenario, or rebuilt from QEMU's dumps",
  define(c) {
    c.argument("[scenario]", "scenario file whose machine to print");
    printOptions(c)
      .option(
        "-d, --dispatch",
        "with -f, QEMU's dispatch tables: refused (see docs/mtree-import.md); alone, ignored as QEMU does",
      )
      .option("--import <file>", "rebuild from QEMU's `info mtree -D` (optionally -o) text")
      .option("--flat <file>", "QEMU's `info mtree -f` text of the same machine, as a hint")
      .option(
        "--explain",
        "with --import: list on stderr what was inferred beyond the tree text, and how sure",
      )
      .option("--json", "with --import: print the text and the inferred facts as JSON")
      .option("--html <file>", "write a self-contained page of the flat views and tree")
      .addOption(qemuOption());
  },
  run(context, args, options) {
    const flags = options as MtreeFlags;
    const scenarioPath = args[0] as string | undefined;
    if (flags.dispatch && flags.flatView) throw new UsageError(DISPATCH_REFUSED);
    if ((flags.import === undefined) === (scenarioPath === undefined))
      throw new UsageError("mtree needs a SCENARIO or --import FILE (one of the two)");
    if (flags.flat !== undefined && flags.import === undefined)
      throw new UsageError("--flat is a hint for --import");
    if ((flags.explain || flags.json) && flags.import === undefined)
      throw new UsageError("--explain and --json go with --import");
    // An imported map is QEMU's own text, whatever its release: there is nothing to choose.
    if (flags.qemu !== undefined && flags.import !== undefined)
      throw new UsageError("--qemu goes with a SCENARIO (an --import rebuilds QEMU's own text)");
    const imported =
      flags.import !== undefined ? importFiles(context, flags.import, flags.flat) : undefined;
    const system =
      imported?.system ??
      context.deps.runScenario(readScenario(context, scenarioPath), { qemu: flags.qemu }).machine
        .memory;
    const source = flags.import ?? scenarioPath;
    if (imported && flags.explain) context.err(formatInferred(imported.inferred));
    if (flags.html !== undefined) {
      writeOutput(flags.html, renderMemoryHtml(system, `info mtree of ${source}`));
      return 0;
    }
    const text = formatMtree(system, {
      flat: flags.flatView,
      owners: flags.owners,
      disabled: flags.disabled,
    });
    if (imported && flags.json)
      context.out(`${JSON.stringify({ mtree: text, inferred: imported.inferred }, null, 2)}\n`);
    else context.out(text);
    return 0;
  },
};

/** Whether a diff found anything. */
function differs(d: MtreeDiff): boolean {
  const r = d.regions;
  return (
    r.appeared.length + r.vanished.length + r.moved.length > 0 ||
    d.flat.some((f) => f.added.length + f.removed.length > 0)
  );
}

/** `--qemu A,B`: two distinct release lines, in the order given. */
function releasePair(text: string): readonly [QemuLine, QemuLine] {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length !== 2 || !parts.every(isQemuLine) || parts[0] === parts[1])
    throw new UsageError(
      `diff --qemu takes two different releases separated by a comma (${QEMU_LINES.join(",")}), not '${text}'`,
    );
  return parts as [QemuLine, QemuLine];
}

interface DiffFlags {
  flatA?: string;
  flatB?: string;
  json?: boolean;
  html?: string;
  qemu?: string;
}

/** `iova diff --qemu A,B SCENARIO`: the scenario under two releases. */
function diffAcrossReleases(context: CliContext, path: string, flags: DiffFlags): number {
  if (flags.flatA !== undefined || flags.flatB !== undefined)
    throw new UsageError("--flat-a and --flat-b go with two dumps, not with --qemu");
  const releases = releasePair(flags.qemu as string);
  const d = diffReleases(readScenario(context, path), releases, context.deps.runScenario);
  if (flags.html !== undefined) {
    if (!d.mtree)
      throw new UsageError(
        `--html: under one of QEMU ${releases.join(" and ")} the machine does not exist`,
      );
    writeOutput(flags.html, renderDiffHtml(d.mtree, `QEMU ${releases[0]}`, `QEMU ${releases[1]}`));
  } else if (flags.json) {
    const w = new ChunkedWriter(context.out);
    writeJson(d, w);
    w.write("\n");
    w.flush();
  } else context.out(formatReleaseDiff(d));
  return d.differs ? 1 : 0;
}

/** `iova diff`. */
export const diffCommand: CliCommand = {
  name: "diff",
  summary:
    "what changed between two `info mtree -D` dumps, or a scenario under two QEMUs (exit 1 when they differ)",
  define(c) {
    c.argument("<a>", "the dump before (with --qemu: the scenario)")
      .argument("[b]", "the dump after")
      .option("--flat-a <file>", "`info mtree -f` of A, as a hint")
      .option("--flat-b <file>", "`info mtree -f` of B, as a hint")
      .option(
        "--qemu <a,b>",
        "run the scenario A under two QEMU releases (e.g. 7.2,10.0) and show what changes",
      )
      .option("--json", "print the differences as JSON")
      .option("--html <file>", "write the differences as a self-contained page")
      .addHelpText(
        "after",
        "\nWith --qemu 7.2,10.0 SCENARIO: each release's verdict, then each step whose outcome,\nerror, ioctls, QEMU log or result changes, the invariants that change, and the info mtree\ndifferences at the end (what a user sees change when upgrading).\n\nExit status, as diff(1): 0 when the two are the same, 1 when they differ, 2 for bad input.",
      );
  },
  run(context, args, options) {
    const [a, b] = args as (string | undefined)[];
    const flags = options as DiffFlags;
    if (flags.qemu !== undefined) {
      if (b !== undefined) throw new UsageError("diff --qemu takes one SCENARIO");
      return diffAcrossReleases(context, a as string, flags);
    }
    if (b === undefined) throw new UsageError("diff needs two dumps A B (or --qemu A,B SCENARIO)");
    const d = context.deps.diffMtree(
      importFiles(context, a as string, flags.flatA),
      importFiles(context, b, flags.flatB),
    );
    if (flags.html !== undefined) writeOutput(flags.html, renderDiffHtml(d, a as string, b));
    else if (flags.json) {
      const w = new ChunkedWriter(context.out);
      writeJson(d, w);
      w.write("\n");
      w.flush();
    } else context.out(formatMtreeDiff(d));
    return differs(d) ? 1 : 0;
  },
};
