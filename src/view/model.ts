/**
 * What the report page draws, made from the report alone (plain JSON in, plain JSON out, no I/O,
 * no Node modules): per PHB the bus address space with the guest's windows and their entries as
 * runs (on q35, per device or domain its VT-d or virtio-iommu mappings as runs), the guest
 * physical addresses those point at, and the host IOMMU's windows and mappings at the same bus
 * addresses; every run classified by whether guest and host agree; the
 * disagreements explained in words; the steps in words with what each changed.
 *
 * The page script (`page/draw.ts`) draws this on one zoomable axis. Sizes are bounded so a run with
 * millions of entries still makes a small page: contiguous runs are already merged in the report,
 * and a lane with more runs than `MAX_BARS` is drawn as fewer bars, each saying how many entries
 * and runs it holds.
 */
import type { ContainerReport, GuestWindowReport, Report, StepReport } from "../scenario/report.ts";

/** How a bar relates guest and host: the same meaning (and colour) everywhere. */
export type Agreement =
  /** Guest and host agree (or, for a window, the host covers it). */
  | "ok"
  /** Both have something at this bus address, but it points elsewhere or differs. */
  | "wrong"
  /** The guest has it; the host has nothing there. */
  | "missing"
  /** The host has it; the guest does not. */
  | "extra";

/** One bar: a range of bus (or guest physical) addresses. Short keys: pages may hold thousands. */
export interface ViewBar {
  /** First address, 0x hex. */
  readonly s: string;
  /** Size in bytes, 0x hex. */
  readonly z: string;
  /** Agreement. */
  readonly k: Agreement;
  /** Entries (IOMMU pages) it holds. */
  readonly n?: number;
  /** Runs it holds, when more than one were merged into this bar. */
  readonly r?: number;
  /** The guest physical address its first byte points at, 0x hex (mappings). */
  readonly t?: string;
  /** For merged bars: the bytes from `t` that the targets of all its runs lie within, 0x hex. */
  readonly tz?: string;
  /** Permission (mappings). */
  readonly p?: string;
  /** A name: the window's LIOBN, or the page size of a window. */
  readonly w?: string;
  /** Page size in bytes, 0x hex (windows). */
  readonly g?: string;
  /** Every entry points at the same page (one TCE repeated). */
  readonly same?: true;
  /** Why it disagrees, in words. */
  readonly why?: string;
}

/** What a lane holds. */
export type LaneRole = "guest-window" | "guest-map" | "host-map" | "host-window";

export interface ViewLane {
  readonly role: LaneRole;
  readonly title: string;
  readonly bars: readonly ViewBar[];
  /** Runs before merging, when bars were merged to keep the page small. */
  readonly runs?: number;
}

/** One device's (PHB's) translation: bus -> guest physical -> host. */
export interface ViewSpace {
  readonly title: string;
  readonly lanes: readonly ViewLane[];
}

/** The map as it stood at one moment. */
export interface ViewFrame {
  readonly label: string;
  readonly spaces: readonly ViewSpace[];
}

/** One step in words. */
export interface ViewStep {
  readonly step: number;
  readonly line: number;
  readonly outcome: StepReport["outcome"];
  /** What was called and what it gave, in words. */
  readonly text: string;
  /** What went wrong, if anything. */
  readonly problems: readonly string[];
  /** What it changed: windows and mappings added or removed, ioctls issued. */
  readonly changes: readonly string[];
  /** The frame showing the map after it, if kept. */
  readonly frame?: number;
}

/** A disagreement between guest and host, both addresses written out. */
export interface ViewFinding {
  readonly bus: string;
  /** Bytes the finding covers from `bus`, 0x hex. */
  readonly size: string;
  readonly text: string;
}

/** Everything the report page shows besides the `info mtree` text and flat views. */
export interface ReportView {
  readonly scenario: string;
  readonly behaviour: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly summary: string;
  readonly findings: readonly ViewFinding[];
  /** Findings not listed. */
  readonly findingsOmitted: number;
  /** Frames after steps, then the final state (always last). */
  readonly frames: readonly ViewFrame[];
  readonly steps: readonly ViewStep[];
  readonly stepsOmitted: number;
  readonly timelineNote?: string;
  readonly checks: readonly { name: string; ok: boolean; total: number; messages: string[] }[];
}

/** What the DMA map draws: the report's guest and host parts, at some moment. */
export type DmaState = Pick<Report, "guest" | "host">;

/** Bars per lane at most; more runs are merged into this many bars. */
export const MAX_BARS = 1500;
/** Bars in all timeline frames together at most (the final frame does not count). */
const FRAME_BAR_BUDGET = 30_000;
/** Step rows at most (the JSON report has them all). */
export const STEP_ROWS = 2000;
/** Findings listed at most. */
const FINDINGS = 20;

