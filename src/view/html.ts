/**
 * The report as one self-contained HTML page (no network): the PHB's DMA space with the guest's
 * windows beside each host container's windows and mapping density, every difference marked, the
 * steps, the invariant verdicts, and the `info mtree` text. A pure function of the report.
 *
 * Bus addresses span 2^64, so the axis is not linear: occupied ranges are drawn in proportion to
 * each other and the gaps between them are compressed to a fixed width and labelled with their
 * size.
 */
import { hex16 } from "../memory/int.ts";
import type { MtreeDiff } from "../memory/mtree/diff.ts";
import type { Report } from "../scenario/report.ts";
import { PAGE_SCRIPT } from "./page-script.ts";

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** Human size: 4 KiB, 1 GiB, 2^59 B. */
export function formatSize(bytes: bigint): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024n && v % 1024n === 0n && u < units.length - 1) {
    v /= 1024n;
    u++;
  }
  return `${v} ${units[u]}`;
}

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
      const width = Math.max(60, Math.min(400, 20 * Math.log2(Number(s.end - s.start) + 1)));
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

/** What the DMA map draws: the report's guest and host parts, at some moment. */
export type DmaState = Pick<Report, "guest" | "host">;

/** Bus ranges the shadow check flagged, sorted by start, with the largest end so far at each. */
interface WrongRanges {
  readonly starts: readonly bigint[];
  readonly maxEnds: readonly bigint[];
}

function wrongRanges(ranges: { start: bigint; end: bigint }[]): WrongRanges {
  const sorted = ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const maxEnds: bigint[] = [];
  for (const r of sorted) {
    const prev = maxEnds[maxEnds.length - 1];
    maxEnds.push(prev !== undefined && prev > r.end ? prev : r.end);
  }
  return { starts: sorted.map((r) => r.start), maxEnds };
}

/** Whether a flagged range overlaps [start, start + size) (a binary search). */
function anyIn(wrong: WrongRanges, start: bigint, size: bigint): boolean {
  const end = start + size;
  let lo = 0;
  let hi = wrong.starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (wrong.starts[mid] < end) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && wrong.maxEnds[lo - 1] > start;
}

/** A range of the host's mappings drawn as one bar: contiguous runs merged, and how many. */
export interface MappingRange {
  readonly start: bigint;
  readonly size: bigint;
  /** Mapping runs (contiguous in bus and host address, one permission) it holds. */
  readonly runs: number;
  /** Host IOMMU entries (pages) it holds. */
  readonly entries: bigint;
  readonly perms: string;
  /** The first run, to show where it points. */
  readonly first: DmaState["host"]["containers"][number]["mappings"][number];
}

/**
 * The host's mapping runs merged wherever they touch in bus address, so a container with a
 * million scattered entries draws as a few bars, each saying how many entries it holds.
 */
export function mappingRanges(container: DmaState["host"]["containers"][number]): MappingRange[] {
  const windows = container.windows.map((w) => ({
    start: BigInt(w.start),
    end: BigInt(w.start) + BigInt(w.size),
    page: 1n << BigInt(w.page_shift),
  }));
  const pageAt = (iova: bigint) =>
    windows.find((w) => iova >= w.start && iova < w.end)?.page ?? 1n << 12n;
  const out: {
    start: bigint;
    size: bigint;
    runs: number;
    entries: bigint;
    perms: Set<string>;
    first: MappingRange["first"];
  }[] = [];
  for (const m of container.mappings) {
    const start = BigInt(m.iova);
    const size = BigInt(m.size);
    const page = pageAt(start);
    const entries = (size + page - 1n) / page;
    const last = out[out.length - 1];
    if (last && last.start + last.size === start) {
      last.size += size;
      last.runs++;
      last.entries += entries;
      last.perms.add(m.perm);
    } else out.push({ start, size, runs: 1, entries, perms: new Set([m.perm]), first: m });
  }
  return out.map((r) => ({ ...r, perms: [...r.perms].join("/") }));
}

