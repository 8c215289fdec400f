/**
 * The report as one self-contained HTML page (no network): what went wrong in words, the
 * translation drawn per PHB (guest windows and entries, the guest physical memory they reach, the
 * host IOMMU's mappings and windows, on one zoomable axis; see `page/draw.ts`), the steps as a
 * timeline in words, the invariant verdicts, the flat views and the `info mtree` tree. A pure
 * function of the report: `model.ts` makes the JSON the page script draws.
 *
 * The flat views are still drawn here as static SVG: their occupied ranges in proportion to each
 * other, the gaps between them compressed to a fixed width and labelled with their size.
 */
import { hex16 } from "../memory/int.ts";
import type { MtreeDiff } from "../memory/mtree/diff.ts";
import type { Report } from "../scenario/report.ts";
import { formatSize, type ReportView, type ReportViewOptions, reportView } from "./model.ts";
import { MAP_CSS } from "./page/draw.ts";
import { PAGE_SCRIPT } from "./page-script.ts";

export type { DmaState } from "./model.ts";

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** Approximate size for gap labels: "≈512 PiB". */
export function formatApprox(bytes: bigint): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = Number(bytes);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const exact = formatSize(bytes);
  const approx = `${v >= 100 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, "")} ${units[u]}`;
  return exact === approx ? exact : `≈${approx}`;
}

interface Span {
  readonly start: bigint;
  readonly end: bigint;
}

/** A piecewise axis: occupied spans proportional (sqrt-scaled), gaps a fixed width. */
export class CompressedAxis {
  readonly #segments: { start: bigint; end: bigint; x: number; width: number; gap: boolean }[] = [];
  readonly width: number;

  constructor(spans: readonly Span[], gapWidth = 40) {
    const sorted = [...spans].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const merged: Span[] = [];
    for (const s of sorted) {
      const last = merged[merged.length - 1];
      if (last && s.start <= last.end)
        merged[merged.length - 1] = { start: last.start, end: s.end > last.end ? s.end : last.end };
      else merged.push(s);
    }
    let x = 0;
    let at = 0n;
    for (const s of merged) {
      if (s.start > at) {
        this.#segments.push({ start: at, end: s.start, x, width: gapWidth, gap: true });
        x += gapWidth;
      }
      // Wider for larger ranges (the square of log2 of the size), so sizes can be told apart.
      const width = Math.max(40, (Math.log2(Number(s.end - s.start) + 1) - 8) ** 2 / 4);
      this.#segments.push({ start: s.start, end: s.end, x, width, gap: false });
      x += width;
      at = s.end;
    }
    if (at < 1n << 64n) {
      this.#segments.push({ start: at, end: 1n << 64n, x, width: gapWidth, gap: true });
      x += gapWidth;
    }
    this.width = x;
  }

  /** The x of an address (a binary search: pictures may have a million bars). */
  x(addr: bigint): number {
    const segs = this.#segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segs[mid].start <= addr) lo = mid;
      else hi = mid - 1;
    }
    const s = segs[lo];
    if (!s) return 0;
    const f = Number(addr - s.start) / Number(s.end - s.start || 1n);
    return s.x + f * s.width;
  }

  /** The compressed gaps, for labels. */
  gaps(): { x: number; width: number; size: bigint }[] {
    return this.#segments
      .filter((g) => g.gap)
      .map((g) => ({ x: g.x, width: g.width, size: g.end - g.start }));
  }
}

interface Bar {
  readonly start: bigint;
  readonly size: bigint;
  readonly label: string;
  readonly detail: string;
  readonly cls: string;
}

function lane(axis: CompressedAxis, y: number, title: string, bars: readonly Bar[]): string {
  const out = [`<text class="lane" x="0" y="${y - 6}">${escapeHtml(title)}</text>`];
  for (const b of bars) {
    const x = axis.x(b.start);
    const w = Math.max(3, axis.x(b.start + b.size - 1n) - x + 1);
    out.push(
      `<g class="${b.cls}" tabindex="0" data-start="0x${b.start.toString(16)}" data-detail="${escapeHtml(b.detail)}"><title>${escapeHtml(b.detail)}</title>` +
        `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="26" rx="3"></rect>` +
        `<text x="${(x + 4).toFixed(1)}" y="${y + 17}">${escapeHtml(b.label)}</text></g>`,
    );
  }
  return out.join("\n");
}