const big = (h: string) => BigInt(h);
const hx = (v: bigint) => `0x${v.toString(16)}`;
const MASK64 = (1n << 64n) - 1n;

/** Human size: 4 KiB, 1 GiB, 3 GiB, 4097 B. */
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

interface Run {
  readonly bus: bigint;
  readonly size: bigint;
  readonly gpa: bigint;
  readonly perm: string;
  readonly same: boolean;
  readonly page: bigint;
  /** Index of the guest window (guest runs) or -1. */
  readonly window: number;
}

const byBus = (a: Run, b: Run) => (a.bus < b.bus ? -1 : a.bus > b.bus ? 1 : 0);

/** Sorts by bus address unless already sorted (the report lists runs in order). */
function sortByBus(runs: Run[]): Run[] {
  for (let i = 1; i < runs.length; i++) if (runs[i - 1].bus > runs[i].bus) return runs.sort(byBus);
  return runs;
}

/** Entries (pages) a run holds. */
const entriesOf = (r: Run) =>
  r.same ? Number(r.size / r.page) : Math.ceil(Number(r.size) / Number(r.page));

function guestRuns(windows: readonly GuestWindowReport[]): Run[] {
  const out: Run[] = [];
  windows.forEach((w, i) => {
    const page = 1n << BigInt(w.page_shift);
    for (const m of w.mappings ?? [])
      out.push({
        bus: big(m.bus),
        size: big(m.size),
        gpa: big(m.gpa),
        perm: m.perm,
        same: m.same_page === true,
        page,
        window: i,
      });
  });
  return sortByBus(out);
}

function hostRuns(c: ContainerReport): Run[] {
  const windows = c.windows.map((w) => ({
    start: big(w.start),
    end: big(w.start) + big(w.size),
    page: 1n << BigInt(w.page_shift),
  }));
  const pageAt = (iova: bigint) =>
    windows.find((w) => iova >= w.start && iova < w.end)?.page ?? 1n << 12n;
  const out: Run[] = c.mappings.map((m) => {
    const bus = big(m.iova);
    return {
      bus,
      size: big(m.size),
      gpa: big(m.gpa),
      perm: m.perm,
      same: false,
      page: pageAt(bus),
      window: -1,
    };
  });
  return sortByBus(out);
}

/**
 * Compares guest and host runs over the same bus addresses (one sweep, both sorted): a run agrees
 * when every byte of it the other side covers points at the same guest physical address with the
 * same permission, and the other side covers all of it.
 */
const AGREES = { k: "ok" } as const;

function compare(
  mine: readonly Run[],
  theirs: readonly Run[],
): { k: Agreement; at?: Run; other?: Run }[] {
  const out: { k: Agreement; at?: Run; other?: Run }[] = [];
  let j = 0;
  for (const r of mine) {
    // The common case first: the other side holds the very same run.
    const same = theirs[j];
    if (
      same &&
      same.bus === r.bus &&
      same.size === r.size &&
      same.gpa === r.gpa &&
      same.perm === r.perm &&
      same.same === r.same
    ) {
      out.push(AGREES);
      j++;
      continue;
    }
    const end = r.bus + r.size;
    while (j < theirs.length && theirs[j].bus + theirs[j].size <= r.bus) j++;
    let covered = 0n;
    let wrong: Run | undefined;
    for (let k = j; k < theirs.length && theirs[k].bus < end; k++) {
      const o = theirs[k];
      const from = o.bus > r.bus ? o.bus : r.bus;
      const to = o.bus + o.size < end ? o.bus + o.size : end;
      covered += to - from;
      // Compared where the two first overlap; a repeated page against a linear run agrees only
      // over one page.
      const onePage = to - from <= (r.page > o.page ? r.page : o.page);
      if (
        !wrong &&
        (gpaAt(r, from) !== gpaAt(o, from) || o.perm !== r.perm || (r.same !== o.same && !onePage))
      )
        wrong = o;
    }
    if (wrong) out.push({ k: "wrong", other: wrong });
    else if (covered === 0n) out.push({ k: "missing" });
    else if (covered < r.size) out.push({ k: "wrong" });
    else out.push({ k: "ok" });
  }
  return out;
}

/** Runs sorted by guest physical address, for "who else points there" questions. */
class ByGpa {
  readonly #all: readonly Run[];
  #runs: Run[] | undefined;
  constructor(runs: readonly Run[]) {
    this.#all = runs;
  }
  /** A run that maps `gpa`, other than at `notBus` (binary search, then a short scan). */
  find(gpa: bigint, notBus: bigint): Run | undefined {
    // Sorted on first use: only when something disagrees (sorting a million runs costs).
    if (!this.#runs)
      this.#runs = this.#all.filter((r) => !r.same).sort((a, b) => (a.gpa < b.gpa ? -1 : 1));
    const runs = this.#runs;
    let lo = 0;
    let hi = runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (runs[mid].gpa <= gpa) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo - 1; i >= 0 && i >= lo - 8; i--) {
      const r = runs[i];
      if (gpa < r.gpa + r.size && r.bus + (gpa - r.gpa) !== notBus) return r;
    }
    return undefined;
  }
}

