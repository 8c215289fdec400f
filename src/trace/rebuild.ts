/**
 * The rebuild: what a trace log's events add up to. Guest actions become scenario steps (plain,
 * YAML-able data for the normal loader); device-side events are kept, in order, to compare with
 * what the model predicts; translations and read-backs are kept to check against the model's
 * tables when they happened. What the log does not say is recorded as unknown, and an assumption
 * that fills it in is recorded wherever it was used.
 */
import type { TraceEventDef } from "./event-def.ts";
import type { TraceValue } from "./format.ts";
import { type TraceRecord, TraceSyntaxError } from "./record.ts";

/** How entries the log does not give are filled in. */
export type Assumption = "none" | "linear";

/** A step as plain data, the way a scenario file writes it. */
export type PlainStep = Record<string, unknown>;

/** A window as the log has it. */
export interface TracedWindow {
  readonly liobn: bigint;
  readonly phb: number;
  readonly start: bigint;
  readonly pageShift: number;
  readonly size: bigint;
}

/** A PCI host bridge of the machine (from the command line, through the model). */
export interface TracedPhb {
  readonly index: number;
  readonly buid: bigint;
  readonly liobns: readonly bigint[];
  readonly defaultWindow: { readonly start: bigint; readonly size: bigint } | undefined;
}

/** A run of TCE entries of one window: `count` entries from bus address `first`. */
export interface EntryRange {
  readonly liobn: bigint;
  readonly first: bigint;
  readonly count: bigint;
}

/** A device-side or checked event of the log. */
export interface Observation {
  readonly line: number;
  readonly def: TraceEventDef;
  readonly values: readonly TraceValue[];
  /** Index of the next guest action when it was logged (the state before that step). */
  readonly before: number;
}

/** What a step does to which entries are known, for the checks that need entries. */
export interface StepEffects {
  /** Entries written with values the log does not give. */
  readonly unknown?: readonly EntryRange[];
  /** Entries written with values the log gives (or the named assumption fills in). */
  readonly known?: readonly EntryRange[];
  /** Windows whose entries all start over (created, removed, reset). */
  readonly cleared?: readonly bigint[];
  /** Entries filled in by an assumption. */
  readonly assumed?: { readonly assumption: Assumption; readonly range: EntryRange };
}

/** The rebuilt run. */
export interface RebuiltTrace {
  readonly steps: readonly PlainStep[];
  /** The log line of each step. */
  readonly stepLines: readonly number[];
  readonly effects: readonly (StepEffects | undefined)[];
  /** Device-side events, in log order. */
  readonly observations: readonly Observation[];
  /** Translations and read-backs to check. */
  readonly checked: readonly Observation[];
  /** Notes on what the log cannot say, with the line. */
  readonly notes: readonly { readonly line: number; readonly text: string }[];
}

const U64 = (1n << 64n) - 1n;

/** Collects contributions while a log is read. */
export class Rebuild {
  readonly steps: PlainStep[] = [];
  readonly stepLines: number[] = [];
  readonly effects: (StepEffects | undefined)[] = [];
  readonly observations: Observation[] = [];
  readonly checked: Observation[] = [];
  readonly notes: { line: number; text: string }[] = [];
  readonly #windows = new Map<bigint, TracedWindow>();
  readonly #defWin = new Set<bigint>();
  #pendingReset: number | undefined;
  readonly #cold = new Set<string>();

  /** Whether a host device's realize is the command line's cold-plug (each is, once). */
  coldPlug(host: string): boolean {
    return this.#cold.delete(host.toLowerCase());
  }
  #lastEvent = "";

  constructor(
    readonly phbs: readonly TracedPhb[],
    initial: readonly TracedWindow[],
    readonly assumption: Assumption,
    coldPlugged: readonly string[] = [],
  ) {
    for (const h of coldPlugged) this.#cold.add(h.toLowerCase());
    for (const w of initial) {
      this.#windows.set(w.liobn, w);
      this.#defWin.add(w.liobn);
    }
  }

  /** The window a LIOBN has now, as the log tells it. */
  window(liobn: bigint): TracedWindow | undefined {
    return this.#windows.get(liobn);
  }

  /** The PHB with that BUID. */
  phbByBuid(buid: bigint): TracedPhb | undefined {
    return this.phbs.find((p) => p.buid === buid);
  }

  /** Whether a guest action has been seen yet. */
  get started(): boolean {
    return this.steps.length > 0;
  }

