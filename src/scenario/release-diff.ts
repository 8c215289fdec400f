/**
 * One scenario under two QEMU releases (`iova diff --qemu 7.2,10.0 SCENARIO`): what a user would
 * see change when upgrading. Both runs are compared on what a report shows: whether the machine
 * starts, the verdict, each step's outcome, error, ioctls, QEMU log lines and other results, the
 * invariants, and the memory map (`info mtree`, rebuilt and compared as `iova diff` compares two
 * dumps).
 */
import { MachineTypeError } from "../machine/machine-type.ts";
import type { QemuLine } from "../machine/qemu-line.ts";
import { diffMtree, formatMtreeDiff, type MtreeDiff } from "../memory/mtree/diff.ts";
import { importMtree } from "../memory/mtree/import.ts";
import { formatMtree } from "../memory/mtree/print.ts";
import type { Report, StepReport } from "./report.ts";
import type { RunOptions, RunResult, ScenarioMachine } from "./run.ts";
import type { Scenario } from "./schema.ts";

/** What one step does differently under the second release. */
export interface StepChange {
  readonly step: number;
  readonly line: number;
  readonly kind: string;
  readonly name: string;
  /**
   * `outcome`, `error`, `refusal`, `ioctls`, `qemu_log` (or `ioctls-order`, `qemu_log-order`:
   * the same lines reordered), `result` (the other result fields), or `ran` (one side stopped).
   */
  readonly field: string;
  /** The first release's value (lines removed, for `ioctls` and `qemu_log`). */
  readonly before: unknown;
  /** The second release's value (lines added, for `ioctls` and `qemu_log`). */
  readonly after: unknown;
}

/** An invariant whose verdict or violations differ. */
export interface CheckChange {
  readonly name: string;
  readonly before: { readonly ok: boolean; readonly violations: number };
  readonly after: { readonly ok: boolean; readonly violations: number };
}

/** The difference between two releases' runs of one scenario. */
export interface ReleaseDiff {
  readonly scenario: string;
  readonly releases: readonly [QemuLine, QemuLine];
  /** Each side's verdict (`ok`), or why its machine does not exist or start. */
  readonly sides: readonly [ReleaseSide, ReleaseSide];
  /** Step changes, in step order; at most `STEP_CHANGES_SHOWN`. */
  readonly steps: readonly StepChange[];
  /** Step changes past those listed. */
  readonly stepsOmitted: number;
  readonly checks: readonly CheckChange[];
  /** Address spaces (`name (root)`) only one side's machine has at the end, when both exist. */
  readonly addressSpaces: { readonly added: string[]; readonly removed: string[] } | undefined;
  /** The memory maps at the end, when both machines exist. */
  readonly mtree: MtreeDiff | undefined;
  /** Whether anything differs. */
  readonly differs: boolean;
}

/** One release's run, as the comparison needs it. */
export interface ReleaseSide {
  readonly qemu: QemuLine;
  readonly ok: boolean;
  /** QEMU's message when this release has no such machine type or the machine would not start. */
  readonly error?: string;
}

/** Step changes listed; the rest are counted. */
export const STEP_CHANGES_SHOWN = 200;

type Runner = (scenario: Scenario, options: RunOptions) => RunResult;

/** A step as compared: its fields, with the bulky lists apart. */
interface StepDigest {
  readonly step: StepReport;
  readonly result: string;
}

/** Runs one side, keeping what the comparison reads; a missing machine type is that side's error. */
function runSide(
  scenario: Scenario,
  qemu: QemuLine,
  run: Runner,
  options: RunOptions,
): { report?: Report; machine?: ScenarioMachine; steps: StepDigest[]; error?: string } {
  const steps: StepDigest[] = [];
  try {
    const { report, machine } = run(scenario, {
      ...options,
      qemu,
      keepSteps: false,
      afterStep: (_i, step) => {
        const { ioctls: _a, qemu_log: _b, ...rest } = step.result;
        steps.push({ step, result: JSON.stringify(rest) });
      },
    });
    return { report, machine, steps, error: report.error };
  } catch (e) {
    if (e instanceof MachineTypeError) return { steps, error: e.message };
    throw e;
  }
}

