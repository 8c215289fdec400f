/**
 * iova's own run written as a QEMU trace log: the same events QEMU 7.2 traces, in its `log`
 * backend's format, so `iova trace` reads it back and `diff(1)` compares it with a real QEMU's log.
 * Hypercalls and RTAS calls are traced as QEMU traces them (after they ran, only when QEMU would:
 * H_PUT_TCE_INDIRECT and H_STUFF_TCE not when they fail before their first entry, DDW calls only on
 * success); VFIO's events as the model reports them; TCE tables when a window opens; device DMA
 * through a window as one translation per page.
 */
import { PseriesMachine } from "../machine/pseries.ts";
import type { RunOptions } from "../scenario/run.ts";
import type { Step } from "../scenario/schema.ts";
import type { TceTable } from "../spapr/tce-table.ts";
import { TRACE_EVENTS } from "./events.ts";
import type { TraceValue } from "./format.ts";
import { eventLine, modelEvent } from "./model-events.ts";

const line = (name: string, values: TraceValue[]) => {
  const def = TRACE_EVENTS.get(name);
  if (!def) throw new Error(`no trace event ${name}`);
  return eventLine(def, values);
};
const big = (v: unknown) => BigInt(v as string);
const isPci = (liobn: bigint) => (liobn & 0x80000000n) !== 0n;

interface TableState {
  readonly enabled: boolean;
  readonly busOffset: bigint;
  readonly pageShift: number;
  readonly nbTable: number;
}

const stateOf = (t: TceTable): TableState => ({
  enabled: t.enabled,
  busOffset: t.busOffset,
  pageShift: t.pageShift,
  nbTable: t.nbTable,
});

/** Collects a run's events as QEMU trace lines; pass `options()` to `runScenario`. */
export class QemuTraceWriter {
  readonly lines: string[] = [];
  #pending: string[] = [];
  #before = new Map<number, TableState>();
  #indirectTces: bigint[] | undefined;
  #started = false;

  /** The run options that feed this writer (merge with any others). */
  options(): Pick<RunOptions, "trace" | "beforeStep" | "afterStep"> {
    return {
      trace: (e) => {
        const m = modelEvent(e as unknown as Record<string, unknown>);
        if (m) this.#pending.push(eventLine(m.def, m.values));
      },
      // QEMU's trace format is written for pseries runs only.
      beforeStep: (_i, step, machine) => {
        if (machine instanceof PseriesMachine) this.#beforeStep(step, machine);
      },
      afterStep: (_i, report, machine) => {
        if (machine instanceof PseriesMachine) this.#afterStep(report, machine);
      },
    };
  }

  #start(machine: PseriesMachine): void {
    if (this.#started) return;
    this.#started = true;
    // The machine's reset at start-up allocated the default windows' tables.
    for (const t of machine.tables) if (t.enabled) this.lines.push(this.#newTable(t));
  }

  /** Ends the run (for a run with no steps, the start-up lines). */
  finish(machine: PseriesMachine | { readonly memory: unknown }): string {
    if (!(machine instanceof PseriesMachine))
      return this.lines.length ? `${this.lines.join("\n")}\n` : "";
    this.#start(machine);
    for (const line of this.#pending.splice(0)) this.lines.push(line);
    return this.lines.length ? `${this.lines.join("\n")}\n` : "";
  }

  #newTable(t: TceTable): string {
    // The table's host address is not the model's to know: a stable stand-in.
    return line("spapr_iommu_new_table", [
      BigInt(t.liobn),
      0x7f0000000000n + BigInt(t.liobn & 0xffff) * 0x1000n,
      -1n,
    ]);
  }

  #current: Step | undefined;

  #beforeStep(step: Step, machine: PseriesMachine): void {
    this.#start(machine);
    for (const line of this.#pending.splice(0)) this.lines.push(line);
    this.#current = step;
    this.#before = new Map(machine.tables.map((t) => [t.liobn, stateOf(t)]));
    this.#indirectTces = undefined;
    if (step.kind === "hcall" && step.name === "H_PUT_TCE_INDIRECT") {
      if (step.tces) this.#indirectTces = [...step.tces];
      else if (step.tceList !== undefined && step.npages !== undefined && step.npages <= 512n) {
        const bytes = machine.cpuMemory.read(step.tceList, Number(step.npages) * 8).data;
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        this.#indirectTces = Array.from({ length: Number(step.npages) }, (_, i) =>
          view.getBigUint64(i * 8, false),
        );
      }
    }
  }