/** One SVG of lanes on a shared axis, with the compressed gaps labelled. */
function lanesSvg(
  axis: CompressedAxis,
  lanes: readonly { title: string; bars: readonly Bar[] }[],
  label: string,
): string {
  const height = lanes.length * 56 + 40;
  const gaps = axis
    .gaps()
    .map(
      (g) =>
        `<g class="gap"><rect x="${g.x}" y="0" width="${g.width}" height="${height - 24}"></rect>` +
        `<text x="${g.x + g.width / 2}" y="${height - 8}" text-anchor="middle">${escapeHtml(formatApprox(g.size))}</text></g>`,
    )
    .join("\n");
  const body = lanes.map((l, i) => lane(axis, 24 + i * 56, l.title, l.bars)).join("\n");
  return `<svg class="flat" role="img" aria-label="${escapeHtml(label)}" viewBox="-40 0 ${Math.ceil(axis.width) + 80} ${height}" width="${Math.ceil(axis.width) + 80}" style="max-width: 100%; height: auto">\n${gaps}\n${body}\n</svg>`;
}

/** A flat view: its address spaces and ranges. */
export interface FlatViewPicture {
  readonly addressSpaces: readonly string[];
  readonly ranges: readonly {
    readonly start: bigint;
    readonly end: bigint;
    readonly name: string;
    readonly type: string;
    readonly priority: number;
    readonly offset: bigint;
  }[];
}

/** The flat views, one lane each, on their own compressed axes. */
export function flatViewsHtml(views: readonly FlatViewPicture[]): string {
  return views
    .filter((v) => v.ranges.length > 0)
    .map((v) => {
      const bars: Bar[] = v.ranges.map((r) => ({
        start: r.start,
        size: r.end - r.start,
        label: r.name,
        detail: `${r.name}: ${hex16(r.start)}-${hex16(r.end - 1n)} (${r.type}, prio ${r.priority})${r.offset ? ` @${hex16(r.offset)}` : ""}`,
        cls: `range ${r.type.replace("/", "")}`,
      }));
      const axis = new CompressedAxis(
        bars.map((b) => ({ start: b.start, end: b.start + b.size })),
        24,
      );
      return `<h3>${escapeHtml(v.addressSpaces.join(", "))}</h3>\n${lanesSvg(axis, [{ title: "flat view", bars }], `flat view of ${v.addressSpaces.join(", ")}`)}`;
    })
    .join("\n");
}

/** `info mtree` text as nested, collapsible lists. */
export function mtreeHtml(text: string): string {
  const out: string[] = [];
  for (const block of text.split("\n\n").filter((b) => b.trim())) {
    const lines = block.split("\n");
    const headers = lines.filter((l) => !l.startsWith(" "));
    const body = lines.filter((l) => l.startsWith(" "));
    const stack: number[] = [];
    const parts: string[] = [];
    body.forEach((line, i) => {
      const level = (line.length - line.trimStart().length) / 2;
      while (stack.length && stack[stack.length - 1] >= level) {
        stack.pop();
        parts.push("</details>");
      }
      const next = body[i + 1];
      const hasChildren = next !== undefined && (next.length - next.trimStart().length) / 2 > level;
      if (hasChildren) {
        parts.push(`<details open><summary>${escapeHtml(line.trim())}</summary>`);
        stack.push(level);
      } else {
        parts.push(`<div class="leaf">${escapeHtml(line.trim())}</div>`);
      }
    });
    while (stack.pop() !== undefined) parts.push("</details>");
    out.push(
      `<details class="block"><summary>${escapeHtml(headers.join(", "))}</summary>${parts.join("")}</details>`,
    );
  }
  return out.join("\n");
}

/** Extras the page can show beyond the report. */
export interface HtmlOptions extends ReportViewOptions {
  /** The machine's flat views at the end. */
  readonly flatViews?: readonly FlatViewPicture[];
}

const MARKS: Record<string, string> = { held: "✓", succeeded: "✓", failed: "✗", refused: "!" };