/** Bars of a state, lane by lane; `wrong` are the bus ranges the shadow check flagged. */
function dmaLanes(state: DmaState, wrong: WrongRanges): { title: string; bars: Bar[] }[] {
  const hasWrong = (start: bigint, size: bigint) => anyIn(wrong, start, size);
  const guest: Bar[] = state.guest.windows.map((w) => {
    const start = BigInt(w.start);
    const size = BigInt(w.size);
    const differs = hasWrong(start, size);
    return {
      start,
      size,
      label: `${differs ? "≠ " : ""}${w.liobn} @ ${w.start}`,
      detail: `guest window ${w.liobn} (PHB ${w.phb}): ${w.start} +${formatSize(size)}, ${formatSize(1n << BigInt(w.page_shift))} pages, ${w.valid_entries} valid entries${differs ? " — the host does not mirror it faithfully" : ""}`,
      cls: differs ? "guest differs" : "guest",
    };
  });
  const lanes: { title: string; bars: Bar[] }[] = [
    { title: "guest DMA windows (TCE tables)", bars: guest },
  ];
  state.host.containers.forEach((c, i) => {
    const windows: Bar[] = c.windows.map((w) => {
      const start = BigInt(w.start);
      const size = BigInt(w.size);
      const mirrored = guest.some((g) => g.start === start && g.size === size);
      return {
        start,
        size,
        label: `${mirrored ? "" : "≠ "}${w.start}`,
        detail: `host window ${w.start} +${formatSize(size)}, ${formatSize(1n << BigInt(w.page_shift))} pages${mirrored ? "" : " — differs from every guest window"}`,
        cls: mirrored ? "host" : "host differs",
      };
    });
    for (const g of guest) {
      if (c.windows.some((w) => BigInt(w.start) === g.start && BigInt(w.size) === g.size)) continue;
      windows.push({
        start: g.start,
        size: g.size,
        label: "missing",
        detail: `no host window mirrors guest window ${g.label}`,
        cls: "missing",
      });
    }
    const maps: Bar[] = mappingRanges(c).map((r) => ({
      start: r.start,
      size: r.size,
      label: r.runs === 1 ? r.perms : `${r.entries} entries`,
      detail:
        r.runs === 1
          ? `host maps ${r.first.iova} +${formatSize(r.size)} -> gpa ${r.first.gpa} (${r.perms}), ${r.entries} entries`
          : `host maps 0x${r.start.toString(16)} +${formatSize(r.size)} in ${r.runs} runs, ${r.entries} entries (${r.perms}); the first -> gpa ${r.first.gpa}`,
      cls: hasWrong(r.start, r.size) ? "map differs" : "map",
    }));
    lanes.push({
      title: `host container ${i} (${c.backend}) windows — ${c.devices.join(", ")}`,
      bars: windows,
    });
    lanes.push({ title: `host container ${i} mappings`, bars: maps });
  });
  return lanes;
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
  return `<svg role="img" aria-label="${escapeHtml(label)}" viewBox="-40 0 ${Math.ceil(axis.width) + 80} ${height}" width="${Math.ceil(axis.width) + 80}" style="max-width: 100%; height: auto">\n${gaps}\n${body}\n</svg>`;
}