/** Why the host's bus address differs from the guest's, in words. */
function offsetWords(guestBus: bigint, hostBus: bigint, windowStart: bigint | undefined): string {
  const d = (guestBus - hostBus) & MASK64;
  if (windowStart !== undefined && windowStart !== 0n && d === windowStart)
    return `the host mapping lacks the window offset ${hx(windowStart)}`;
  if (d < 1n << 63n) return `the host mapping is ${hx(d)} below the guest's bus address`;
  return `the host mapping is ${hx((hostBus - guestBus) & MASK64)} above the guest's bus address`;
}

interface Explained {
  readonly guest: string[];
  readonly host: string[];
  readonly findings: ViewFinding[];
  readonly findingsTotal: number;
}

/** Whether some run of `runs` (sorted by bus) maps `bus` to `gpa`: binary search. */
function guestMapsAt(runs: readonly Run[], bus: bigint, gpa: bigint): boolean {
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (runs[mid].bus <= bus) lo = mid + 1;
    else hi = mid;
  }
  const r = runs[lo - 1];
  return r !== undefined && bus < r.bus + r.size && gpaAt(r, bus) === gpa;
}

/** The guest physical address a run maps `bus` to. */
function gpaAt(r: Run, bus: bigint): bigint {
  return r.same ? r.gpa + ((bus - r.bus) % r.page) : r.gpa + (bus - r.bus);
}

const runText = (who: string, r: Run) =>
  `${who} maps bus ${hx(r.bus)}${r.size > r.page ? `–${hx(r.bus + r.size - 1n)}` : ""} to guest physical ${hx(r.gpa)}${r.same ? " (every entry the same page)" : ""} (${r.perm})`;

/** Words for each disagreeing run, on both sides, and the findings list. */
function explain(
  guest: readonly Run[],
  gk: readonly { k: Agreement; other?: Run }[],
  host: readonly Run[],
  hk: readonly { k: Agreement; other?: Run }[],
  windows: readonly { start: bigint; end: bigint; name: string }[],
  hostWindows: readonly { start: bigint; end: bigint }[],
  failedMaps: readonly string[],
): Explained {
  const guestWhy: string[] = [];
  const hostWhy: string[] = [];
  const findings: { bus: bigint; size: bigint; text: string }[] = [];
  let total = 0;
  const hostByGpa = new ByGpa(host);
  const guestByGpa = new ByGpa(guest);
  const windowOf = (bus: bigint) => windows.find((w) => bus >= w.start && bus < w.end);
  const budget = FINDINGS * 4;
  let worked = 0;
  guest.forEach((r, i) => {
    const { k, other } = gk[i];
    if (k === "ok") return;
    total++;
    if (worked++ > budget) return;
    const w = windowOf(r.bus);
    const parts = [`${runText("the guest", r)}${w ? ` (window ${w.name})` : ""}`];
    if (k === "wrong" && other) {
      const at = r.bus > other.bus ? r.bus : other.bus;
      parts.push(
        `the host maps bus ${hx(at)} to guest physical ${hx(gpaAt(other, at))} (${other.perm})`,
      );
    } else if (k === "missing") {
      const elsewhere = hostByGpa.find(r.gpa, r.bus);
      // Not "instead" when the guest maps that page at the host's address too (a second mapping).
      const found =
        elsewhere && !guestMapsAt(guest, elsewhere.bus + (r.gpa - elsewhere.gpa), r.gpa)
          ? elsewhere
          : undefined;
      const outside = !hostWindows.some((h) => r.bus >= h.start && r.bus < h.end);
      if (found) {
        const hostBus = found.bus + (r.gpa - found.gpa);
        parts.push(
          `the host has nothing there; it maps guest physical ${hx(r.gpa)} at bus ${hx(hostBus)} instead: ${offsetWords(r.bus, hostBus, w?.start)}`,
        );
      } else if (outside)
        parts.push(
          `the host has nothing there: bus ${hx(r.bus)} lies outside every host IOMMU window`,
        );
      else parts.push("the host has nothing there");
      const failed = failedMaps.find((m) => m.includes(`iova=${hx(r.bus)},`));
      const relative =
        w && w.start !== 0n
          ? failedMaps.find((m) => m.includes(`iova=${hx(r.bus - w.start)},`))
          : undefined;
      if (failed) parts.push(`the host refused QEMU's ${failed}`);
      else if (relative && w)
        parts.push(
          `QEMU asked the host for ${relative}: its iova lacks the window offset ${hx(w.start)}, and the host refused it`,
        );
    } else parts.push("the host covers only part of it");
    const text = `${parts.join("; ")}.`;
    guestWhy[i] = text;
    findings.push({ bus: r.bus, size: r.size, text });
  });
  host.forEach((r, i) => {
    const { k, other } = hk[i];
    if (k === "ok") return;
    if (k === "wrong" && other) {
      // Said from the guest's side already; add where the host's target came from.
      const from = guestByGpa.find(r.gpa, r.bus);
      const w = from ? windowOf(from.bus) : undefined;
      const guestBus = from ? from.bus + (r.gpa - from.gpa) : undefined;
      hostWhy[i] =
        `${runText("the host", r)}, but the guest's entry at bus ${hx(r.bus > other.bus ? r.bus : other.bus)} points at ${hx(gpaAt(other, r.bus > other.bus ? r.bus : other.bus))}` +
        (from && guestBus !== undefined
          ? `; guest physical ${hx(r.gpa)} is what the guest maps at bus ${hx(guestBus)}${w ? ` (window ${w.name})` : ""}: ${offsetWords(guestBus, r.bus, w?.start)}.`
          : ".");
      if (from && guestBus !== undefined && worked++ <= budget) {
        findings.push({ bus: r.bus, size: r.size, text: hostWhy[i] });
      }
      return;
    }
    total++;
    if (worked++ > budget) return;
    const from = guestByGpa.find(r.gpa, r.bus);
    const w = from ? windowOf(from.bus) : undefined;
    const guestBus = from ? from.bus + (r.gpa - from.gpa) : undefined;
    const text =
      k === "extra"
        ? `${runText("the host", r)}; the guest maps nothing at bus ${hx(r.bus)}` +
          (from && guestBus !== undefined
            ? `, but maps guest physical ${hx(r.gpa)} at bus ${hx(guestBus)}${w ? ` (window ${w.name})` : ""}: ${offsetWords(guestBus, r.bus, w?.start)}.`
            : " (a stale mapping).")
        : `${runText("the host", r)}; the guest maps only part of it.`;
    hostWhy[i] = text;
    findings.push({ bus: r.bus, size: r.size, text });
  });
  findings.sort((a, b) => (a.bus < b.bus ? -1 : a.bus > b.bus ? 1 : 0));
  return {
    guest: guestWhy,
    host: hostWhy,
    findings: findings
      .slice(0, FINDINGS)
      .map((f) => ({ bus: hx(f.bus), size: hx(f.size), text: f.text })),
    findingsTotal: Math.max(total, findings.length),
  };
}

