/**
 * The DMA map drawn in the browser from a `ReportView` (plain JSON): per PHB the guest's windows
 * and entries, the guest physical memory they point at, and the host IOMMU's mappings and windows,
 * all on one axis of real addresses that zooms (wheel, buttons, + and - keys) and pans (drag,
 * arrow keys) from the whole 64-bit space down to single pages.
 *
 * The axis is piecewise: each occupied range (a window, or guest physical memory an entry points
 * at) is linear inside, its width growing with the square of log2 of its size, so a 4 GiB window
 * is wider than a 1 GiB one and a 4 KiB page is still visible; the empty ranges between them are
 * compressed to a fixed width and drawn hatched with how much they skip. Only what is on screen is
 * drawn, and bars narrower than a pixel are drawn together, saying how many they are.
 *
 * No Node module and no framework: the playground mounts the same function in its page.
 */
import type { Agreement, LaneRole, ReportView, ViewBar, ViewFrame } from "../model.ts";

/** Colours and shapes of the map: one meaning each, everywhere (the legend says which). */
export const MAP_CSS = `
.iova-map { position: relative; }
.iova-map svg { display: block; width: 100%; user-select: none; cursor: grab; touch-action: none; }
.iova-map svg:active { cursor: grabbing; }
.iova-map .tools { display: flex; gap: .4em; align-items: center; flex-wrap: wrap; margin: .3em 0; font-size: 12px; }
.iova-map .tools button { font: inherit; padding: 1px 8px; }
.iova-map .view { font-family: monospace; color: #555; }
.iova-map svg:focus { outline: 2px solid #2471a3; outline-offset: 2px; }
.iova-map text { font: 11px monospace; fill: #222; pointer-events: none; }
.iova-map text.lane, .iova-map text.space { paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.iova-map text.lane { font: 11px system-ui, sans-serif; fill: #555; }
.iova-map text.space { font: bold 12px system-ui, sans-serif; fill: #222; }
.iova-map text.tick { fill: #444; font-size: 10px; }
.iova-map line.tick { stroke: #bbb; }
.iova-map line.boundary { stroke: #888; stroke-dasharray: 2 3; }
.iova-map rect.gap { fill: url(#iova-hatch); }
.iova-map text.gap { fill: #777; font-size: 10px; }
.iova-map .bar rect { stroke-width: 1; }
.iova-map .bar:hover rect, .iova-map .bar:focus rect { stroke-width: 3; }
.iova-map .bar:focus { outline: none; }
.iova-map .link { stroke-width: 1.8; fill: none; opacity: .85; }
.iova-map .link.off { stroke-dasharray: 4 3; }
.iova-map text.offscreen { font-size: 10px; fill: #333; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.iova-map .bar text { paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-opacity: .8; }
.k-ok.guest rect { fill: #aed6f1; stroke: #1f618d; } .swatch.guest { background: #aed6f1; border-color: #1f618d; }
.k-ok.host rect { fill: #abebc6; stroke: #1e8449; } .swatch.host { background: #abebc6; border-color: #1e8449; }
.k-ok.gpa rect { fill: #d5d8dc; stroke: #566573; } .swatch.gpa { background: #d5d8dc; border-color: #566573; }
.k-wrong rect { fill: #f1948a; stroke: #922b21; } .swatch.wrong { background: #f1948a; border-color: #922b21; }
.k-missing rect { fill: #f8c471; stroke: #b9770e; } .swatch.missing { background: #f8c471; border-color: #b9770e; }
.k-extra rect { fill: #d2b4de; stroke: #6c3483; } .swatch.extra { background: #d2b4de; border-color: #6c3483; }
.window rect { fill-opacity: .45; }
.link.k-ok { stroke: #5d6d7e; } .link.k-wrong { stroke: #c0392b; } .link.k-missing { stroke: #d68910; } .link.k-extra { stroke: #8e44ad; }
.swatch { display: inline-block; width: 1.6em; height: .9em; border: 1px solid; vertical-align: middle; margin-right: .3em; }
.swatch.gapswatch { background: repeating-linear-gradient(45deg, #eee 0 3px, #ccc 3px 5px); border-color: #999; }
`;

