/**
 * `iova trace`'s engine: a QEMU trace log and the machine's command line in, the rebuilt scenario
 * played through the model, and every device-side event QEMU logged compared with the model's, in
 * order. Translations and read-backs are checked against the model's tables as they were then;
 * entries the log does not give are skipped by those checks and counted.
 */
import type { PseriesMachine } from "../machine/pseries.ts";
import type { QemuLine } from "../machine/qemu-line.ts";
import { loadScenario } from "../scenario/load.ts";
import type { Report } from "../scenario/report.ts";
import { pseriesOf, runScenario } from "../scenario/run.ts";
import type { Behaviour, Scenario } from "../scenario/schema.ts";
import type { TracedMachine } from "./cmdline.ts";
import { fieldsOf, type TraceEventDef } from "./event-def.ts";
import { TRACE_EVENTS } from "./events.ts";
import type { TraceValue } from "./format.ts";
import { comparableLine, eventLine, modelEvent } from "./model-events.ts";
import { TraceReader } from "./reader.ts";
import {
  type Assumption,
  type EntryRange,
  type Observation,
  Rebuild,
  type RebuiltTrace,
  type StepEffects,
  type TracedPhb,
  type TracedWindow,
} from "./rebuild.ts";
import { block, comment, flow } from "./yaml-text.ts";

/** Options of a trace replay. */
export interface TraceOptions {
  /** Shown in messages and written into the scenario (the log's path). */
  readonly logName: string;
  readonly machineName: string;
  /** How entries the log does not give are filled in (default none: they stay unknown). */
  readonly assumption?: Assumption;
  /** Which QEMU release the model plays (default the scenario's, 7.2). */
  readonly qemu?: QemuLine;
  /** The model's behaviour to compare with (default qemu-7.2). */
  readonly behaviour?: Behaviour;
  /** Told how far it got, now and then: lines read, then steps played. */
  readonly onProgress?: (what: "lines" | "steps", done: number, total?: number) => void;
}

/** One side of a compared event. */
export interface EventRef {
  /** The log line, or for the model the log line of the step that made it. */
  readonly line: number;
  readonly text: string;
  /** The model's step index (model side only). */
  readonly step?: number;
}

/** Where the log and the model first differ, with a few events either side. */
export interface Divergence {
  /** Position in the compared sequences (0-based). */
  readonly index: number;
  readonly log: EventRef | null;
  readonly model: EventRef | null;
  /** Events before it on which both agree. */
  readonly before: readonly EventRef[];
  /** The next events of each side. */
  readonly logAfter: readonly EventRef[];
  readonly modelAfter: readonly EventRef[];
}

/** A checked event that does not hold. */
export interface Mismatch {
  readonly line: number;
  readonly logged: string;
  readonly model: string;
}

/** A known bug recognised in the log. */
export interface Diagnosis {
  readonly line: number;
  readonly bug: "iova-lacks-section-offset";
  readonly message: string;
  readonly loggedIova: string;
  readonly busAddress: string;
  readonly window: string;
  /** How many notifications of that window lack the offset (this is the first). */
  readonly count: number;
}

/** Everything `iova trace` finds. */
export interface TraceResult {
  readonly log: string;
  readonly lines: number;
  readonly events: number;
  readonly unknownEvents: Readonly<Record<string, number>>;
  readonly machine: { readonly ignored: readonly string[]; readonly kvm: boolean };
  readonly assumption: Assumption;
  readonly assumed: readonly {
    readonly line: number;
    readonly liobn: string;
    readonly first: string;
    readonly count: number;
  }[];
  /** Entries still unknown at the end (per window LIOBN). */
  readonly unknownEntries: Readonly<Record<string, number>>;
  readonly notes: readonly { readonly line: number; readonly text: string }[];
  readonly steps: number;
  /** Device-side events before the first guest action (machine start-up; not compared). */
  readonly startupEvents: number;
  readonly comparison: {
    readonly logEvents: number;
    readonly modelEvents: number;
    readonly equal: number;
    /** Notifications (either side) on entries the log does not give: not compared. */
    readonly skipped: number;
    readonly firstDivergence: Divergence | null;
  };
  readonly translations: {
    readonly checked: number;
    readonly equal: number;
    readonly unknown: number;
    readonly mismatches: readonly Mismatch[];
  };
  readonly readbacks: {
    readonly checked: number;
    readonly equal: number;
    readonly unknown: number;
    readonly mismatches: readonly Mismatch[];
  };
  readonly diagnoses: readonly Diagnosis[];
  /** Whether everything compared agrees and the run's own verdicts hold. */
  readonly ok: boolean;
  /** The played run's report. */
  readonly report: Report;
}