/** The DMA map of every frame (one per step, the last being the final state) on one axis. */
function dmaFrames(
  report: Report,
  timeline: readonly { label: string; state: DmaState }[],
): string {
  const wrong = wrongRanges(
    (report.checks.find((c) => c.name === "shadow")?.violations ?? [])
      .filter((v) => v.bus !== undefined)
      .map((v) => {
        const start = BigInt(v.bus as string);
        return { start, end: start + (v.size === undefined ? 1n : BigInt(v.size)) };
      }),
  );
  const none = wrongRanges([]);
  const frames = [
    ...timeline,
    { label: "final state", state: { guest: report.guest, host: report.host } },
  ];
  const laneSets = frames.map((f, i) => dmaLanes(f.state, i === frames.length - 1 ? wrong : none));
  const spans = laneSets.flatMap((ls) =>
    ls.flatMap((l) => l.bars.map((b) => ({ start: b.start, end: b.start + b.size }))),
  );
  const axis = new CompressedAxis(spans);
  const last = frames.length - 1;
  const svgs = frames
    .map(
      (f, i) =>
        `<div class="frame" data-label="${escapeHtml(f.label)}"${i === last ? "" : " hidden"}>${lanesSvg(axis, laneSets[i], `DMA address map, ${f.label}: guest windows and host IOMMU`)}</div>`,
    )
    .join("\n");
  const slider =
    frames.length > 1
      ? `<p><label for="timeline">Step</label> <input id="timeline" type="range" min="0" max="${last}" value="${last}" aria-describedby="timeline-label"> <span id="timeline-label">final state</span></p>`
      : "";
  return `${slider}\n${svgs}`;
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
export interface HtmlOptions {
  /** The guest and host state after each step, for the timeline. */
  readonly timeline?: readonly { readonly label: string; readonly state: DmaState }[];
  /** Why the timeline is missing or stops early, when it does. */
  readonly timelineNote?: string;
  /** The machine's flat views at the end. */
  readonly flatViews?: readonly FlatViewPicture[];
}

/** Rows of the steps table at most; the rest are counted (the JSON report has them all). */
const STEP_ROWS = 2000;

/** The report as HTML. */
export function renderReportHtml(report: Report, options: HtmlOptions = {}): string {
  const verdict = report.ok ? "ok" : "FAILED";
  const rows = report.steps
    .slice(0, STEP_ROWS)
    .map(
      (s) =>
        `<tr class="${s.outcome === "failed" ? "fail" : s.outcome === "refused" ? "refused" : "ok"}"><td>${s.step}</td><td>${escapeHtml(s.outcome)}</td><td>${escapeHtml(s.kind)}</td><td>${escapeHtml(s.name)}</td>` +
        `<td>${escapeHtml(JSON.stringify(s.result).slice(0, 300))}</td><td>${escapeHtml([s.error, ...(s.expectation_failures ?? []).map((f) => f.message)].filter(Boolean).join("; "))}${s.qemu_aborts ? " <b>(QEMU would abort)</b>" : ""}</td></tr>`,
    );
  if (report.steps.length > STEP_ROWS)
    rows.push(
      `<tr><td colspan="6">… ${report.steps.length - STEP_ROWS} more steps (all in iova run --json)</td></tr>`,
    );
  const steps = rows.join("\n");
  const checks = report.checks
    .map(
      (c) =>
        `<li class="${c.ok ? "ok" : "fail"}">${escapeHtml(c.name)}: ${
          c.ok
            ? "holds"
            : `${c.total} violations<ul>${c.violations
                .slice(0, 20)
                .map((v) => `<li>${escapeHtml(v.message)}</li>`)
                .join("")}${c.total > 20 ? `<li>… ${c.total - 20} more</li>` : ""}</ul>`
        }</li>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>iova: ${escapeHtml(report.scenario)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; max-width: 1240px; color: #222; }
h1 { font-size: 1.4em; } .verdict.ok { color: #186a3b; } .verdict.FAILED { color: #b03a2e; }
svg text { font: 11px monospace; } svg .lane { font: 12px system-ui; fill: #444; }
.guest rect { fill: #aed6f1; stroke: #2471a3; } .host rect { fill: #abebc6; stroke: #1e8449; }
.map rect { fill: #d5f5e3; stroke: #27ae60; } .differs rect, .missing rect { fill: #f5b7b1; stroke: #b03a2e; }
.gap rect { fill: #f4f6f7; } .gap text { fill: #888; }
g[tabindex]:focus rect, g[tabindex]:hover rect { stroke-width: 3; } #detail { font-family: monospace; min-height: 1.4em; }
.range rect { fill: #fdebd0; stroke: #ca6f1e; } .range.ram rect, .range.rom rect { fill: #d6eaf8; stroke: #2e86c1; }
details.block { margin: 0.3em 0; } details details { margin-left: 1.2em; } .leaf { margin-left: 1.2em; font: 12px monospace; } summary { font: 12px monospace; cursor: pointer; }
table { border-collapse: collapse; width: 100%; } td { border-top: 1px solid #ddd; padding: 2px 6px; vertical-align: top; font-size: 12px; }
tr.fail { background: #fdedec; } tr.refused { background: #fef5e7; } li.fail { color: #b03a2e; } pre { font-size: 11px; overflow-x: auto; }
</style></head>
<body>
<h1>${escapeHtml(report.scenario)} <span class="verdict ${verdict}">${verdict}</span></h1>
<p>Behaviour ${escapeHtml(report.behaviour)}.${report.error ? ` <b>${escapeHtml(report.error)}</b>` : ""} Hover or focus a range for details; red marks where the host differs from the guest.</p>
<h2>DMA address map</h2>
<p id="detail" aria-live="polite">Hover or focus a range to see what it is.</p>
${options.timelineNote ? `<p>${escapeHtml(options.timelineNote)}.</p>\n` : ""}${dmaFrames(report, options.timeline ?? [])}
${options.flatViews ? `<h2>Flat views</h2>\n${flatViewsHtml(options.flatViews)}` : ""}
<h2>Invariants</h2>
<ul>${checks}</ul>
<h2>Steps</h2>
<table><thead><tr><th>#</th><th>outcome</th><th>kind</th><th>name</th><th>result</th><th>error</th></tr></thead><tbody>
${steps}
</tbody></table>
<h2>info mtree</h2>
${mtreeHtml(report.mtree)}
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