/** Bars of runs; more than `MAX_BARS` are merged in order, each merged bar saying what it holds. */
function runBars(
  runs: readonly Run[],
  kinds: readonly { k: Agreement }[],
  why: readonly string[],
  maxBars: number,
): ViewBar[] {
  const bar = (r: Run, i: number): ViewBar => ({
    s: hx(r.bus),
    z: hx(r.size),
    k: kinds[i].k,
    n: entriesOf(r),
    t: hx(r.gpa),
    p: r.perm,
    ...(r.same ? { same: true as const } : {}),
    ...(why[i] ? { why: why[i] } : {}),
  });
  if (runs.length <= maxBars) return runs.map(bar);
  const per = Math.ceil(runs.length / maxBars);
  const rank = { wrong: 3, missing: 2, extra: 1, ok: 0 } as const;
  const out: ViewBar[] = [];
  for (let i = 0; i < runs.length; i += per) {
    const group = runs.slice(i, i + per);
    let k: Agreement = "ok";
    let n = 0;
    let firstWhy: string | undefined;
    group.forEach((r, j) => {
      const kk = kinds[i + j].k;
      if (rank[kk] > rank[k]) k = kk;
      n += entriesOf(r);
      firstWhy ??= why[i + j];
    });
    const last = group[group.length - 1];
    let lo = group[0].gpa;
    let hi = group[0].gpa + group[0].size;
    for (const r of group) {
      if (r.gpa < lo) lo = r.gpa;
      const e = r.same ? r.gpa + r.page : r.gpa + r.size;
      if (e > hi) hi = e;
    }
    out.push({
      s: hx(group[0].bus),
      z: hx(last.bus + last.size - group[0].bus),
      k,
      n,
      r: group.length,
      t: hx(lo),
      tz: hx(hi - lo),
      p: group[0].perm,
      ...(firstWhy ? { why: `the first that disagrees: ${firstWhy}` } : {}),
    });
  }
  return out;
}