const LANE_H = 34;
const BAR_H = 18;
const TITLE_H = 14;
const SPACE_TITLE_H = 22;
const RULER_H = 34;
const GPA_H = 50;
const GAP_UNITS = 40;
const CHAR_W = 6.7;

interface Segment {
  readonly start: bigint;
  readonly size: bigint;
  readonly u: number;
  readonly w: number;
  readonly gap: boolean;
}

const hx = (v: bigint) => `0x${v.toString(16)}`;

/** Human size, exact when a power of 1024 divides it: "4 KiB"; else approximate: "≈512 PiB". */
export function sizeText(bytes: bigint): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024n && v % 1024n === 0n && u < units.length - 1) {
    v /= 1024n;
    u++;
  }
  if (v < 1024n || u === units.length - 1) return `${v} ${units[u]}`;
  let f = Number(bytes);
  u = 0;
  while (f >= 1024 && u < units.length - 1) {
    f /= 1024;
    u++;
  }
  return `≈${f >= 100 ? Math.round(f) : f.toFixed(1)} ${units[u]}`;
}

/**
 * The axis: occupied ranges linear inside (width (log2 size - 8)^2 units, at least 16), the gaps
 * between them a fixed width. Addresses map to units exactly enough for single pages: a segment's
 * offset is converted to a double only relative to the segment.
 */
export class Axis {
  readonly segments: Segment[] = [];
  readonly width: number;

  constructor(spans: readonly { start: bigint; end: bigint }[]) {
    const sorted = [...spans]
      .filter((s) => s.end > s.start)
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const merged: { start: bigint; end: bigint }[] = [];
    for (const s of sorted) {
      const last = merged[merged.length - 1];
      // Ranges closer than a few times their own size share a segment: a scattered million
      // pages of guest memory is one range, not a million.
      const near = last
        ? (last.end - last.start > s.end - s.start ? last.end - last.start : s.end - s.start) * 4n
        : 0n;
      if (last && s.start <= last.end + near) {
        if (s.end > last.end) last.end = s.end;
      } else merged.push({ ...s });
    }
    let u = 0;
    let at = 0n;
    const push = (start: bigint, end: bigint, gap: boolean) => {
      const size = end - start;
      const w = gap ? GAP_UNITS : Math.max(16, (Math.log2(Number(size)) - 8) ** 2);
      this.segments.push({ start, size, u, w, gap });
      u += w;
    };
    for (const s of merged) {
      if (s.start > at) push(at, s.start, true);
      push(s.start, s.end, false);
      at = s.end;
    }
    if (at < 1n << 64n) push(at, 1n << 64n, true);
    this.width = u;
  }

  #find(addr: bigint): Segment {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segs[mid].start <= addr) lo = mid;
      else hi = mid - 1;
    }
    return segs[lo];
  }

  /** Units of an address. */
  u(addr: bigint): number {
    const s = this.#find(addr);
    return s.u + (Number(addr - s.start) / Number(s.size)) * s.w;
  }

  /** The address at some units (rounded down to a byte). */
  addr(u: number): bigint {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segs[mid].u <= u) lo = mid;
      else hi = mid - 1;
    }
    const s = segs[lo];
    const f = Math.min(1, Math.max(0, (u - s.u) / s.w));
    const off = BigInt(Math.floor(f * Number(s.size)));
    return s.start + (off >= s.size ? s.size - 1n : off);
  }
}

interface Drawn {
  readonly x0: number;
  readonly x1: number;
  readonly k: Agreement;
  readonly bars: ViewBar[];
}

const RANK: Record<Agreement, number> = { wrong: 3, missing: 2, extra: 1, ok: 0 };

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

const side = (role: LaneRole | "gpa") =>
  role === "guest-window" || role === "guest-map" ? "guest" : role === "gpa" ? "gpa" : "host";

const AGREEMENT_WORDS: Record<Agreement, string> = {
  ok: "guest and host agree",
  wrong: "guest and host DISAGREE",
  missing: "MISSING on the host",
  extra: "EXTRA on the host (the guest has no such entry)",
};

/** A window's name: sPAPR names its windows by LIOBN (a number); other IOMMUs by their own names. */
const windowName = (b: ViewBar) =>
  b.w && /^0x[0-9a-f]+$/.test(b.w) ? `LIOBN ${b.w}` : (b.w ?? "");