/** A replay's outcome: the findings, the scenario text (exactly what was played), the machine. */
export interface TraceReplay {
  readonly result: TraceResult;
  readonly scenarioText: string;
  readonly scenario: Scenario;
  readonly machine: PseriesMachine;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;
const CONTEXT = 3;
const MAX_MISMATCHES = 20;

/** The PHBs and open windows of the machine a command line describes, from the model itself. */
function machineShape(
  traced: TracedMachine,
  qemu: QemuLine | undefined,
): { phbs: TracedPhb[]; windows: TracedWindow[] } {
  const text = scenarioHead("machine", traced, "qemu-7.2", "", qemu) + "steps: []\n";
  const machine = pseriesOf(runScenario(loadScenario(text, "<command line>")).machine);
  const phbs: TracedPhb[] = machine.phbs.map((p) => {
    const def = p.tables[0];
    return {
      index: p.config.index,
      buid: p.buid,
      liobns: p.tables.map((t) => BigInt(t.liobn)),
      defaultWindow: { start: p.config.dmaWinAddr, size: p.config.dmaWinSize },
      ...(def ? {} : {}),
    };
  });
  const windows: TracedWindow[] = machine.phbs.flatMap((p) =>
    p.tables
      .filter((t) => t.enabled)
      .map((t) => ({
        liobn: BigInt(t.liobn),
        phb: p.config.index,
        start: t.busOffset,
        pageShift: t.pageShift,
        size: t.windowSize,
      })),
  );
  return { phbs, windows };
}

function scenarioHead(
  name: string,
  traced: TracedMachine,
  behaviour: Behaviour,
  description: string,
  qemu: QemuLine | undefined,
): string {
  return block({
    name,
    ...(description ? { description } : {}),
    ...(qemu ? { qemu } : {}),
    behaviour,
    machine: traced.machine,
    ...(traced.host ? { host: traced.host } : {}),
  });
}

/** The rebuilt scenario as YAML text: a header saying where it came from, then one step a line. */
export function scenarioText(
  rebuilt: RebuiltTrace,
  traced: TracedMachine,
  options: TraceOptions,
): string {
  const name =
    (options.logName.split("/").pop() ?? "trace").replace(/[^A-Za-z0-9_.-]/g, "-") || "trace";
  const header = comment(
    [
      `Rebuilt by \`iova trace\` from the QEMU trace log ${options.logName} and the command line ${options.machineName}:`,
      "each step is a guest action the log shows (its log line in the comment after it).",
      ...(traced.ignored.length ? [`Not modelled: ${traced.ignored.join("; ")}.`] : []),
      ...(options.assumption === "linear"
        ? [
            "Assumption 'linear': H_PUT_TCE_INDIRECT entries the log does not give continue linearly to the logged one.",
          ]
        : [
            "H_PUT_TCE_INDIRECT entries the log does not give are played as empty placeholders (unknown).",
          ]),
    ].join("\n"),
  );
  const head = scenarioHead(
    name,
    traced,
    options.behaviour ?? "qemu-7.2",
    `QEMU trace log ${options.logName}`,
    options.qemu,
  );
  const steps = rebuilt.steps
    .map((s, i) => `  - ${flow(s)} # ${options.logName}:${rebuilt.stepLines[i]}\n`)
    .join("");
  return `${header}${head}${rebuilt.steps.length ? `steps:\n${steps}` : "steps: []\n"}`;
}

/** Bus-address intervals of unknown entries, per LIOBN. */
class UnknownEntries {
  readonly #by = new Map<bigint, [bigint, bigint][]>();