/** Which host containers serve which PHB: a container goes with the PHB whose windows it covers. */
function spacesOf(state: DmaState): { phb: number | undefined; containers: number[] }[] {
  const phbs = [...new Set(state.guest.windows.map((w) => w.phb))].sort((a, b) => a - b);
  const spaces: { phb: number | undefined; containers: number[] }[] = phbs.map((phb) => ({
    phb,
    containers: [],
  }));
  state.host.containers.forEach((c, ci) => {
    let best = -1;
    let bestScore = 0;
    spaces.forEach((s, si) => {
      let score = 0;
      for (const g of state.guest.windows.filter((w) => w.phb === s.phb)) {
        const gs = big(g.start);
        const ge = gs + big(g.size);
        if (
          c.windows.some((h) => {
            const hs = big(h.start);
            return hs <= gs && hs + big(h.size) >= ge;
          })
        )
          score += 2;
        else if (c.windows.some((h) => big(h.start) === gs)) score += 1;
      }
      if (score > bestScore) {
        best = si;
        bestScore = score;
      }
    });
    if (best >= 0) spaces[best].containers.push(ci);
    else if (spaces.length) spaces[0].containers.push(ci);
    else spaces.push({ phb: undefined, containers: [ci] });
  });
  return spaces;
}

/** What one space of the map holds before it is compared and drawn. */
interface SpaceInput {
  readonly title: string;
  /** The guest-map lane's title. */
  readonly guestTitle: string;
  /**
   * sPAPR's windows and their lane's title; undefined for a q35 guest IOMMU, which has no
   * windows: it translates its whole address width.
   */
  readonly windows?: { readonly title: string; readonly list: readonly GuestWindowReport[] };
  readonly guest: Run[];
  readonly containers: readonly ContainerReport[];
  /** False when the guest IOMMU lets this DMA through untranslated: nothing to compare. */
  readonly translating: boolean;
}

const runsOf = (
  mappings: readonly { iova: string; size: string; gpa: string; perm: string }[],
  page: bigint,
): Run[] =>
  sortByBus(
    mappings.map((m) => ({
      bus: big(m.iova),
      size: big(m.size),
      gpa: big(m.gpa),
      perm: m.perm,
      same: false,
      page,
      window: -1,
    })),
  );

/**
 * q35's spaces: one per guest IOMMU address space a named device DMAs through (a VT-d function,
 * a virtio-iommu domain), beside the host containers of the assigned devices in it; a container
 * no such space claims gets a space of its own. Undefined when the guest has no such IOMMU.
 */
function iommuSpaces(state: DmaState): SpaceInput[] | undefined {
  const { vtd, virtio_iommu: viommu } = state.guest;
  if (!vtd && !viommu) return undefined;
  const claimed = new Set<number>();
  const containersOf = (devices: readonly string[]) =>
    state.host.containers.filter((c, i) => {
      const mine = c.devices.some((d) => devices.includes(d));
      if (mine) claimed.add(i);
      return mine;
    });
  const named = (devices: readonly string[]) => devices.join(", ");
  const tail = (containers: readonly ContainerReport[]) =>
    containers.length ? "assigned" : "emulated";
  const spaces: SpaceInput[] = [];
  for (const d of vtd?.devices ?? []) {
    if (d.device === null) continue;
    const containers = containersOf([d.device]);
    // With translation on and no valid context entry the device's DMA faults: the host should
    // map nothing, so its mappings are still compared (with none).
    const translating = vtd!.translation && d.translating;
    spaces.push({
      title: `VT-d ${d.bdf} (${d.address_space}) — ${tail(containers)}: ${d.device}`,
      guestTitle: !translating
        ? `VT-d (device ${d.device}): untranslated, its DMA reaches guest physical as is`
        : d.domain === null
          ? `VT-d (device ${d.device}): no valid context entry, its DMA faults`
          : `VT-d domain ${d.domain} (device ${d.device}), bus → guest physical`,
      guest: runsOf(d.mappings, 1n << 12n),
      containers,
      translating,
    });
  }
  for (const dom of viommu?.domains ?? []) {
    const devices = dom.endpoints.map((e) => e.device ?? e.bdf);
    const containers = containersOf(devices);
    spaces.push({
      title: `virtio-iommu domain ${dom.domain} — ${devices.length ? `${tail(containers)}: ${named(devices)}` : "no endpoint"}`,
      guestTitle: dom.bypass
        ? `virtio-iommu domain ${dom.domain} (device ${named(devices)}): bypass, its DMA reaches guest physical as is`
        : `virtio-iommu domain ${dom.domain} (device ${named(devices)}), bus → guest physical`,
      guest: runsOf(
        dom.mappings.filter((m) => m.perm !== "none"),
        big(viommu!.granule),
      ),
      containers,
      translating: !dom.bypass,
    });
  }
  state.host.containers.forEach((c, i) => {
    if (claimed.has(i)) return;
    // Not behind VT-d (it lists every function), so a virtio-iommu endpoint in no domain: its
    // DMA bypasses the IOMMU when the config space says so, and faults otherwise.
    const bypass = !viommu || viommu.bypass;
    spaces.push({
      title: `host container — assigned: ${c.devices.join(", ") || "no device"}`,
      guestTitle: `${viommu ? "virtio-iommu" : "VT-d"}: in no domain, ${bypass ? "its DMA reaches guest physical as is" : "no bypass: its DMA faults"}`,
      guest: [],
      containers: [c],
      translating: !bypass,
    });
  });
  return spaces;
}

