/**
 * The report for people: the run as a short story (steps and what they returned, failed
 * expectations standing out, refused or faulted steps marked), the guest's DMA windows, the host's
 * windows and mapping runs, the invariant verdicts, and the PHB's `info mtree` block. It is made
 * in three parts (head, one line or a few per step, tail) so a long run can print steps as they end.
 */
import type { Report, StepReport } from "../scenario/report.ts";

/** Terminal styling; identity functions when colour is off. */
export interface Style {
  readonly bold: (s: string) => string;
  readonly red: (s: string) => string;
  readonly green: (s: string) => string;
  readonly yellow: (s: string) => string;
  readonly dim: (s: string) => string;
}

/** ANSI colours. */
export const COLOUR: Style = {
  bold: (s) => `\x1b[1m${s}\x1b[0m`,
  red: (s) => `\x1b[31m${s}\x1b[0m`,
  green: (s) => `\x1b[32m${s}\x1b[0m`,
  yellow: (s) => `\x1b[33m${s}\x1b[0m`,
  dim: (s) => `\x1b[2m${s}\x1b[0m`,
};

/** No styling. */
export const PLAIN: Style = {
  bold: (s) => s,
  red: (s) => s,
  green: (s) => s,
  yellow: (s) => s,
  dim: (s) => s,
};

/** The marker of each step outcome in the text report. */
export const OUTCOME_MARKS = { held: "ok  ", succeeded: "ok  ", failed: "FAIL", refused: "ERR " };

function bytesText(r: Record<string, unknown>): string {
  if (r.data !== undefined) return ` ${shorten(String(r.data))}`;
  const s = r.data_summary as { length: number; head: string; file?: string } | undefined;
  if (!s) return "";
  return ` ${s.head}… (${s.length} bytes${s.file ? `, in ${s.file}` : ""})`;
}

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
      return `${r.write ? `write ${r.write}` : `read ${r.read}`}${r.status ? ` -> ${r.status}` : ""}${bytesText(r)}${r.fault_address ? ` at ${r.fault_address}` : ""}`;
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

/** The opening lines, known before any step runs: the scenario, and which QEMU it models. */
export function formatHead(
  scenario: string,
  model: { readonly qemu: string; readonly behaviour: string },
  style: Style = PLAIN,
  withSteps = true,
): string {
  const head =
    style.bold(`scenario ${scenario}`) +
    style.dim(` (QEMU ${model.qemu}, behaviour ${model.behaviour})`);
  return `${head}\n\n${withSteps ? `${style.bold("steps")}\n` : ""}`;
}

/** The lines of one step: its verdict line, then what went wrong. */
export function formatStep(s: StepReport, style: Style = PLAIN): string {
  const out: string[] = [];
  const colour =
    s.outcome === "failed" ? style.red : s.outcome === "refused" ? style.yellow : style.green;
  const mark = colour(OUTCOME_MARKS[s.outcome]);
  const line = `  ${mark} ${String(s.step).padStart(3)}. ${s.kind} ${s.name} ${summarise(s)}`;
  out.push(s.outcome === "failed" ? style.red(line.trimEnd()) : line.trimEnd());
  if (s.error)
    out.push(`            ${s.qemu_aborts ? style.red("QEMU would abort: ") : ""}${s.error}`);
  else if (s.outcome === "refused" && s.refusal && (s.kind === "rtas" || s.kind === "cpu"))
    out.push(style.yellow(`            ${s.refusal}`));
  for (const f of s.expectation_failures ?? []) out.push(style.red(`            ${f.message}`));
  const qemuLog = (s.result.qemu_log as string[] | undefined) ?? [];
  for (const l of qemuLog.slice(0, 3)) out.push(style.dim(`            qemu: ${l}`));
  const more = qemuLog.length - 3 + ((s.result.qemu_log_omitted as number | undefined) ?? 0);
  if (more > 0) out.push(style.dim(`            qemu: … ${more} more lines`));
  return `${out.join("\n")}\n`;
}

