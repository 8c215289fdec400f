/** A trace replay's findings as text (no I/O: `iova trace` prints it, the playground shows it). */
import type { TraceResult } from "../trace/replay.ts";
import { formatReport, PLAIN, type Style } from "./text-report.ts";

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