  apply(effects: StepEffects | undefined, pageShiftOf: (liobn: bigint) => number): void {
    if (!effects) return;
    for (const l of effects.cleared ?? []) this.#by.delete(l);
    for (const r of effects.known ?? []) this.#remove(r, pageShiftOf(r.liobn));
    for (const r of effects.unknown ?? []) this.#add(r, pageShiftOf(r.liobn));
  }

  #span(r: EntryRange, shift: number): [bigint, bigint] {
    return [r.first, r.first + (r.count << BigInt(shift))];
  }

  #add(r: EntryRange, shift: number): void {
    if (r.count <= 0n) return;
    const list = this.#by.get(r.liobn) ?? [];
    list.push(this.#span(r, shift));
    list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const merged: [bigint, bigint][] = [];
    for (const iv of list) {
      const last = merged[merged.length - 1];
      if (last && iv[0] <= last[1]) last[1] = iv[1] > last[1] ? iv[1] : last[1];
      else merged.push([iv[0], iv[1]]);
    }
    this.#by.set(r.liobn, merged);
  }

  #remove(r: EntryRange, shift: number): void {
    const list = this.#by.get(r.liobn);
    if (!list || r.count <= 0n) return;
    const [from, to] = this.#span(r, shift);
    const out: [bigint, bigint][] = [];
    for (const [a, b] of list) {
      if (b <= from || a >= to) out.push([a, b]);
      else {
        if (a < from) out.push([a, from]);
        if (b > to) out.push([to, b]);
      }
    }
    if (out.length) this.#by.set(r.liobn, out);
    else this.#by.delete(r.liobn);
  }

  /** Whether a bus address of that window is unknown (any window when `liobn` is undefined). */
  has(
    liobn: bigint | undefined,
    address: bigint,
    extra: readonly EntryRange[] = [],
    shiftOf?: (l: bigint) => number,
  ): boolean {
    const within = (l: bigint, list: readonly [bigint, bigint][]) =>
      (liobn === undefined || l === liobn) && list.some(([a, b]) => address >= a && address < b);
    for (const [l, list] of this.#by) if (within(l, list)) return true;
    for (const r of extra)
      if (shiftOf && within(r.liobn, [this.#span(r, shiftOf(r.liobn))])) return true;
    return false;
  }

  counts(pageShiftOf: (liobn: bigint) => number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [l, list] of this.#by) {
      const shift = BigInt(pageShiftOf(l));
      out[hex(l)] = list.reduce((n, [a, b]) => n + Number((b - a) >> shift), 0);
    }
    return out;
  }
}

/** Reads a log (given in chunks), rebuilds the run, plays it and compares. */
export function replayTrace(
  chunks: Iterable<string | Uint8Array>,
  traced: TracedMachine,
  options: TraceOptions,
): TraceReplay {
  const assumption = options.assumption ?? "none";
  const shape = machineShape(traced, options.qemu);
  const cold = ((traced.machine.devices ?? []) as { host?: string }[]).flatMap((d) =>
    d.host ? [d.host] : [],
  );
  const rebuild = new Rebuild(shape.phbs, shape.windows, assumption, cold);
  let events = 0;
  const reader = new TraceReader(TRACE_EVENTS, (record, def) => {
    events++;
    def.apply(record, fieldsOf(def, record), rebuild, def);
  });
  let sinceProgress = 0;
  for (const chunk of chunks) {
    reader.push(chunk);
    sinceProgress += chunk.length;
    if (options.onProgress && sinceProgress > 1 << 20) {
      sinceProgress = 0;
      options.onProgress("lines", reader.lines);
    }
  }
  reader.end();
  const rebuilt = rebuild.finish();
  const text = scenarioText(rebuilt, traced, { ...options, assumption });
  const scenario = loadScenario(text, `${options.logName}.yaml`);

  // Play, collecting the model's device-side events and checking translations as they happen.
  const unknown = new UnknownEntries();
  let machineNow: PseriesMachine | undefined;
  const shiftOf = (liobn: bigint) => {
    const t = machineNow?.tables.find((x) => BigInt(x.liobn) === liobn);
    return t?.enabled ? t.pageShift : 12;
  };
  const modelSide: { line: number; step: number; text: string; wild: string; unknown: boolean }[] =
    [];
  // Log notifications on entries the log does not give: known only once played up to them.
  const logUnknown = new Set<Observation>();
  const byStep = new Map<number, Observation[]>();
  for (const o of rebuilt.observations) {
    if (o.def.name !== "vfio_iommu_map_notify") continue;
    const list = byStep.get(o.before) ?? [];
    list.push(o);
    byStep.set(o.before, list);
  }
  // Whether a notification's iova is an entry the log does not give. Under the 2016 behaviour the
  // iova is relative to its window, so each window's start is tried too.
  const legacy = (options.behaviour ?? "qemu-7.2") === "qemu-2016-prefix";
  const notifiesUnknown = (iova: bigint, index: number): boolean => {
    const extra = rebuilt.effects[index]?.unknown ?? [];
    if (unknown.has(undefined, iova, extra, shiftOf)) return true;
    if (!legacy || !machineNow) return false;
    return machineNow.tables.some(
      (t) => t.enabled && unknown.has(BigInt(t.liobn), t.busOffset + iova, extra, shiftOf),
    );
  };
  const markUnknown = (index: number) => {
    for (const o of byStep.get(index) ?? []) {
      if (notifiesUnknown(o.values[1] as bigint, index)) logUnknown.add(o);
    }
  };
  let current = -1;
  const byBefore = new Map<number, Observation[]>();
  for (const c of rebuilt.checked) {
    const list = byBefore.get(c.before) ?? [];
    list.push(c);
    byBefore.set(c.before, list);
  }
  const translations = { checked: 0, equal: 0, unknown: 0, mismatches: [] as Mismatch[] };
  const readbacks = { checked: 0, equal: 0, unknown: 0, mismatches: [] as Mismatch[] };
  const retry: Observation[] = [];
  const checkAll = (list: readonly Observation[], machine: PseriesMachine, final: boolean) => {
    for (const o of list) {
      const verdict = checkObservation(o, machine, unknown, shiftOf);
      if (verdict === "retry" && !final) {
        retry.push(o);
        continue;
      }
      const tally = o.def.name === "spapr_iommu_xlate" ? translations : readbacks;
      tally.checked++;
      if (verdict === "unknown") tally.unknown++;
      else if (verdict === "equal") tally.equal++;
      else if (tally.mismatches.length < MAX_MISMATCHES) {
        const model = verdict === "retry" ? "(no such window in the model)" : verdict;
        tally.mismatches.push({ line: o.line, logged: eventLine(o.def, o.values), model });
      }
    }
  };
  // Log map notifications, looked at with the windows of the step they came with (the seed's bug).
  const notifies = new Map<number, Observation[]>();
  for (const o of rebuilt.observations) {
    if (o.def.name !== "vfio_iommu_map_notify") continue;
    const list = notifies.get(o.before) ?? [];
    list.push(o);
    notifies.set(o.before, list);
  }
  const diagnoses: Diagnosis[] = [];
  const diagnose = (list: readonly Observation[] | undefined, machine: PseriesMachine) => {
    for (const o of list ?? []) {
      const d = lacksSectionOffset(o, machine);
      if (!d) continue;
      // One diagnosis per window: the first notification, and how many more.
      const same = diagnoses.findIndex((x) => x.window === d.window);
      if (same < 0) diagnoses.push(d);
      else diagnoses[same] = { ...diagnoses[same], count: diagnoses[same].count + 1 };
    }
  };
  const { report, machine: ran } = runScenario(scenario, {
    qemu: options.qemu,
    behaviour: options.behaviour,
    onProgress:
      options.onProgress && scenario.steps.length >= 1000
        ? (done, total) => {
            if (done % 1000 === 0) options.onProgress?.("steps", done, total);
          }
        : undefined,
    trace: (e) => {
      const m = modelEvent(e as unknown as Record<string, unknown>);
      if (!m || current < 0) return;
      let wild = false;
      if (m.def.name === "vfio_iommu_map_notify") {
        const iova = m.values[1] as bigint;
        wild = notifiesUnknown(iova, current);
      }
      modelSide.push({
        line: rebuilt.stepLines[current],
        step: current,
        text: eventLine(m.def, m.values),
        wild: comparableLine(m.def, m.values),
        unknown: wild,
      });
    },
    beforeStep: (index, _step, any) => {
      const m = pseriesOf(any);
      current = index;
      machineNow = m;
      checkAll(byBefore.get(index) ?? [], m, false);
      markUnknown(index);
    },
    afterStep: (index, _r, any) => {
      const m = pseriesOf(any);
      checkAll(retry.splice(0), m, true);
      unknown.apply(rebuilt.effects[index], shiftOf);
      diagnose(notifies.get(index), m);
    },
  });
  const machine = pseriesOf(ran);
  machineNow = machine;
  markUnknown(rebuilt.steps.length);
  checkAll(byBefore.get(rebuilt.steps.length) ?? [], machine, true);
  checkAll(retry.splice(0), machine, true);
  diagnose(notifies.get(rebuilt.steps.length), machine);

  // The model does not report what VFIO did while the machine was built (a cold-plugged device's
  // listener): of the events logged before the first guest action, those the first step explains
  // are its own (they come last), the rest are the machine's start-up and are not compared.
  const firstStep = modelSide.filter((m) => m.step === 0 && !m.unknown).length;
  const beforeFirst = rebuilt.observations.filter((o) => o.before === 0 && !logUnknown.has(o));
  const startup = new Set(beforeFirst.slice(0, Math.max(0, beforeFirst.length - firstStep)));
  const comparison = compareSequences(
    rebuilt.observations.filter((o) => !logUnknown.has(o) && !startup.has(o)),
    modelSide.filter((m) => !m.unknown),
    logUnknown.size + modelSide.filter((m) => m.unknown).length,
  );
  const assumed = rebuilt.effects.flatMap((e, i) =>
    e?.assumed
      ? [
          {
            line: rebuilt.stepLines[i],
            liobn: hex(e.assumed.range.liobn),
            first: hex(e.assumed.range.first),
            count: Number(e.assumed.range.count),
          },
        ]
      : [],
  );
  const result: TraceResult = {
    log: options.logName,
    lines: reader.lines,
    events,
    unknownEvents: Object.fromEntries(reader.unknown),
    machine: { ignored: traced.ignored, kvm: traced.kvm },
    assumption,
    assumed,
    unknownEntries: unknown.counts(shiftOf),
    notes: rebuilt.notes,
    steps: rebuilt.steps.length,
    startupEvents: startup.size,
    comparison,
    translations,
    readbacks,
    diagnoses,
    ok:
      report.ok &&
      comparison.firstDivergence === null &&
      translations.mismatches.length === 0 &&
      readbacks.mismatches.length === 0 &&
      diagnoses.length === 0,
    report,
  };
  return { result, scenarioText: text, scenario, machine };
}

/** A translation or read-back against the model now: equal, unknown, retry (no window), or the model's line. */
function checkObservation(
  o: Observation,
  machine: PseriesMachine,
  unknown: UnknownEntries,
  shiftOf: (l: bigint) => number,
): "equal" | "unknown" | "retry" | string {
  const f = fieldsOf(o.def, { line: o.line, name: o.def.name, values: o.values });
  const liobn = f.liobn as bigint;
  const table = machine.tables.find((t) => BigInt(t.liobn) === liobn);
  if (!table?.enabled) return "retry";
  if (o.def.name === "spapr_iommu_xlate") {
    const addr = f.addr as bigint;
    const e = table.translate(addr, 0, 0);
    const inside = addr >> BigInt(table.pageShift) < BigInt(table.nbTable);
    if (inside && unknown.has(liobn, table.busOffset + (addr & table.pageMask), [], shiftOf))
      return "unknown";
    const values: TraceValue[] = [
      liobn,
      addr,
      e.translatedAddr,
      BigInt(e.perm),
      e.addrMask & 0xffffffffn,
    ];
    const mine = comparableLine(o.def, values);
    if (mine === comparableLine(o.def, o.values)) return "equal";
    return inside ? eventLine(o.def, values) : "retry";
  }
  // H_GET_TCE: the TCE the guest read back.
  const ioba = f.ioba as bigint;
  if (unknown.has(liobn, ioba & table.pageMask, [], shiftOf)) return "unknown";
  const got = table.getTce(ioba);
  const values: TraceValue[] = [liobn, ioba, BigInt(got.ret), got.tce];
  return comparableLine(o.def, values) === comparableLine(o.def, o.values)
    ? "equal"
    : eventLine(o.def, values);
}

/**
 * The seed's signature: VFIO notified of an iova that is not in any window, but is exactly a
 * window's bus address less the window's start (the section's offset in the address space).
 */
function lacksSectionOffset(o: Observation, machine: PseriesMachine): Diagnosis | undefined {
  const iova = o.values[1] as bigint;
  const windows = machine.tables.filter((t) => t.enabled);
  if (windows.some((t) => iova >= t.busOffset && iova - t.busOffset < t.windowSize))
    return undefined;
  const w = windows.find((t) => t.busOffset > 0n && iova < t.windowSize);
  if (!w) return undefined;
  const bus = w.busOffset + iova;
  return {
    line: o.line,
    bug: "iova-lacks-section-offset",
    loggedIova: hex(iova),
    busAddress: hex(bus),
    window: `0x${w.liobn.toString(16)}`,
    count: 1,
    message:
      `VFIO was notified of iova ${hex(iova)}, but the guest's TCE is at bus address ${hex(bus)} ` +
      `(window ${hex(BigInt(w.liobn))} at ${hex(w.busOffset)}): the notification lacks the section's offset ` +
      `${hex(w.busOffset)}, the 2016 bug (IOMMU notifications and replay relative to the region, fixed by ` +
      `"memory: Fix IOMMU replay base address" and VFIO's iommu_offset); the host maps ${hex(iova)} instead of ${hex(bus)}`,
  };
}

function compareSequences(
  log: readonly Observation[],
  model: readonly { line: number; step: number; text: string; wild: string }[],
  skipped: number,
): TraceResult["comparison"] {
  const logRef = (o: Observation): EventRef => ({ line: o.line, text: eventLine(o.def, o.values) });
  const modelRef = (m: (typeof model)[number]): EventRef => ({
    line: m.line,
    text: m.text,
    step: m.step,
  });
  const n = Math.max(log.length, model.length);
  let equal = 0;
  for (let i = 0; i < n; i++) {
    const a = log[i];
    const b = model[i];
    const same = a !== undefined && b !== undefined && comparableLine(a.def, a.values) === b.wild;
    if (same) {
      equal++;
      continue;
    }
    return {
      logEvents: log.length,
      modelEvents: model.length,
      equal,
      skipped,
      firstDivergence: {
        index: i,
        log: a ? logRef(a) : null,
        model: b ? modelRef(b) : null,
        before: log.slice(Math.max(0, i - CONTEXT), i).map(logRef),
        logAfter: log.slice(i + 1, i + 1 + CONTEXT).map(logRef),
        modelAfter: model.slice(i + 1, i + 1 + CONTEXT).map(modelRef),
      },
    };
  }
  return {
    logEvents: log.length,
    modelEvents: model.length,
    equal,
    skipped,
    firstDivergence: null,
  };
}

export type { TraceEventDef };