/** sPAPR's spaces: per PHB its windows, beside the host containers that serve it. */
function phbSpaces(state: DmaState): SpaceInput[] {
  return spacesOf(state).map((sp) => {
    const gw = state.guest.windows.filter((w) => w.phb === sp.phb);
    const containers = sp.containers.map((i) => state.host.containers[i]);
    const devices = containers.flatMap((c) => c.devices);
    return {
      title:
        (sp.phb === undefined ? "host container" : `PHB ${sp.phb} bus addresses`) +
        (devices.length ? ` — assigned: ${devices.join(", ")}` : " — no assigned device"),
      guestTitle: "guest entries (TCEs), bus → guest physical",
      windows: {
        title: sp.phb === undefined ? "guest DMA windows" : `guest DMA windows (PHB ${sp.phb})`,
        list: gw,
      },
      guest: guestRuns(gw),
      containers,
      translating: true,
    };
  });
}

/** One moment's spaces; `failedMaps` are MAP_DMA ioctls that failed (for the words). */
function frameSpaces(
  state: DmaState,
  maxBars: number,
  failedMaps: readonly string[] = [],
): { spaces: ViewSpace[]; findings: ViewFinding[]; findingsTotal: number } {
  const spaces: ViewSpace[] = [];
  const findings: ViewFinding[] = [];
  let findingsTotal = 0;
  const inputs = iommuSpaces(state) ?? phbSpaces(state);
  for (const sp of inputs) {
    const gw = sp.windows?.list ?? [];
    const windows = gw.map((w) => ({
      start: big(w.start),
      end: big(w.start) + big(w.size),
      name: w.liobn,
    }));
    const guest = sp.guest;
    const containers = sp.containers;
    const host = sortByBus(containers.flatMap(hostRuns));
    const hostWindows = containers.flatMap((c) =>
      c.windows.map((w) => ({
        start: big(w.start),
        end: big(w.start) + big(w.size),
        page: big(w.size),
        shift: w.page_shift,
      })),
    );
    const hasHost = containers.length > 0;
    // Untranslated DMA: the host maps guest RAM as is, which nothing here lists to compare with.
    const compared = hasHost && sp.translating;
    const gk = compared ? compare(guest, host) : guest.map(() => ({ k: "ok" as Agreement }));
    const hk = compared
      ? compare(host, guest).map((c) => (c.k === "missing" ? { ...c, k: "extra" as const } : c))
      : host.map(() => ({ k: "ok" as Agreement }));
    const ex = compared
      ? explain(guest, gk, host, hk, windows, hostWindows, failedMaps)
      : { guest: [], host: [], findings: [], findingsTotal: 0 };
    findings.push(...ex.findings);
    findingsTotal += ex.findingsTotal;
    const lanes: ViewLane[] = [];
    if (sp.windows)
      lanes.push({
        role: "guest-window",
        title: sp.windows.title,
        bars: gw.map((w) => {
          const start = big(w.start);
          const end = start + big(w.size);
          const covered = hostWindows.some((h) => h.start <= start && h.end >= end);
          const touched = hostWindows.some((h) => h.start < end && h.end > start);
          const k: Agreement = !hasHost || covered ? "ok" : touched ? "wrong" : "missing";
          return {
            s: w.start,
            z: w.size,
            k,
            n: w.valid_entries,
            w: w.liobn,
            g: hx(1n << BigInt(w.page_shift)),
            ...(k === "missing"
              ? { why: "no host IOMMU window covers this guest window" }
              : k === "wrong"
                ? { why: "host IOMMU windows cover only part of this guest window" }
                : {}),
          };
        }),
      });
    lanes.push({
      role: "guest-map",
      title: sp.guestTitle,
      bars: runBars(guest, gk, ex.guest, maxBars),
      ...(guest.length > maxBars ? { runs: guest.length } : {}),
    });
    if (hasHost) {
      lanes.push({
        role: "host-map",
        title: `host IOMMU mappings, bus → guest physical (${containers.map((c) => `${c.backend}: ${c.devices.join(", ") || "no device"}`).join("; ")})`,
        bars: runBars(host, hk, ex.host, maxBars),
        ...(host.length > maxBars ? { runs: host.length } : {}),
      });
      lanes.push({
        role: "host-window",
        title: "host IOMMU windows",
        bars: hostWindows.map((h) => {
          // sPAPR's host windows mirror the guest's; a q35 guest IOMMU has no windows to mirror.
          const mirrors = !sp.windows || windows.some((g) => h.start <= g.start && h.end >= g.end);
          return {
            s: hx(h.start),
            z: hx(h.end - h.start),
            k: mirrors ? "ok" : "extra",
            g: hx(1n << BigInt(h.shift)),
            ...(mirrors ? {} : { why: "no guest window lies inside this host window" }),
          };
        }),
      });
    }
    spaces.push({ title: sp.title, lanes });
  }
  return { spaces, findings, findingsTotal };
}