  /** A guest action: a step of the scenario. */
  step(
    record: TraceRecord,
    step: PlainStep,
    effects?: StepEffects,
    opts: { resetsPending?: boolean } = {},
  ): void {
    if (this.#pendingReset !== undefined && !opts.resetsPending) this.#flushReset();
    this.#pendingReset = undefined;
    this.steps.push(step);
    this.stepLines.push(record.line);
    this.effects.push(effects);
    this.#lastEvent = record.name;
  }

  /** A device-side event to compare in order. */
  observe(record: TraceRecord, def: TraceEventDef): void {
    this.observations.push({
      line: record.line,
      def,
      values: record.values,
      before: this.steps.length,
    });
    this.#lastEvent = record.name;
  }

  /** An event to check against the model's state when it happened. */
  check(record: TraceRecord, def: TraceEventDef): void {
    this.checked.push({ line: record.line, def, values: record.values, before: this.steps.length });
  }

  /** A line that reads as its format but says what QEMU cannot: refused like a malformed one. */
  refuse(record: TraceRecord, expected: string): never {
    throw new TraceSyntaxError(record.line, 1, `${expected} in ${record.name}`);
  }

  /** Something the log cannot say. */
  note(line: number, text: string): void {
    this.notes.push({ line, text });
  }

  /**
   * A TCE table was allocated. For a PHB's default LIOBN while its window is already open (and not
   * because VFIO started listening), the machine was reset: unless the next guest action is the
   * guest's own DMA reset, a system reset step goes in before it.
   */
  tableAllocated(record: TraceRecord, liobn: bigint): void {
    const last = this.#lastEvent;
    this.#lastEvent = record.name;
    if (!this.started || last === "vfio_listener_region_add_iommu") return;
    const phb = this.phbs.find((p) => p.liobns[0] === liobn);
    if (!phb || !this.#windows.has(liobn)) return;
    this.#pendingReset ??= record.line;
  }

  #flushReset(): void {
    const line = this.#pendingReset ?? 0;
    this.steps.push({ reset: "system" });
    this.stepLines.push(line);
    const cleared = [...this.#windows.keys()];
    for (const phb of this.phbs) this.resetPhb(phb);
    this.effects.push({ cleared: [...new Set([...cleared, ...this.#windows.keys()])] });
    this.note(
      line,
      "a TCE table was allocated for a default window that was open: read as a system reset",
    );
  }

  /** Ends the log. */
  finish(): RebuiltTrace {
    if (this.#pendingReset !== undefined) this.#flushReset();
    this.#pendingReset = undefined;
    return {
      steps: this.steps,
      stepLines: this.stepLines,
      effects: this.effects,
      observations: this.observations,
      checked: this.checked,
      notes: this.notes,
    };
  }

  /** A window was created. */
  openWindow(w: TracedWindow): void {
    // A table the PHB's DMA reset enabled stays marked as the default window's (as QEMU's def_win).
    this.#windows.set(w.liobn, w);
  }

  /** A window was removed; QEMU 7.1+ restores the default window when the last one goes. */
  closeWindow(liobn: bigint): bigint[] {
    const w = this.#windows.get(liobn);
    this.#windows.delete(liobn);
    if (!w) return [liobn];
    const phb = this.phbs.find((p) => p.index === w.phb);
    const left = [...this.#windows.values()].some((x) => x.phb === w.phb);
    if (phb && !left && !this.#defWin.has(liobn)) return [liobn, ...this.resetPhb(phb)];
    return [liobn];
  }

  /** The PHB's DMA reset: every window closed, the default one open again. */
  resetPhb(phb: TracedPhb): bigint[] {
    const cleared = phb.liobns.filter((l) => this.#windows.has(l));
    for (const l of phb.liobns) this.#windows.delete(l);
    if (phb.defaultWindow) {
      const liobn = phb.liobns[0];
      this.#windows.set(liobn, {
        liobn,
        phb: phb.index,
        start: phb.defaultWindow.start,
        pageShift: 12,
        size: phb.defaultWindow.size,
      });
      this.#defWin.add(liobn);
      cleared.push(liobn);
    }
    return cleared;
  }

  /** Whether a page index is inside a window. */
  static contains(w: TracedWindow, ioba: bigint): boolean {
    return ioba >= w.start && ioba - w.start < w.size;
  }

  /** Bus address arithmetic wraps at 2^64, as QEMU's does. */
  static wrap(v: bigint): bigint {
    return v & U64;
  }
}