/** Lines of `a` not in `b` (as multisets, in `a`'s order). */
function linesNotIn(a: readonly string[], b: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const l of b) counts.set(l, (counts.get(l) ?? 0) + 1);
  const out: string[] = [];
  for (const l of a) {
    const n = counts.get(l) ?? 0;
    if (n > 0) counts.set(l, n - 1);
    else out.push(l);
  }
  return out;
}

const stringList = (v: unknown): string[] =>
  Array.isArray(v) ? v.map((x) => String(x)) : v === undefined ? [] : [String(v)];

/** What differs between the same step under the two releases. */
function stepChanges(a: StepDigest, b: StepDigest): StepChange[] {
  const at = { step: a.step.step, line: a.step.line, kind: a.step.kind, name: a.step.name };
  const changes: StepChange[] = [];
  const scalar = (field: string, before: unknown, after: unknown) => {
    if (before !== after) changes.push({ ...at, field, before, after });
  };
  scalar("outcome", a.step.outcome, b.step.outcome);
  scalar("error", a.step.error, b.step.error);
  scalar("refusal", a.step.refusal ?? null, b.step.refusal ?? null);
  for (const field of ["ioctls", "qemu_log"] as const) {
    const before = stringList(a.step.result[field]);
    const after = stringList(b.step.result[field]);
    const removed = linesNotIn(before, after);
    const added = linesNotIn(after, before);
    if (removed.length + added.length > 0)
      changes.push({ ...at, field, before: removed, after: added });
    // The same lines in another order: both lists whole.
    else if (before.join("\n") !== after.join("\n"))
      changes.push({ ...at, field: `${field}-order`, before, after });
  }
  if (a.result !== b.result)
    changes.push({
      ...at,
      field: "result",
      before: JSON.parse(a.result),
      after: JSON.parse(b.result),
    });
  return changes;
}

/** The end state's memory map as `iova diff` compares dumps: rebuilt from its own text. */
function rebuilt(machine: ScenarioMachine) {
  return importMtree(
    formatMtree(machine.memory, { disabled: true, owners: true }),
    formatMtree(machine.memory, { flat: true }),
  );
}