const barCount = (spaces: readonly ViewSpace[]) =>
  spaces.reduce((n, s) => n + s.lanes.reduce((m, l) => m + l.bars.length, 0), 0);

/** What a step changed, from the state before and after it, in words. */
function changes(before: DmaState | undefined, after: DmaState, step: StepReport): string[] {
  const out: string[] = [];
  if (before) {
    const gKey = (w: GuestWindowReport) => `${w.liobn} ${w.start} +${w.size}`;
    const was = new Map(before.guest.windows.map((w) => [gKey(w), w]));
    const now = new Map(after.guest.windows.map((w) => [gKey(w), w]));
    for (const [k, w] of now)
      if (!was.has(k))
        out.push(
          `guest window ${w.liobn} added at ${w.start} (${formatSize(big(w.size))}, ${formatSize(1n << BigInt(w.page_shift))} pages)`,
        );
    for (const [k, w] of was)
      if (!now.has(k)) out.push(`guest window ${w.liobn} at ${w.start} removed`);
    for (const [k, w] of now) {
      const o = was.get(k);
      if (o && o.valid_entries !== w.valid_entries) {
        const d = w.valid_entries - o.valid_entries;
        out.push(
          `guest window ${w.liobn}: ${Math.abs(d)} entr${Math.abs(d) === 1 ? "y" : "ies"} ${d > 0 ? "mapped" : "cleared"} (${w.valid_entries} valid)`,
        );
      }
    }
    // q35's guest IOMMU: what its domains map, in bytes (VT-d and virtio-iommu alike).
    const guestBytes = (s: DmaState) =>
      [
        ...(s.guest.vtd?.devices ?? []).flatMap((d) => d.mappings),
        ...(s.guest.virtio_iommu?.domains ?? []).flatMap((d) => d.mappings),
      ].reduce((n, m) => n + big(m.size), 0n);
    const gb = guestBytes(before);
    const ga = guestBytes(after);
    const kind = after.guest.vtd ? "VT-d" : "virtio-iommu";
    if (ga > gb) out.push(`guest ${kind} mappings grew by ${formatSize(ga - gb)}`);
    else if (ga < gb) out.push(`guest ${kind} mappings shrank by ${formatSize(gb - ga)}`);
    const hw = (s: DmaState) =>
      new Set(s.host.containers.flatMap((c) => c.windows.map((w) => `${w.start} +${w.size}`)));
    const hWas = hw(before);
    const hNow = hw(after);
    for (const w of hNow)
      if (!hWas.has(w))
        out.push(
          `host window added at ${w.replace(/\+(\S+)/, (_, s) => `(${formatSize(big(s))})`)}`,
        );
    for (const w of hWas)
      if (!hNow.has(w)) out.push(`host window at ${w.replace(/ \+\S+/, "")} removed`);
    const bytes = (s: DmaState) =>
      s.host.containers.reduce((n, c) => n + c.mappings.reduce((m, r) => m + big(r.size), 0n), 0n);
    const bw = bytes(before);
    const bn = bytes(after);
    if (bn > bw) out.push(`host mappings grew by ${formatSize(bn - bw)}`);
    else if (bn < bw) out.push(`host mappings shrank by ${formatSize(bw - bn)}`);
    else {
      const runs = (s: DmaState) =>
        s.host.containers.map((c) => c.mappings.map((m) => `${m.iova}>${m.gpa}`).join()).join("|");
      if (runs(before) !== runs(after)) out.push("host mappings changed where they point");
    }
  }
  const ioctls = (step.result.ioctls as string[] | undefined) ?? [];
  if (ioctls.length) {
    const shown = ioctls.slice(0, 3).join(", ");
    const more = ioctls.length - 3 + ((step.result.ioctls_omitted as number | undefined) ?? 0);
    out.push(`ioctls: ${shown}${more > 0 ? `, … ${more} more` : ""}`);
  }
  return out;
}