  #afterStep(
    report: { name: string; result: Record<string, unknown> },
    machine: PseriesMachine,
  ): void {
    const step = this.#current;
    if (!step) return;
    const out: string[] = [];
    // QEMU traces a vfio-pci device's realize as it starts, whether it then succeeds or not.
    if (step.kind === "device_add" && step.driver === "vfio-pci")
      out.push(line("vfio_realize", [step.host ?? "", 1n]));
    // Tables allocated by this step: windows that opened, a system reset's defaults, and those
    // of the PHB whose DMA the guest reset.
    const resetTables = new Set<number>();
    if (step.kind === "reset") for (const t of machine.tables) resetTables.add(t.liobn);
    const rets = (report.result.rets as string[] | undefined) ?? [];
    if (step.kind === "rtas" && step.name === "ibm,reset-pe-dma-window" && rets[0] === "0x0") {
      const args = ((report.result.args as string[] | undefined) ?? []).map(big);
      const buid = ((args[1] ?? 0n) << 32n) | (args[2] ?? 0n);
      for (const p of machine.phbs)
        if (p.buid === buid) for (const t of p.tables) resetTables.add(t.liobn);
    }
    for (const t of machine.tables) {
      const was = this.#before.get(t.liobn);
      const now = stateOf(t);
      const changed =
        !was?.enabled ||
        was.busOffset !== now.busOffset ||
        was.pageShift !== now.pageShift ||
        was.nbTable !== now.nbTable;
      if (now.enabled && (changed || resetTables.has(t.liobn))) out.push(this.#newTable(t));
    }
    // Loops, not spreads: a 2016 replay notifies about 10^6 times in one step.
    for (const line of this.#pending) out.push(line);
    this.#pending.length = 0;
    for (const line of this.#action(step, report, machine)) out.push(line);
    for (const line of out) this.lines.push(line);
  }

  /** The step's own line(s), as QEMU traces it. */
  #action(
    step: Step,
    report: { result: Record<string, unknown> },
    machine: PseriesMachine,
  ): string[] {
    const r = report.result;
    const tableOf = (liobn: bigint) =>
      liobn >> 32n === 0n ? machine.tables.find((t) => BigInt(t.liobn) === liobn) : undefined;
    const before = (liobn: bigint) => {
      const t = tableOf(liobn);
      return t ? this.#before.get(t.liobn) : undefined;
    };
    const retOf = () => {
      const names: Record<string, bigint> = {
        H_SUCCESS: 0n,
        H_PARAMETER: -4n,
        H_HARDWARE: -1n,
        H_FUNCTION: -2n,
      };
      const v = String(r.ret);
      return names[v] ?? BigInt(v);
    };
    if (step.kind === "hcall") {
      const liobn = step.liobn;
      const p = isPci(liobn) ? "spapr_iommu_pci_" : "spapr_iommu_";
      const b = before(liobn);
      const mask = b
        ? ~((1n << BigInt(b.pageShift)) - 1n) & 0xffffffffffffffffn
        : 0xffffffffffffffffn;
      const ret = retOf();
      switch (step.name) {
        case "H_PUT_TCE":
          return [line(`${p}put`, [liobn, b ? step.ioba & mask : step.ioba, step.tce ?? 0n, ret])];
        case "H_GET_TCE":
          return [
            line(`${p}get`, [
              liobn,
              b ? step.ioba & mask : step.ioba,
              ret,
              r.tce === undefined ? 0n : big(r.tce),
            ]),
          ];
        case "H_STUFF_TCE": {
          if (!b || (step.npages ?? 0n) > BigInt(b.nbTable)) return [];
          const written = BigInt((r.written as number | undefined) ?? 0);
          const after =
            ((step.ioba & mask) + (written << BigInt(b.pageShift))) & 0xffffffffffffffffn;
          return [line(`${p}stuff`, [liobn, after, step.tce ?? 0n, step.npages ?? 0n, ret])];
        }
        case "H_PUT_TCE_INDIRECT": {
          const tces = this.#indirectTces;
          if (!b || !tces || tces.length > 512) return [];
          if (!step.tces && ((step.tceList ?? 0n) & 0xfffn) !== 0n) return [];
          const written = (r.written as number | undefined) ?? 0;
          const last = written ? written - 1 : 0;
          const tce = tces.length === 0 ? 0n : tces[Math.min(written, tces.length - 1)];
          const list = step.tceList ?? 0n;
          return [line(`${p}indirect`, [liobn, step.ioba, list, BigInt(last), tce, ret])];
        }
      }
    }
    if (step.kind === "rtas") {
      const args = ((r.args as string[] | undefined) ?? []).map(big);
      const rets = ((r.rets as string[] | undefined) ?? []).map(big);
      if (rets[0] !== 0n) return [];
      const buid = ((args[1] ?? 0n) << 32n) | (args[2] ?? 0n);
      switch (step.name) {
        case "ibm,query-pe-dma-window": {
          const six = rets.length === 6;
          const max = six ? (rets[2] << 32n) | rets[3] : rets[2];
          return [
            line("spapr_iommu_ddw_query", [buid, args[0], rets[1], max, six ? rets[4] : rets[3]]),
          ];
        }
        case "ibm,create-pe-dma-window":
          return [
            line("spapr_iommu_ddw_create", [
              buid,
              args[0],
              1n << args[3],
              1n << args[4],
              (rets[2] << 32n) | rets[3],
              rets[1],
            ]),
          ];
        case "ibm,remove-pe-dma-window":
          return [line("spapr_iommu_ddw_remove", [args[0]])];
        case "ibm,reset-pe-dma-window":
          return [line("spapr_iommu_ddw_reset", [buid, args[0]])];
      }
      return [];
    }
    if (step.kind === "dma" && !machine.assigned.has(step.device)) {
      // The device's DMA through a window: one translation per page it touches.
      const length = BigInt(step.length ?? step.write?.length ?? 0);
      const out: string[] = [];
      for (const t of machine.tables) {
        if (!t.enabled) continue;
        const end = t.busOffset + t.windowSize;
        if (step.address < t.busOffset || step.address >= end) continue;
        const pageSize = 1n << BigInt(t.pageShift);
        let a = step.address;
        const last = step.address + (length > 0n ? length - 1n : 0n);
        while (a <= last && a < end) {
          const rel = a - t.busOffset;
          const e = t.translate(rel, 0, 0);
          out.push(
            line("spapr_iommu_xlate", [
              BigInt(t.liobn),
              rel,
              e.translatedAddr,
              BigInt(e.perm),
              e.addrMask & 0xffffffffn,
            ]),
          );
          a = (a & ~(pageSize - 1n)) + pageSize;
        }
      }
      return out;
    }
    return [];
  }
}
