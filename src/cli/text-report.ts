/**
 * The report for people: the run as a short story (steps and what they returned, failed
 * expectations standing out), the guest's DMA windows, the host's windows and mapping runs, the
 * invariant verdicts, and the PHB's `info mtree` block.
 */
import type { Report, StepReport } from "../scenario/report.ts";

/** Terminal styling; identity functions when colour is off. */
export interface Style {
  readonly bold: (s: string) => string;
  readonly red: (s: string) => string;
  readonly green: (s: string) => string;
  readonly dim: (s: string) => string;
}

/** ANSI colours. */
export const COLOUR: Style = {
  bold: (s) => `\x1b[1m${s}\x1b[0m`,
  red: (s) => `\x1b[31m${s}\x1b[0m`,
  green: (s) => `\x1b[32m${s}\x1b[0m`,
  dim: (s) => `\x1b[2m${s}\x1b[0m`,
};

/** No styling. */
export const PLAIN: Style = { bold: (s) => s, red: (s) => s, green: (s) => s, dim: (s) => s };

function summarise(step: StepReport): string {
  const r = step.result;
  switch (step.kind) {
    case "rtas":
      return r.rets ? `-> [${(r.rets as string[]).join(", ")}]` : "";
    case "hcall":
      // A refused call (the materialised-entry limit) has no return code; its error says why.
      if (r.ret === undefined) return "";
      return `-> ${r.ret}${r.tce ? ` tce=${r.tce}` : ""}${r.written !== undefined && r.written !== 1 ? ` (${r.written} written)` : ""}`;
    case "dma":
    case "cpu":
      return `${r.write ? `write ${r.write}` : `read ${r.read}`}${r.status ? ` -> ${r.status}` : ""}${r.data !== undefined ? ` ${shorten(String(r.data))}` : ""}${r.fault_address ? ` at ${r.fault_address}` : ""}`;
    case "expect_mtree":
      return r.holds ? "holds" : "does not hold";
    case "ioctl":
      return `-> ${r.ret}${r.start ? ` start=${r.start}` : ""}`;
    default:
      return step.error ? "" : "ok";
  }
}

function shorten(hex: string): string {
  return hex.length > 32 ? `${hex.slice(0, 32)}… (${hex.length / 2} bytes)` : hex;
}

/** Formats a report as text. */
export function formatReport(
  report: Report,
  style: Style = PLAIN,
  options: { mtree?: boolean } = {},
): string {
  const out: string[] = [];
  out.push(
    style.bold(`scenario ${report.scenario}`) + style.dim(` (behaviour ${report.behaviour})`),
  );
  out.push("");
  if (report.error) out.push(style.red(report.error), "");
  out.push(style.bold("steps"));
  for (const s of report.steps) {
    const mark = s.ok ? style.green("ok ") : style.red("FAIL");
    const line =
      `  ${mark} ${String(s.index + 1).padStart(3)}. ${s.kind} ${s.name} ${summarise(s)}`.trimEnd();
    out.push(s.ok ? line : style.red(line));
    if (s.error)
      out.push(`            ${s.qemu_aborts ? style.red("QEMU would abort: ") : ""}${s.error}`);
    for (const f of s.expectation_failures ?? []) out.push(style.red(`            expected ${f}`));
    const qemuLog = (s.result.qemu_log as string[] | undefined) ?? [];
    for (const l of qemuLog.slice(0, 3)) out.push(style.dim(`            qemu: ${l}`));
    if (qemuLog.length > 3)
      out.push(style.dim(`            qemu: … ${qemuLog.length - 3} more lines`));
  }
  out.push("");
  out.push(style.bold("guest DMA windows"));
  if (report.guest.windows.length === 0) out.push("  none");
  for (const w of report.guest.windows) {
    out.push(
      `  PHB ${w.phb} liobn ${w.liobn}: ${w.start} +${w.size}, ${2 ** w.page_shift / 1024} KiB pages, ${w.valid_entries} valid entries`,
    );
  }
  if (report.host.containers.length) {
    out.push("");
    out.push(style.bold("host IOMMU"));
    out.push(`  locked: ${report.host.locked_pages} pages for the process`);
    for (const c of report.host.containers) {
      out.push(
        `  container (${c.backend}) for ${c.devices.join(", ")}, its share ${c.locked_pages} locked pages`,
      );
      for (const w of c.windows)
        out.push(`    window ${w.start} +${w.size}, ${2 ** w.page_shift / 1024} KiB pages`);
      for (const m of c.mappings.slice(0, 12))
        out.push(`    map ${m.iova} +${m.size} -> gpa ${m.gpa} ${m.perm}`);
      if (c.mappings.length > 12) out.push(`    … ${c.mappings.length - 12} more runs`);
    }
  }
  if (report.checks.length) {
    out.push("");
    out.push(style.bold("invariants"));
    for (const c of report.checks) {
      out.push(`  ${c.ok ? style.green("ok ") : style.red("FAIL")} ${c.name}`);
      for (const v of c.violations.slice(0, 10)) out.push(style.red(`        ${v}`));
      if (c.total > 10) out.push(style.red(`        … ${c.total - 10} more`));
    }
  }
  if (options.mtree !== false) {
    const phbBlocks = report.mtree.split("\n\n").filter((b) => /^address-space: pci@/m.test(b));
    if (phbBlocks.length) {
      out.push("");
      out.push(style.bold("PHB DMA address space (info mtree)"));
      for (const b of phbBlocks) out.push(b.replace(/^/gm, "  "));
    }
  }
  out.push("");
  const failed =
    report.steps.filter((s) => !s.ok).length + report.checks.filter((c) => !c.ok).length;
  out.push(
    report.ok
      ? style.green(style.bold("verdict: ok"))
      : style.red(style.bold(`verdict: FAILED (${failed} failed)`)),
  );
  return `${out.join("\n")}\n`;
}