/** The legend: what each colour means, the same in every lane. */
export const LEGEND_HTML = `<p class="legend"><span><span class="swatch guest"></span>guest (agrees with the host)</span>
<span><span class="swatch host"></span>host IOMMU (agrees with the guest)</span>
<span><span class="swatch gpa"></span>guest physical memory</span>
<span><span class="swatch wrong"></span>guest and host disagree (≠)</span>
<span><span class="swatch missing"></span>missing on the host</span>
<span><span class="swatch extra"></span>extra on the host</span>
<span><span class="swatch gapswatch"></span>empty addresses, compressed (not to scale)</span>
<span>Lines join each bus address to the guest physical address it reaches. Window widths grow with their size; inside a window the scale is linear.</span></p>`;

/** The page's parts that need no script: verdict, findings, legend, steps, invariants. */
function staticParts(view: ReportView): { head: string; steps: string; checks: string } {
  const verdict = view.ok ? "ok" : "FAILED";
  const findings = view.findings.length
    ? `<section class="findings"><h2>What went wrong</h2><p>Where the host IOMMU does not do what the guest's entries say (click one to see it on the map):</p><ol>${view.findings
        .map(
          (f) =>
            `<li data-bus="${f.bus}" data-size="${f.size}" tabindex="0" title="show it on the map">${escapeHtml(f.text)}</li>`,
        )
        .join(
          "",
        )}${view.findingsOmitted ? `<li>… ${view.findingsOmitted} more (the shadow check in the JSON report lists every one)</li>` : ""}</ol></section>`
    : view.frames[view.frames.length - 1].spaces.some((s) =>
          s.lanes.some((l) => l.role === "host-map"),
        )
      ? `<p class="agree">Guest and host agree at every bus address.</p>`
      : "";
  const head = `<h1>${escapeHtml(view.scenario)} <span class="verdict ${verdict}">${verdict}</span></h1>
<p>${escapeHtml(view.summary)}. Behaviour ${escapeHtml(view.behaviour)}.${view.error ? ` <b>${escapeHtml(view.error)}</b>` : ""}</p>
${findings}`;
  const rows = view.steps.map((s) => {
    const cls = s.outcome === "failed" ? "fail" : s.outcome === "refused" ? "refused" : "ok";
    const more = [
      ...s.changes.map((c) => `<div class="change">${escapeHtml(c)}</div>`),
      ...s.problems.map((p) => `<div class="problem">${escapeHtml(p)}</div>`),
    ].join("");
    return `<li class="step ${cls}"${s.frame !== undefined ? ` data-frame="${s.frame}" tabindex="0"` : ""}><span class="mark" title="${s.outcome}">${MARKS[s.outcome]}</span> <b>${s.step}.</b> ${escapeHtml(s.text)} <span class="outcome">${s.outcome}, line ${s.line}</span>${more}</li>`;
  });
  if (view.stepsOmitted)
    rows.push(`<li>… ${view.stepsOmitted} more steps (all in iova run --json)</li>`);
  const checks = view.checks
    .map(
      (c) =>
        `<li class="${c.ok ? "ok" : "fail"}">${escapeHtml(c.name)}: ${
          c.ok
            ? "holds"
            : `${c.total} violations<ul>${c.messages.map((m) => `<li>${escapeHtml(m)}</li>`).join("")}${c.total > c.messages.length ? `<li>… ${c.total - c.messages.length} more</li>` : ""}</ul>`
        }</li>`,
    )
    .join("\n");
  return { head, steps: `<ol class="steps">${rows.join("\n")}</ol>`, checks };
}

/** The view as JSON safe inside a script element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c");

/**
 * The report as one self-contained HTML page. A pure function of the report (and, for the
 * timeline, the states after each step); it runs unchanged in a browser. The map is drawn by the
 * page script from the `ReportView` JSON embedded in the page.
 */