/** The full description of a bar, as hover and focus show it. */
export function describe(role: LaneRole | "gpa", b: ViewBar): string {
  const s = BigInt(b.s);
  const z = BigInt(b.z);
  const range = `${b.s}–${hx(s + z - 1n)} (${sizeText(z)})`;
  const merged = b.r ? `; ${b.r} runs drawn as one bar (zoom in or see the JSON report)` : "";
  const entries = b.n !== undefined ? `, ${b.n} entr${b.n === 1 ? "y" : "ies"}` : "";
  const why = b.why ? ` — ${b.why}` : "";
  switch (role) {
    case "guest-window":
      return `guest DMA window ${windowName(b)}: bus ${range}, ${sizeText(BigInt(b.g ?? "0x1000"))} pages, ${b.n ?? 0} valid entries; ${AGREEMENT_WORDS[b.k].replace("guest and host agree", "a host IOMMU window covers it")}${why}`;
    case "host-window":
      return `host IOMMU window: bus ${range}, ${sizeText(BigInt(b.g ?? "0x1000"))} pages${why}`;
    case "guest-map":
    case "host-map":
      return `${role === "guest-map" ? "guest entries" : "host IOMMU mappings"}: bus ${range}${entries} → guest physical ${b.t}${b.same ? " (every entry the same page)" : ""} (${b.p}); ${AGREEMENT_WORDS[b.k]}${merged}${why}`;
    case "gpa":
      return `guest physical ${range}${entries}, pointed at by ${b.w}; ${AGREEMENT_WORDS[b.k]}${merged}${why}`;
  }
}

/** What a mounted map can be told to do. */
export interface MapHandle {
  /** Shows frame `i` of the view (the last is the final state). */
  setFrame(i: number): void;
  /** Zooms so that [start, end) fills the width. */
  zoomTo(start: bigint, end: bigint): void;
  /** Zooms out to the whole 64-bit space. */
  fit(): void;
  readonly axis: Axis;
}

/**
 * Draws the view's map into `root` (emptied first) and wires zoom, pan, keys and hover. `detail`
 * receives the description of what the pointer or focus is on.
 */