/** Runs `scenario` under both releases and compares the runs. */
export function diffReleases(
  scenario: Scenario,
  releases: readonly [QemuLine, QemuLine],
  run: Runner,
  options: RunOptions = {},
): ReleaseDiff {
  const a = runSide(scenario, releases[0], run, options);
  const b = runSide(scenario, releases[1], run, options);
  const side = (qemu: QemuLine, s: typeof a): ReleaseSide => ({
    qemu,
    ok: s.report?.ok ?? false,
    ...(s.error !== undefined ? { error: s.error } : {}),
  });
  const sides = [side(releases[0], a), side(releases[1], b)] as const;
  const steps: StepChange[] = [];
  let stepsOmitted = 0;
  // A side that never started ran no step: its verdict line says why, the steps are not listed.
  const n =
    a.error === undefined && b.error === undefined ? Math.max(a.steps.length, b.steps.length) : 0;
  for (let i = 0; i < n; i++) {
    const x = a.steps[i];
    const y = b.steps[i];
    let changes: StepChange[];
    if (x && y) changes = stepChanges(x, y);
    else {
      const only = (x ?? y) as StepDigest;
      changes = [
        {
          step: only.step.step,
          line: only.step.line,
          kind: only.step.kind,
          name: only.step.name,
          field: "ran",
          before: x !== undefined,
          after: y !== undefined,
        },
      ];
    }
    for (const c of changes) {
      if (steps.length < STEP_CHANGES_SHOWN) steps.push(c);
      else stepsOmitted++;
    }
  }
  const checks: CheckChange[] = [];
  for (const ca of a.report?.checks ?? []) {
    const cb = b.report?.checks.find((c) => c.name === ca.name);
    if (!cb) continue;
    if (ca.ok !== cb.ok || ca.total !== cb.total)
      checks.push({
        name: ca.name,
        before: { ok: ca.ok, violations: ca.total },
        after: { ok: cb.ok, violations: cb.total },
      });
  }
  const both = a.machine && b.machine ? ([a.machine, b.machine] as const) : undefined;
  const mtree = both ? diffMtree(rebuilt(both[0]), rebuilt(both[1])) : undefined;
  // diffMtree compares regions and rendered ranges; an address space over an existing region
  // that renders nothing (QEMU 10.0's `device-memory`) shows only in the list of spaces.
  const spaces = (m: ScenarioMachine) =>
    m.memory.addressSpaces.map((as) => `${as.name} (root ${as.root.name})`);
  const addressSpaces = both
    ? {
        added: linesNotIn(spaces(both[1]), spaces(both[0])),
        removed: linesNotIn(spaces(both[0]), spaces(both[1])),
      }
    : undefined;
  const mtreeDiffers =
    mtree !== undefined &&
    (mtree.regions.appeared.length + mtree.regions.vanished.length + mtree.regions.moved.length >
      0 ||
      mtree.flat.some((f) => f.added.length + f.removed.length > 0));
  const differs =
    sides[0].ok !== sides[1].ok ||
    sides[0].error !== sides[1].error ||
    steps.length + stepsOmitted + checks.length > 0 ||
    (addressSpaces !== undefined &&
      addressSpaces.added.length + addressSpaces.removed.length > 0) ||
    mtreeDiffers;
  return {
    scenario: scenario.name,
    releases,
    sides,
    steps,
    stepsOmitted,
    checks,
    addressSpaces,
    mtree,
    differs,
  };
}

function show(v: unknown): string {
  if (v === null || v === undefined) return "none";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The comparison as text: each side's verdict, then what changed, section by section. */
export function formatReleaseDiff(d: ReleaseDiff): string {
  const [qa, qb] = d.releases;
  const out: string[] = [`scenario ${d.scenario}: QEMU ${qa} -> QEMU ${qb}`];
  for (const s of d.sides)
    out.push(
      `  QEMU ${s.qemu}: ${s.error !== undefined ? `does not start: ${s.error.split("\n")[0]}` : s.ok ? "ok" : "FAILED"}`,
    );
  if (!d.differs) {
    out.push("no differences");
    return `${out.join("\n")}\n`;
  }
  if (d.steps.length) {
    out.push("", "steps");
    for (const c of d.steps) {
      const at = `  step ${c.step} (line ${c.line}) ${c.kind} ${c.name}`;
      if (Array.isArray(c.before) && Array.isArray(c.after)) {
        out.push(`${at}: ${c.field}`);
        for (const l of c.before as string[]) out.push(`    - ${l}`);
        for (const l of c.after as string[]) out.push(`    + ${l}`);
      } else out.push(`${at}: ${c.field} ${show(c.before)} -> ${show(c.after)}`);
    }
    if (d.stepsOmitted) out.push(`  … ${d.stepsOmitted} more step changes`);
  }
  if (d.checks.length) {
    out.push("", "checks");
    for (const c of d.checks)
      out.push(
        `  ${c.name}: ${c.before.ok ? "ok" : "FAIL"} (${c.before.violations}) -> ${c.after.ok ? "ok" : "FAIL"} (${c.after.violations})`,
      );
  }
  const mtreeLines: string[] = [];
  for (const as of d.addressSpaces?.removed ?? []) mtreeLines.push(`- address-space ${as}`);
  for (const as of d.addressSpaces?.added ?? []) mtreeLines.push(`+ address-space ${as}`);
  if (d.mtree) {
    const text = formatMtreeDiff(d.mtree);
    if (text !== "no differences\n") mtreeLines.push(...text.trimEnd().split("\n"));
  }
  if (mtreeLines.length) out.push("", "info mtree", ...mtreeLines.map((l) => `  ${l}`));
  return `${out.join("\n")}\n`;
}