export function renderReportHtml(report: Report, options: HtmlOptions = {}): string {
  const view = reportView(report, options);
  const { head, steps, checks } = staticParts(view);
  const last = view.frames.length - 1;
  const slider =
    last > 0
      ? `<p class="scrub"><label for="timeline">Map after step</label> <input id="timeline" type="range" min="0" max="${last}" value="${last}" aria-describedby="timeline-label"> <span id="timeline-label">final state</span></p>`
      : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>iova: ${escapeHtml(report.scenario)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; max-width: 1240px; color: #222; }
h1 { font-size: 1.4em; } .verdict.ok { color: #186a3b; } .verdict.FAILED { color: #b03a2e; }
.findings { border-left: 4px solid #b03a2e; padding: .2em 1em; background: #fdf2f1; }
.findings li { font-family: monospace; font-size: 12px; margin: .3em 0; cursor: pointer; } .findings li:hover { background: #fadbd8; } .agree { color: #186a3b; }
.legend { font-size: 12px; display: flex; flex-wrap: wrap; gap: .4em 1.2em; }
#detail { font-family: monospace; font-size: 12px; min-height: 2.8em; background: #f8f9f9; padding: .3em .5em; border: 1px solid #e5e8e8; }
ol.steps { padding-left: 0; list-style: none; } ol.steps li { padding: 2px 6px; border-top: 1px solid #eee; font-size: 13px; }
ol.steps li[data-frame] { cursor: pointer; } ol.steps li.current { background: #eaf2f8; }
ol.steps .mark { display: inline-block; width: 1.2em; text-align: center; font-weight: bold; }
li.step.ok .mark { color: #1e8449; } li.step.fail .mark, li.step.fail { color: #b03a2e; } li.step.refused .mark { color: #b9770e; }
.outcome { color: #888; font-size: 11px; } .change { margin-left: 2.2em; color: #1f618d; font-size: 12px; } .problem { margin-left: 2.2em; color: #b03a2e; font-size: 12px; }
#changes { font-size: 12px; color: #1f618d; min-height: 1.4em; }
svg.flat text { font: 11px monospace; } svg.flat .lane { font: 12px system-ui; fill: #444; }
.flat .gap rect { fill: #f4f6f7; } .flat .gap text { fill: #888; }
.range rect { fill: #fdebd0; stroke: #ca6f1e; } .range.ram rect, .range.rom rect { fill: #d6eaf8; stroke: #2e86c1; }
details.block { margin: 0.3em 0; } details details { margin-left: 1.2em; } .leaf { margin-left: 1.2em; font: 12px monospace; } summary { font: 12px monospace; cursor: pointer; }
li.fail { color: #b03a2e; } pre { font-size: 11px; overflow-x: auto; }
${MAP_CSS}
</style></head>
<body>
${head}
<h2>The translation: bus address → guest physical ← host IOMMU</h2>
${LEGEND_HTML}
${view.timelineNote ? `<p>${escapeHtml(view.timelineNote)}.</p>\n` : ""}${slider}
<p id="changes" aria-live="polite"></p>
<div id="map"></div>
<p id="detail" aria-live="polite">Hover or focus a bar to see what it is.</p>
<h2>Steps</h2>
${steps}
<h2>Invariants</h2>
<ul>${checks}</ul>
${options.flatViews ? `<h2>Flat views</h2>\n${flatViewsHtml(options.flatViews)}` : ""}
<h2>info mtree</h2>
${mtreeHtml(report.mtree)}
<script type="application/json" id="iova-view">${scriptJson(view)}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}

/** A diff of two memory maps as one self-contained page. */
export function renderDiffHtml(d: MtreeDiff, a: string, b: string): string {
  const li = (cls: string, text: string) => `<li class="${cls}">${escapeHtml(text)}</li>`;
  const regions = [
    ...d.regions.appeared.map((r) => li("added", `+ ${r.path}: ${r.after}`)),
    ...d.regions.vanished.map((r) => li("removed", `- ${r.path}: ${r.before}`)),
    ...d.regions.moved.map((r) => li("moved", `~ ${r.path}: ${r.before} -> ${r.after}`)),
  ];
  const flat = d.flat
    .map(
      (f) =>
        `<h3>${escapeHtml(f.addressSpace)}</h3><ul>${[...f.removed.map((l) => li("removed", `- ${l}`)), ...f.added.map((l) => li("added", `+ ${l}`))].join("")}</ul>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>iova diff</title>
<style>body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; max-width: 1240px; } li { font: 12px monospace; list-style: none; }
.added { color: #186a3b; } .removed { color: #b03a2e; } .moved { color: #9a7d0a; }</style></head>
<body><h1>What changed</h1><p>From <code>${escapeHtml(a)}</code> to <code>${escapeHtml(b)}</code>.</p>
<h2>Regions</h2><ul>${regions.join("") || "<li>no region changed</li>"}</ul>
<h2>Flat views</h2>${flat || "<p>no flat range changed</p>"}
</body></html>
`;
}