export function mountMap(
  root: HTMLElement,
  view: ReportView,
  detail: (text: string) => void = () => {},
): MapHandle {
  const spans: { start: bigint; end: bigint }[] = [];
  for (const f of view.frames)
    for (const sp of f.spaces)
      for (const l of sp.lanes)
        for (const b of l.bars) {
          const s = BigInt(b.s);
          const z = BigInt(b.z);
          spans.push({ start: s, end: s + z });
          if (b.t !== undefined) {
            const t = BigInt(b.t);
            spans.push({ start: t, end: t + BigInt(b.tz ?? (b.same ? "0x1000" : b.z)) });
          }
        }
  const axis = new Axis(spans);
  root.classList.add("iova-map");
  root.innerHTML =
    `<div class="tools"><button type="button" data-act="in" title="zoom in (+)">+</button>` +
    `<button type="button" data-act="out" title="zoom out (-)">−</button>` +
    `<button type="button" data-act="fit" title="whole 64-bit space (0)">whole space</button>` +
    `<span>wheel or +/− zooms, drag or ←/→ pans, double-click a bar to zoom to it, Tab moves between bars</span>` +
    `<span class="view"></span></div>` +
    `<svg tabindex="0" role="group" aria-label="DMA address map: bus addresses, guest physical memory and the host IOMMU on one axis"></svg>`;
  const svg = root.querySelector("svg") as SVGSVGElement;
  const viewLabel = root.querySelector(".view") as HTMLElement;
  let frame: ViewFrame = view.frames[view.frames.length - 1];
  let v0 = 0;
  let v1 = axis.width;
  const minSpan = axis.width * 2 ** -44;
  let described: string[] = [];
  let pending = false;

  const pixels = () => Math.max(300, svg.clientWidth || root.clientWidth || 1200);
  const xOf = (u: number, P: number) => ((u - v0) / (v1 - v0)) * P;

  function lane(
    role: LaneRole | "gpa",
    bars: readonly ViewBar[],
    at: (b: ViewBar) => [bigint, bigint],
    P: number,
  ): Drawn[] {
    const out: Drawn[] = [];
    for (const b of bars) {
      const [s, e] = at(b);
      let x0 = xOf(axis.u(s), P);
      let x1 = xOf(e >= 1n << 64n ? axis.width : axis.u(e), P);
      if (x1 < -1 || x0 > P + 1) continue;
      x0 = Math.max(-2, x0);
      x1 = Math.min(P + 2, x1);
      const last = out[out.length - 1];
      // Bars under a pixel wide are drawn together with their neighbour.
      if (last && x0 < last.x1 + 1 && (x1 - x0 < 2 || last.x1 - last.x0 < 2)) {
        out[out.length - 1] = {
          x0: last.x0,
          x1: Math.max(last.x1, x1),
          k: RANK[b.k] > RANK[last.k] ? b.k : last.k,
          bars: [...last.bars, b],
        };
      } else out.push({ x0, x1, k: b.k, bars: [b] });
    }
    void role;
    return out;
  }

  function barSvg(
    role: LaneRole | "gpa",
    d: Drawn,
    y: number,
    h: number,
    label: (b: ViewBar) => string[],
    room = d.x1 - d.x0,
  ): string {
    const w = Math.max(role.endsWith("map") ? 4 : 2, d.x1 - d.x0);
    const text =
      d.bars.length === 1
        ? describe(role, d.bars[0])
        : `${d.bars.reduce((n, b) => n + (b.r ?? 1), 0)} ${role.endsWith("window") ? "windows" : "runs"} here, ${d.bars.reduce((n, b) => n + (b.n ?? 0), 0)} entries (zoom in to tell them apart); the first: ${describe(role, d.bars[0])}`;
    described.push(text);
    const cls = `bar k-${d.k} ${side(role)}${role.endsWith("window") ? " window" : ""}`;
    let t = "";
    if (d.bars.length === 1) {
      // A label may run on past a narrow bar, up to the next bar of its lane.
      const fit = label(d.bars[0]).find((l) => l.length * CHAR_W <= Math.max(w, room) - 6);
      if (fit) t = `<text x="${(d.x0 + 3).toFixed(1)}" y="${y + h - 5}">${esc(fit)}</text>`;
    } else {
      const runs = d.bars.reduce((n, b) => n + (b.r ?? 1), 0);
      const entries = d.bars.reduce((n, b) => n + (b.n ?? 0), 0);
      const fit = [`${runs} runs, ${entries} entries`, `${runs} runs`].find(
        (l) => l.length * CHAR_W <= w - 6,
      );
      if (fit) t = `<text x="${(d.x0 + 3).toFixed(1)}" y="${y + h - 5}">${fit}</text>`;
    }
    return `<g class="${cls}" tabindex="0" data-role="${role}" data-start="${d.bars[0].s}" data-d="${described.length - 1}"><rect x="${d.x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${h}" rx="2"></rect>${t}</g>`;
  }

  const windowLabels = (b: ViewBar): string[] => {
    const s = BigInt(b.s);
    const e = s + BigInt(b.z) - 1n;
    const name = b.w ? `${windowName(b)} ` : "";
    const mark = b.k === "ok" ? "" : b.k === "missing" ? "NOT ON HOST: " : "≠ ";
    return [
      `${mark}${name}${b.s}–${hx(e)} (${sizeText(BigInt(b.z))})`,
      `${mark}${name}${b.s} (${sizeText(BigInt(b.z))})`,
      `${mark}${b.s}`,
      mark.trim(),
    ].filter(Boolean);
  };
  const mapLabels = (b: ViewBar): string[] => {
    const mark =
      b.k === "ok" ? "" : b.k === "wrong" ? "≠ " : b.k === "missing" ? "missing: " : "extra: ";
    const n = b.n !== undefined && b.n !== 1 ? ` (${b.n} entries)` : "";
    return [
      `${mark}${b.s} → ${b.t}${n}`,
      `${mark}→ ${b.t}${n}`,
      `${mark}→ ${b.t}`,
      mark.trim(),
    ].filter(Boolean);
  };

  function ruler(P: number, height: number): string {
    const out: string[] = [];
    const labels: { x: number; text: string; strong: boolean }[] = [];
    const first = axis.addr(Math.max(0, v0));
    for (const s of axis.segments) {
      const su = s.u;
      const eu = s.u + s.w;
      if (eu < v0 || su > v1) continue;
      const x0 = xOf(su, P);
      const x1 = xOf(eu, P);
      if (s.gap) {
        const a = Math.max(-2, x0);
        const b = Math.min(P + 2, x1);
        out.push(
          `<rect class="gap" x="${a.toFixed(1)}" y="${RULER_H - 4}" width="${(b - a).toFixed(1)}" height="${height - RULER_H + 4}"></rect>`,
        );
        const text = `${sizeText(s.size)} skipped`;
        if (b - a > text.length * 6 + 4)
          out.push(
            `<text class="gap" x="${((a + b) / 2).toFixed(1)}" y="${RULER_H + 8}" text-anchor="middle">${esc(text)}</text>`,
          );
        else if (b - a > 14)
          out.push(
            `<text class="gap" x="${((a + b) / 2).toFixed(1)}" y="${RULER_H + 8}" text-anchor="middle">⋯</text>`,
          );
      }
      if (x0 >= -1 && x0 <= P + 1) labels.push({ x: x0, text: hx(s.start), strong: true });
      if (!s.gap) {
        // Ticks inside an occupied range: powers of two that give labels room.
        const a = su < v0 ? axis.addr(v0) : s.start;
        const b = eu > v1 ? axis.addr(v1) : s.start + s.size;
        const across = Math.max(1, Math.min(P, x1) - Math.max(0, x0));
        const want = BigInt(Math.max(1, Math.floor(across / 150)));
        let step = 1n;
        while (step * want < b - a) step <<= 1n;
        if (step < 16n) step = 16n;
        let t = ((a + step - 1n) / step) * step;
        for (let n = 0; t < b && n < 64; n++, t += step) {
          if (t === s.start) continue;
          labels.push({ x: xOf(axis.u(t), P), text: hx(t), strong: false });
        }
      }
    }
    labels.sort((p, q) => (p.strong === q.strong ? p.x - q.x : p.strong ? -1 : 1));
    const taken: [number, number][] = [];
    for (const l of labels) {
      const w = l.text.length * 6 + 6;
      const a = Math.min(Math.max(0, l.x - w / 2), P - w);
      if (taken.some(([p, q]) => a < q && a + w > p)) {
        out.push(
          `<line class="${l.strong ? "boundary" : "tick"}" x1="${l.x.toFixed(1)}" x2="${l.x.toFixed(1)}" y1="${RULER_H - 8}" y2="${l.strong ? height : RULER_H - 2}"></line>`,
        );
        continue;
      }
      taken.push([a, a + w]);
      out.push(
        `<line class="${l.strong ? "boundary" : "tick"}" x1="${l.x.toFixed(1)}" x2="${l.x.toFixed(1)}" y1="${RULER_H - 8}" y2="${l.strong ? height : RULER_H - 2}"></line>` +
          `<text class="tick" x="${(a + w / 2).toFixed(1)}" y="${l.strong ? 12 : 23}" text-anchor="middle">${l.text}</text>`,
      );
    }
    void first;
    return out.join("");
  }

  function render(): void {
    pending = false;
    described = [];
    const P = pixels();
    const parts: string[] = [];
    let y = RULER_H + 6;
    for (const sp of frame.spaces) {
      parts.push(`<text class="space" x="0" y="${y + 14}">${esc(sp.title)}</text>`);
      y += SPACE_TITLE_H;
      const gMap = sp.lanes.find((l) => l.role === "guest-map");
      const hMap = sp.lanes.find((l) => l.role === "host-map");
      const laneY = new Map<string, number>();
      const order: (LaneRole | "gpa")[] = [
        "guest-window",
        "guest-map",
        "gpa",
        "host-map",
        "host-window",
      ];
      for (const role of order) {
        const l = sp.lanes.find((x) => x.role === role);
        if (role === "gpa") {
          if (!gMap?.bars.length && !hMap?.bars.length) continue;
          laneY.set("gpa", y + TITLE_H);
          parts.push(
            `<text class="lane" x="0" y="${y + 10}">guest physical memory: where the guest's entries (above) and the host's mappings (below) point</text>`,
          );
          const targets = (
            src: readonly ViewBar[] | undefined,
            who: string,
            top: number,
            h: number,
          ) => {
            const bars = (src ?? [])
              .filter((b) => b.t !== undefined)
              .map((b) => ({
                ...b,
                s: b.t as string,
                z: b.tz ?? (b.same ? "0x1000" : b.z),
                w: who,
              }))
              .sort((a, b) => (BigInt(a.s) < BigInt(b.s) ? -1 : 1));
            for (const d of lane("gpa", bars, (b) => [BigInt(b.s), BigInt(b.s) + BigInt(b.z)], P))
              parts.push(barSvg("gpa", d, top, h, () => []));
          };
          const half = (GPA_H - TITLE_H) / 2;
          targets(gMap?.bars, "the guest's entries", y + TITLE_H, half - 1);
          targets(hMap?.bars, "the host's mappings", y + TITLE_H + half + 1, half - 1);
          y += GPA_H;
          continue;
        }
        if (!l) continue;
        laneY.set(role, y + TITLE_H);
        parts.push(
          `<text class="lane" x="0" y="${y + 10}">${esc(l.title)}${l.runs ? ` — ${l.runs} runs drawn as ${l.bars.length} bars` : ""}</text>`,
        );
        const drawn = lane(role, l.bars, (b) => [BigInt(b.s), BigInt(b.s) + BigInt(b.z)], P);
        const labels = role.endsWith("window") ? windowLabels : mapLabels;
        drawn.forEach((d, i) => {
          const next = i + 1 < drawn.length ? drawn[i + 1].x0 : P;
          parts.push(barSvg(role, d, y + TITLE_H, BAR_H, labels, next - d.x0));
        });
        y += LANE_H;
      }
      // The relation: each mapping's bus address joined to the guest physical address it reaches.
      const gy = laneY.get("gpa");
      if (gy !== undefined) {
        const links: string[] = [];
        const join = (role: LaneRole, barY: number | undefined, down: boolean) => {
          const l = sp.lanes.find((x) => x.role === role);
          if (!l || barY === undefined) return;
          let n = 0;
          const left = new Set<string>();
          const right = new Set<string>();
          for (const d of lane(role, l.bars, (b) => [BigInt(b.s), BigInt(b.s) + BigInt(b.z)], P)) {
            const b = d.bars[0];
            if (b.t === undefined || n++ > 400) continue;
            const xb = Math.min(Math.max((d.x0 + d.x1) / 2, 0), P);
            const raw = xOf(axis.u(BigInt(b.t)), P);
            const tx = Math.min(Math.max(raw, 0), P);
            const y0 = down ? barY + BAR_H : barY;
            const y1 = down ? gy : gy + GPA_H - TITLE_H;
            const mid = (y0 + y1) / 2;
            links.push(
              `<path class="link k-${d.k}${raw === tx ? "" : " off"}" d="M${xb.toFixed(1)},${y0} C${xb.toFixed(1)},${mid} ${tx.toFixed(1)},${mid} ${tx.toFixed(1)},${y1}"></path>`,
            );
            if (raw < 0) left.add(b.t);
            else if (raw > P) right.add(b.t);
          }
          // Targets off screen: say where they are, at the edge they lie beyond.
          const ty = down ? gy + 10 : gy + GPA_H - TITLE_H - 3;
          const list = (set: Set<string>) =>
            [...set].slice(0, 4).join(", ") + (set.size > 4 ? `, … ${set.size - 4} more` : "");
          if (left.size)
            links.push(
              `<text class="offscreen" x="2" y="${ty}">← ${down ? "guest" : "host"} targets ${list(left)}</text>`,
            );
          if (right.size)
            links.push(
              `<text class="offscreen" x="${P - 2}" y="${ty}" text-anchor="end">${down ? "guest" : "host"} targets ${list(right)} →</text>`,
            );
        };
        join("guest-map", laneY.get("guest-map"), true);
        join("host-map", laneY.get("host-map"), false);
        parts.unshift(links.join(""));
      }
      y += 8;
    }
    const height = y + 4;
    svg.setAttribute("viewBox", `0 0 ${P} ${height}`);
    svg.setAttribute("height", String(height));
    svg.innerHTML =
      `<defs><pattern id="iova-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f6f7"></rect><line x1="0" y1="0" x2="0" y2="6" stroke="#d0d3d4" stroke-width="3"></line></pattern></defs>` +
      ruler(P, height) +
      parts.join("");
    const from = axis.addr(Math.max(0, v0));
    const to = axis.addr(Math.min(axis.width, v1));
    root.dataset.from = hx(from);
    root.dataset.to = hx(to);
    viewLabel.textContent = `showing ${hx(from)}–${hx(to)}`;
  }

  const schedule = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(render);
  };
  const setView = (a: number, b: number) => {
    let span = Math.min(axis.width * 1.02, Math.max(minSpan, b - a));
    let mid = (a + b) / 2;
    if (span >= axis.width) mid = axis.width / 2;
    span = Math.max(span, minSpan);
    mid = Math.min(Math.max(mid, span / 2 - axis.width * 0.01), axis.width * 1.01 - span / 2);
    v0 = mid - span / 2;
    v1 = mid + span / 2;
    schedule();
  };
  const zoom = (factor: number, at = (v0 + v1) / 2) =>
    setView(at - (at - v0) * factor, at + (v1 - at) * factor);
  const pan = (fraction: number) => {
    const d = (v1 - v0) * fraction;
    setView(v0 + d, v1 + d);
  };

  svg.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      const r = svg.getBoundingClientRect();
      const at = v0 + ((e.clientX - r.left) / r.width) * (v1 - v0);
      if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) pan((e.deltaX || e.deltaY) / 1000);
      else zoom(e.deltaY > 0 ? 1.25 : 0.8, at);
    },
    { passive: false },
  );
  let drag: { x: number; a: number; b: number } | undefined;
  svg.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, a: v0, b: v1 };
  });
  svg.addEventListener("pointermove", (e) => {
    if (!drag || e.buttons === 0) return;
    const r = svg.getBoundingClientRect();
    const d = ((e.clientX - drag.x) / r.width) * (drag.b - drag.a);
    if (Math.abs(e.clientX - drag.x) > 2) setView(drag.a - d, drag.b - d);
  });
  const stop = () => {
    drag = undefined;
  };
  svg.addEventListener("pointerup", stop);
  svg.addEventListener("pointerleave", stop);
  svg.addEventListener("dblclick", (e) => {
    const g = (e.target as Element).closest?.("g.bar") as SVGGElement | null;
    const rect = g?.querySelector("rect");
    if (!rect) return;
    const r = svg.getBoundingClientRect();
    const x = Number(rect.getAttribute("x"));
    const w = Number(rect.getAttribute("width"));
    const P = r.width;
    const a = v0 + (x / P) * (v1 - v0);
    const b = v0 + ((x + w) / P) * (v1 - v0);
    const pad = (b - a) * 0.1;
    setView(a - pad, b + pad);
  });
  svg.addEventListener("keydown", (e) => {
    const keys: Record<string, () => void> = {
      "+": () => zoom(0.5),
      "=": () => zoom(0.5),
      "-": () => zoom(2),
      _: () => zoom(2),
      ArrowLeft: () => pan(-0.2),
      ArrowRight: () => pan(0.2),
      "0": () => setView(0, axis.width),
      Home: () => setView(0, axis.width),
    };
    const act = keys[e.key];
    if (!act || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    act();
  });
  root.querySelector(".tools")?.addEventListener("click", (e) => {
    const act = (e.target as HTMLElement).dataset?.act;
    if (act === "in") zoom(0.5);
    else if (act === "out") zoom(2);
    else if (act === "fit") setView(0, axis.width);
  });
  const show = (e: Event) => {
    const g = (e.target as Element | null)?.closest?.("[data-d]");
    if (g) detail(described[Number(g.getAttribute("data-d"))] ?? "");
  };
  svg.addEventListener("mouseover", show);
  svg.addEventListener("focusin", show);
  if (typeof ResizeObserver !== "undefined") new ResizeObserver(schedule).observe(root);

  const t0 = performance.now();
  render();
  // How long the first drawing took, for the benchmark (bench/view.bench.ts).
  root.dataset.drawMs = (performance.now() - t0).toFixed(1);
  return {
    axis,
    setFrame(i: number) {
      frame = view.frames[Math.min(Math.max(0, i), view.frames.length - 1)];
      render();
    },
    zoomTo(start: bigint, end: bigint) {
      setView(axis.u(start), end >= 1n << 64n ? axis.width : axis.u(end));
      render();
    },
    fit() {
      setView(0, axis.width);
      render();
    },
  };
}