/** A step's call and result in words (what the text report prints). */
function stepText(s: StepReport): string {
  const r = s.result;
  switch (s.kind) {
    case "rtas":
      return `rtas ${s.name}${r.rets ? ` returned [${(r.rets as string[]).join(", ")}]` : ""}`;
    case "hcall":
      return `${s.name}${r.ret !== undefined ? ` returned ${r.ret}` : ""}${r.tce ? `, TCE ${r.tce}` : ""}${r.written !== undefined && r.written !== 1 ? ` (${r.written} entries written)` : ""}`;
    case "dma":
    case "cpu": {
      const what = r.write ? `write at ${r.write}` : `read at ${r.read}`;
      const who = s.kind === "dma" ? `DMA by ${s.name}` : "CPU";
      const data =
        typeof r.data === "string"
          ? `: ${r.data.length > 32 ? `${r.data.slice(0, 32)}…` : r.data}`
          : "";
      return `${who} ${what}${r.via ? ` via ${r.via}` : ""}${r.status ? ` → ${r.status}` : ""}${r.fault_address ? ` at ${r.fault_address}` : ""}${data}`;
    }
    case "device_add":
      return `plug ${s.name}${r.id ? ` as ${r.id}` : ""}`;
    case "device_del":
      return `unplug ${s.name}`;
    case "check":
      return `check ${s.name}: ${r.ok === false ? `does not hold (${r.total ?? "some"} violations)` : "holds"}`;
    case "expect_mtree":
      return `info mtree ${r.holds ? "matches" : "does not match"}`;
    case "ioctl":
      return `ioctl ${s.name} returned ${r.ret}${r.start ? `, start ${r.start}` : ""}`;
    default:
      return `${s.kind} ${s.name}`;
  }
}

/** Extras the page shows beyond the report. */
export interface ReportViewOptions {
  /** The guest and host state after each step, for the timeline. */
  readonly timeline?: readonly { readonly label: string; readonly state: DmaState }[];
  /** Why the timeline is missing or stops early, when it does. */
  readonly timelineNote?: string;
}

/** The report as the page draws it. A pure function: JSON in, JSON out. */
export function reportView(report: Report, options: ReportViewOptions = {}): ReportView {
  const timeline = options.timeline ?? [];
  const failedMaps = report.steps
    .flatMap((s) => (s.result.ioctls as string[] | undefined) ?? [])
    .filter((i) => i.startsWith("MAP_DMA(") && !i.endsWith("= 0"));
  const final = frameSpaces(report, MAX_BARS, failedMaps);
  const frames: ViewFrame[] = [];
  let note = options.timelineNote;
  let used = 0;
  const frameOf = new Map<number, number>();
  timeline.forEach((t, i) => {
    if (note !== undefined && frames.length < i) return;
    const spaces = frameSpaces(t.state, 200).spaces;
    const n = barCount(spaces);
    if (used + n > FRAME_BAR_BUDGET) {
      note ??= `the timeline stops at step ${i}: the maps after it hold too many runs to keep each`;
      return;
    }
    used += n;
    frameOf.set(i, frames.length);
    frames.push({ label: t.label, spaces });
  });
  frames.push({ label: "final state", spaces: final.spaces });
  const steps = report.steps.slice(0, STEP_ROWS).map((s, i) => ({
    step: s.step,
    line: s.line,
    outcome: s.outcome,
    text: stepText(s),
    problems: [
      ...(s.error ? [`${s.qemu_aborts ? "QEMU would abort: " : ""}${s.error}`] : []),
      ...(s.outcome === "refused" && s.refusal && !s.error ? [`refused: ${s.refusal}`] : []),
      ...(s.expectation_failures ?? []).map((f) => f.message),
      ...((s.result.qemu_log as string[] | undefined) ?? []).slice(0, 2).map((l) => `qemu: ${l}`),
    ],
    changes: changes(
      i === 0 ? undefined : timeline[i - 1]?.state,
      timeline[i]?.state ?? report,
      s,
    ).filter((_, k, all) => timeline[i] !== undefined || all[k].startsWith("ioctls")),
    ...(frameOf.has(i) ? { frame: frameOf.get(i) } : {}),
  }));
  const sm = report.summary;
  return {
    scenario: report.scenario,
    behaviour: report.behaviour,
    ok: report.ok,
    ...(report.error ? { error: report.error } : {}),
    summary: `${sm.steps} steps: ${sm.held} held, ${sm.failed} failed, ${sm.succeeded} succeeded, ${sm.refused} refused; ${sm.checks_failed} invariant${sm.checks_failed === 1 ? "" : "s"} failed`,
    findings: final.findings,
    findingsOmitted: Math.max(0, final.findingsTotal - final.findings.length),
    frames,
    steps,
    stepsOmitted: Math.max(0, report.steps.length - STEP_ROWS),
    ...(note ? { timelineNote: note } : {}),
    checks: report.checks.map((c) => ({
      name: c.name,
      ok: c.ok,
      total: c.total,
      messages: c.violations.slice(0, 20).map((v) => v.message),
    })),
  };
}