/** Everything after the steps: windows, host, invariants, `info mtree`, summary and verdict. */
export function formatTail(
  report: Report,
  style: Style = PLAIN,
  options: { mtree?: boolean } = {},
): string {
  const out: string[] = [];
  if (report.error) out.push("", style.red(`the machine did not start: ${report.error}`));
  out.push("");
  out.push(style.bold("guest DMA windows"));
  const vtd = report.guest.vtd;
  const viommu = report.guest.virtio_iommu;
  if (report.guest.windows.length === 0 && !vtd && !viommu) out.push("  none");
  if (viommu) {
    out.push(
      `  virtio-iommu: ${viommu.bypass ? "bypass" : "no bypass"} for endpoints in no domain, ${formatBytes(viommu.granule)} granule, ${viommu.domains.length} domain${viommu.domains.length === 1 ? "" : "s"}`,
    );
    for (const d of viommu.domains) {
      const eps = d.endpoints.map((e) => (e.device ? `${e.device} (${e.bdf})` : e.bdf));
      out.push(
        `  domain ${d.domain}${d.bypass ? " (bypass)" : ""}: ${eps.join(", ") || "no endpoint"}, ${d.mappings.length} mapping${d.mappings.length === 1 ? "" : "s"}`,
      );
      for (const m of d.mappings.slice(0, 12))
        out.push(`    map ${m.iova} +${m.size} -> gpa ${m.gpa} ${m.perm}${m.mmio ? " mmio" : ""}`);
      if (d.mappings.length > 12) out.push(`    … ${d.mappings.length - 12} more mappings`);
    }
  }
  if (vtd) {
    out.push(
      `  intel-iommu: translation ${vtd.translation ? "on" : "off"}, caching mode ${vtd.caching_mode ? "on" : "off"}, ${vtd.aw_bits}-bit addresses`,
    );
    // Functions the scenario names or the guest gave a domain; the rest have nothing to show.
    for (const d of vtd.devices.filter((x) => x.device !== null || x.domain !== null)) {
      const who = d.device ? `${d.device} (${d.bdf})` : d.bdf;
      const where = d.translating
        ? `domain ${d.domain ?? "none"}, ${d.mappings.length} mapping runs`
        : "untranslated (vtd-nodmar)";
      out.push(`  ${who} ${d.address_space}: ${where}`);
      for (const m of d.mappings.slice(0, 12))
        out.push(`    map ${m.iova} +${m.size} -> gpa ${m.gpa} ${m.perm}`);
      if (d.mappings.length > 12) out.push(`    … ${d.mappings.length - 12} more runs`);
    }
    if (vtd.faults.length)
      out.push(
        `  ${vtd.faults.length} DMA faults, first from ${vtd.faults[0].source} at ${vtd.faults[0].address} (reason ${vtd.faults[0].reason})`,
      );
  }
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
      out.push(`  ${c.ok ? style.green("ok  ") : style.red("FAIL")} ${c.name}`);
      for (const v of c.violations.slice(0, 10)) out.push(style.red(`        ${v.message}`));
      if (c.total > 10) out.push(style.red(`        … ${c.total - 10} more (all in --json)`));
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
  out.push(summaryLine(report));
  out.push(verdictLine(report, style));
  return `${out.join("\n")}\n`;
}

/** How many steps ended each way, e.g. `steps: 9 ok, 1 failed, 2 refused or faulted`. */
export function summaryLine(report: Report): string {
  const s = report.summary;
  const parts = [`${s.held + s.succeeded} ok`];
  if (s.failed) parts.push(`${s.failed} failed`);
  if (s.refused)
    parts.push(
      `${s.refused} refused or faulted without an expectation${report.strict ? " (--strict: these fail the run)" : ""}`,
    );
  return `steps: ${parts.join(", ")}`;
}

/** The last line: `verdict: ok`, or FAILED with what failed. */
export function verdictLine(report: Report, style: Style = PLAIN): string {
  if (report.ok) return style.green(style.bold("verdict: ok"));
  const s = report.summary;
  const why: string[] = [];
  if (report.error) why.push("the machine did not start");
  if (s.failed) why.push(`${s.failed} expectation${s.failed === 1 ? "" : "s"} failed`);
  if (s.checks_failed)
    why.push(`${s.checks_failed} invariant${s.checks_failed === 1 ? "" : "s"} failed`);
  if (report.strict && s.refused)
    why.push(`${s.refused} step${s.refused === 1 ? "" : "s"} refused or faulted (--strict)`);
  return style.red(style.bold(`verdict: FAILED (${why.join(", ")})`));
}

/** Formats a whole report as text. */
export function formatReport(
  report: Report,
  style: Style = PLAIN,
  options: { mtree?: boolean } = {},
): string {
  const steps = report.steps.map((s) => formatStep(s, style)).join("");
  return formatHead(report.scenario, report, style) + steps + formatTail(report, style, options);
}

/** A power-of-two size in KiB, as the windows' page sizes print. */
function formatBytes(hexSize: string): string {
  return `${Number(BigInt(hexSize)) / 1024} KiB`;
}
