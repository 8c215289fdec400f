/**
 * The step runner: builds the machine a scenario describes, plays its steps (the guest's
 * hypercalls and RTAS calls, device DMA, CPU accesses, hot-plug), checks expectations, and
 * returns the report. Guest mistakes are results; nothing a scenario does throws.
 */

import { errnoByName, errnoName } from "../host/errno.ts";
import { RepeatFolder } from "../host/fold.ts";
import { formatIoctl } from "../host/ioctl.ts";
import { GUEST_RAM_HVA, type HostPlatform, POWER9_HOST } from "../host/platform.ts";
import { dmaRead, dmaWrite } from "../iommu/dma.ts";
import { MaterialisationLimitError } from "../iommu/limits.ts";
import { DeviceError, PseriesMachine } from "../machine/pseries.ts";
import { hex } from "../memory/int.ts";
import { formatMtree } from "../memory/mtree/print.ts";
import { hcallReturnName } from "../spapr/constants.ts";
import { type HcallResult, hGetTce, hPutTce, hPutTceIndirect, hStuffTce } from "../spapr/hcalls.ts";
import { rtasCall } from "../spapr/rtas.ts";
import { decodeRtasReturns, encodeRtasArgs, rtasReturnWords } from "../spapr/rtas-args.ts";
import type { VfioHost } from "../vfio/vfio-host.ts";
import type { CheckReport, Report, StepReport } from "./report.ts";
import {
  type Behaviour,
  CHECKS,
  type Expectation,
  type HostSpec,
  type IoctlStep,
  type PhbRef,
  type RtasStep,
  type Scenario,
  type Step,
} from "./schema.ts";

/** A trace event: what happened, with 64-bit values as hex strings. */
export interface TraceEvent {
  readonly seq: number;
  /** Index of the step it happened in (-1 while building the machine). */
  readonly step: number;
  readonly event: string;
  readonly [field: string]: unknown;
}

/** Options of a run. */
export interface RunOptions {
  /** Overrides the scenario's behaviour. */
  readonly behaviour?: Behaviour;
  /** Receives trace events: steps, hypercalls, RTAS calls, IOMMU notifications, VFIO listener callbacks, ioctls. */
  readonly trace?: (event: TraceEvent) => void;
  /** Told before each step (for progress on a terminal). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Called before each step with the live machine (for fuzzing and inspection). */
  readonly beforeStep?: (index: number, step: Step, machine: PseriesMachine) => void;
  /** Most entries one step may mirror one by one into a host (default 2^20). */
  readonly materialisedEntryLimit?: number;
  /** Called after each step with its report and the live machine. */
  readonly afterStep?: (index: number, report: StepReport, machine: PseriesMachine) => void;
}

function traceValue(v: unknown): unknown {
  if (typeof v === "bigint") return hex(v);
  if (Array.isArray(v)) return v.map(traceValue);
  return v;
}

/** Everything a run leaves behind: the report, and the live machine for further inspection. */
export interface RunResult {
  readonly report: Report;
  readonly machine: PseriesMachine;
}

const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
/** Runs a scenario to its end. */
export function runScenario(scenario: Scenario, options: RunOptions = {}): RunResult {
  const behaviour = options.behaviour ?? scenario.behaviour;
  const spec = scenario.machine;
  const needsHost =
    scenario.host !== undefined ||
    spec.devices.some((d) => d.driver === "vfio-pci") ||
    scenario.steps.some((s) => s.kind === "device_add" && s.driver === "vfio-pci");
  const machine = new PseriesMachine({
    ...spec,
    host: needsHost ? hostFrom(scenario.host) : undefined,
    behaviour,
    materialisedEntryLimit: options.materialisedEntryLimit,
  });
  const aborts: string[] = [];
  for (const t of machine.tables) {
    t.onQemuAbort = (message) => aborts.push(message);
  }
  const vfio = machine.vfio;
  if (vfio) aborts.push(...vfio.events.aborts);
  let seq = 0;
  let current = -1;
  const sink = options.trace;
  const emit = (event: string, fields: Record<string, unknown>) => {
    if (!sink) return;
    const out: Record<string, unknown> = { seq: seq++, step: current, event };
    for (const [k, v] of Object.entries(fields)) out[k] = traceValue(v);
    sink(out as TraceEvent);
  };
  if (sink) {
    for (const t of machine.tables) {
      t.iommu.onNotify = (idx, ev) =>
        emit("memory_region_notify_iommu", {
          region: t.iommu.region.name,
          iommu_idx: idx,
          type: ev.type === 2 ? "MAP" : "UNMAP",
          iova: ev.entry.iova,
          translated_addr: ev.entry.translatedAddr,
          addr_mask: ev.entry.addrMask,
          perm: ev.entry.perm,
        });
    }
    if (vfio) {
      vfio.io.onCall = (r) => emit("ioctl", { ioctl: r.ioctl, ...r.args, ret: r.ret });
      vfio.onTrace = (event, fields) => emit(event, fields);
    }
  }
  const started = machine.startupError === undefined;
  const steps: StepReport[] = (started ? scenario.steps : []).map((step, index) => {
    vfio?.breakReports();
    const before = {
      aborts: aborts.length,
      vfioAborts: vfio?.events.aborts.length ?? 0,
      reports: vfio?.events.reports.length ?? 0,
      ioctls: vfio?.io.log.length ?? 0,
    };
    current = index;
    options.onProgress?.(index, scenario.steps.length);
    emit("step", { index, kind: step.kind, line: step.line });
    options.beforeStep?.(index, step, machine);
    let report = runStep(machine, step, index);
    if (step.kind === "rtas" || step.kind === "hcall")
      emit(step.kind, { name: report.name, ...report.result });
    if (vfio) {
      // The 2016 replay repeats each large TCE once per 4 KiB step: repeats are folded.
      const folder = new RepeatFolder();
      for (let i = before.ioctls; i < vfio.io.log.length; i++)
        folder.push(formatIoctl(vfio.io.log.at(i)!));
      folder.break();
      vfio.breakReports();
      const ioctls = folder.lines;
      const log = vfio.events.reports.slice(before.reports);
      aborts.push(...vfio.events.aborts.slice(before.vfioAborts));
      if (ioctls.length || log.length) {
        const extra = {
          ...(ioctls.length ? { ioctls } : {}),
          ...(log.length ? { qemu_log: log } : {}),
        };
        report = { ...report, result: { ...report.result, ...extra } };
      }
    }
    const aborted = aborts.length > before.aborts;
    if (aborted) {
      const error = [report.error, ...aborts.slice(before.aborts)].filter(Boolean).join("; ");
      report = { ...report, qemu_aborts: true, error };
    }
    const want = step.expect?.qemuAborts;
    if (want !== undefined && want !== aborted) {
      const failures = [
        ...(report.expectation_failures ?? []),
        `qemu_aborts: expected ${want}, got ${aborted}`,
      ];
      report = { ...report, ok: false, expectation_failures: failures };
    }
    options.afterStep?.(index, report, machine);
    return report;
  });
  const checks: CheckReport[] = CHECKS.map((name) => machine.check(name));
  const { guest, host } = snapshotState(machine);
  const ok = started && steps.every((s) => s.ok) && checks.every((c) => c.ok);
  const report: Report = {
    scenario: scenario.name,
    behaviour,
    ok,
    ...(started ? {} : { error: `qemu-system-ppc64: ${machine.startupError}` }),
    steps,
    guest,
    host,
    checks,
    mtree: formatMtree(machine.memory),
  };
  return { report, machine };
}

interface Outcome {
  readonly name: string;
  readonly result: Record<string, unknown>;
  readonly error: string | null;
  /** The values expectations compare against. */
  readonly observed: Partial<Record<keyof Expectation, unknown>>;
}

function runStep(machine: PseriesMachine, step: Step, index: number): StepReport {
  const outcome = perform(machine, step);
  // A check step is an assertion in itself; other steps fail only on their expectation.
  const expect = step.expect ?? (step.kind === "check" ? { ok: true } : undefined);
  const failures = expect ? compare(expect, outcome.observed) : [];
  return {
    index,
    line: step.line,
    kind: step.kind,
    name: outcome.name,
    ok: failures.length === 0,
    result: outcome.result,
    error: outcome.error,
    ...(failures.length ? { expectation_failures: failures } : {}),
  };
}

function ioctl(machine: PseriesMachine, step: IoctlStep): Outcome {
  const r = machine.rawIoctls.call(step.container, step.ioctl, step.args);
  if (typeof r === "string") return failed(step.ioctl, r);
  const shown = r.ret < 0 ? `-${errnoName(-r.ret)}` : String(r.ret);
  const extra = {
    ...(r.start !== undefined ? { start: hex(r.start) } : {}),
    ...(r.info !== undefined ? { info: r.info } : {}),
  };
  return {
    name: step.ioctl,
    result: { ret: shown, ...extra, locked_pages: Number(r.lockedPages) },
    error: null,
    observed: { ret: r.ret, ...(r.start !== undefined ? { start: r.start } : {}) },
  };
}

function perform(machine: PseriesMachine, step: Step): Outcome {
  switch (step.kind) {
    case "ioctl":
      return ioctl(machine, step);
    case "reset":
      machine.systemReset();
      return { name: "system_reset", result: {}, error: null, observed: {} };
    case "rtas":
      return rtas(machine, step);
    case "hcall":
      return hcall(machine, step);
    case "dma": {
      const device = machine.devices.get(step.device);
      if (!device) return failed(step.device, `no device '${step.device}' is plugged`);
      if (machine.assigned.has(step.device)) {
        const r = machine.assignedDma(
          step.device,
          step.address,
          step.length ?? step.write?.length ?? 0,
          step.write,
        )!;
        const result: Record<string, unknown> = {
          [step.write ? "write" : "read"]: hex(step.address),
          via: "host IOMMU",
          status: r.status,
          ...(r.data ? { data: toHex(r.data) } : {}),
          ...faultField(r.faultAddress),
        };
        return {
          name: step.device,
          result,
          error: null,
          observed: { fault: r.status !== "ok", ...(r.data ? { data: r.data } : {}) },
        };
      }
      const as = device.busMasterAs;
      if (step.write) {
        const r = dmaWrite(as, step.address, step.write);
        const result = {
          write: hex(step.address),
          length: step.write.length,
          status: r.status,
          ...faultField(r.faultAddress),
        };
        return { name: step.device, result, error: null, observed: { fault: r.status !== "ok" } };
      }
      const r = dmaRead(as, step.address, step.length ?? 0);
      const result = {
        read: hex(step.address),
        status: r.status,
        data: toHex(r.data),
        ...faultField(r.faultAddress),
      };
      return {
        name: step.device,
        result,
        error: null,
        observed: { fault: r.status !== "ok", data: r.data },
      };
    }
    case "cpu": {
      const as = machine.cpuMemory;
      if (step.write) {
        const res = as.write(step.address, step.write);
        return {
          name: "memory",
          result: { write: hex(step.address), result: res },
          error: null,
          observed: { fault: res !== 0 },
        };
      }
      const r = as.read(step.address, step.length ?? 0);
      return {
        name: "memory",
        result: { read: hex(step.address), result: r.result, data: toHex(r.data) },
        error: null,
        observed: { fault: r.result !== 0, data: r.data },
      };
    }
    case "device_add": {
      try {
        machine.plug({
          id: step.id,
          driver: step.driver,
          bus: step.bus,
          slot: step.slot,
          host: step.host,
        });
        return { name: step.driver, result: { id: step.id }, error: null, observed: { ok: true } };
      } catch (e) {
        if (e instanceof DeviceError) return failed(step.driver, e.message, { ok: false });
        throw e;
      }
    }
    case "device_del":
      try {
        machine.unplug(step.id);
        return { name: step.id, result: { id: step.id }, error: null, observed: { ok: true } };
      } catch (e) {
        if (e instanceof DeviceError) return failed(step.id, e.message, { ok: false });
        throw e;
      }
    case "check": {
      const c = machine.check(step.check);
      return {
        name: step.check,
        result: { ok: c.ok, violations: c.violations },
        error: c.ok ? null : `${step.check} does not hold`,
        observed: { ok: c.ok },
      };
    }
    case "expect_mtree": {
      const text = formatMtree(machine.memory, {
        flat: step.flat,
        disabled: step.disabled,
        owners: step.owners,
      });
      const holds =
        step.contains !== undefined ? text.includes(step.contains) : text === step.equals;
      const mode = step.flat ? "-f" : step.disabled ? "-D" : "";
      return {
        name: `info mtree ${mode}`.trim(),
        result: { holds },
        error: null,
        observed: { ok: holds },
      };
    }
  }
}

function failed(name: string, error: string, observed: Outcome["observed"] = {}): Outcome {
  return { name, result: {}, error, observed: { error, ...observed } };
}

function faultField(addr: bigint | undefined): Record<string, string> {
  return addr === undefined ? {} : { fault_address: hex(addr) };
}

function phbFor(machine: PseriesMachine, target: PhbRef | undefined) {
  if (!target) return { phb: machine.phbs[0], devfn: 0 };
  if ("phb" in target)
    return { phb: machine.phbs.find((p) => p.config.index === target.phb), devfn: 0 };
  const device = machine.devices.get(target.device);
  return { phb: device?.phb, devfn: device?.devfn ?? 0 };
}

function rtasArgs(machine: PseriesMachine, step: RtasStep): number[] | string {
  if (step.args) return step.args.map(Number);
  const f = step.friendly ?? {};
  const { phb, devfn } = phbFor(machine, f.target);
  if (!phb) return `no such PHB or device: ${JSON.stringify(f.target)}`;
  return encodeRtasArgs(step.name, { ...f, buid: phb.buid, devfn });
}

function rtas(machine: PseriesMachine, step: RtasStep): Outcome {
  const args = rtasArgs(machine, step);
  if (typeof args === "string") return failed(step.name, args);
  const rets = rtasCall(machine, step.name, args, step.nret ?? rtasReturnWords(step.name));
  const { status, ...values } = decodeRtasReturns(step.name, rets);
  return {
    name: step.name,
    result: { args: args.map(hex), rets: rets.map(hex) },
    error: null,
    observed: { rets: rets.map(BigInt), status, ...values },
  };
}

function hcall(machine: PseriesMachine, step: Extract<Step, { kind: "hcall" }>): Outcome {
  let r: HcallResult;
  switch (step.name) {
    case "H_PUT_TCE":
      r = hPutTce(machine, step.liobn, step.ioba, step.tce ?? 0n);
      break;
    case "H_GET_TCE":
      r = hGetTce(machine, step.liobn, step.ioba);
      break;
    case "H_STUFF_TCE":
      try {
        r = hStuffTce(machine, step.liobn, step.ioba, step.tce ?? 0n, step.npages ?? 0n);
      } catch (e) {
        if (e instanceof MaterialisationLimitError) return failed(step.name, e.message);
        throw e;
      }
      break;
    case "H_PUT_TCE_INDIRECT":
      r = step.tces
        ? hPutTceIndirect(machine, step.liobn, step.ioba, { tces: step.tces })
        : hPutTceIndirect(machine, step.liobn, step.ioba, {
            address: step.tceList ?? 0n,
            npages: step.npages ?? 0n,
          });
      break;
  }
  const result: Record<string, unknown> = { ret: hcallReturnName(r.ret) };
  if (r.tce !== undefined) result.tce = hex(r.tce);
  if (r.written !== undefined) result.written = r.written;
  return {
    name: step.name,
    result,
    error: null,
    observed: { ret: r.ret, ...(r.tce !== undefined ? { tce: r.tce } : {}) },
  };
}

function show(v: unknown): string {
  if (typeof v === "bigint") return hex(v);
  if (v instanceof Uint8Array) return `"${toHex(v)}"`;
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  return JSON.stringify(v);
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array)
    return Buffer.from(a).equals(Buffer.from(b));
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (typeof a === "bigint" || typeof b === "bigint")
    return BigInt(a as bigint) === BigInt(b as bigint);
  return a === b;
}

/** Each expected field against what was observed; a message per mismatch. */
function compare(expect: Expectation, observed: Outcome["observed"]): string[] {
  const failures: string[] = [];
  for (const [key, want] of Object.entries(expect)) {
    if (key === "qemuAborts") continue;
    if (key === "error") {
      const got = observed.error;
      if (typeof got !== "string" || !got.includes(want as string)) {
        failures.push(
          `error: expected one containing ${JSON.stringify(want)}, got ${got === undefined ? "no error" : JSON.stringify(got)}`,
        );
      }
      continue;
    }
    const got = observed[key as keyof Expectation];
    if (got === undefined) {
      failures.push(`${key}: expected ${show(want)}, but this step gives no ${key}`);
    } else if (!same(got, want)) {
      failures.push(`${key}: expected ${show(want)}, got ${show(got)}`);
    }
  }
  return failures;
}

/** The host platform a scenario's `host:` section describes (POWER9 powernv by default). */
export function hostFrom(spec: HostSpec | undefined): {
  platform: HostPlatform;
  backend: HostSpec["iommu"];
} {
  if (!spec) return { platform: POWER9_HOST, backend: "spapr-tce-v2" };
  const pgsizes = spec.pgsizes.reduce((m, s) => m | s, 0n);
  const platform: HostPlatform = {
    ...POWER9_HOST,
    pageSize: spec.pageSize,
    pgsizes,
    ramPageSize: spec.ramPageSize ?? spec.pageSize,
    ...(spec.maxLevels !== undefined ? { maxLevels: spec.maxLevels } : {}),
    ...(spec.windowStarts ? { windowStarts: spec.windowStarts } : {}),
    ...(spec.memlockLimit !== undefined ? { memlockLimit: spec.memlockLimit } : {}),
    ...(spec.dmaEntryLimit !== undefined ? { dmaEntryLimit: spec.dmaEntryLimit } : {}),
    ...(spec.reservedIova !== undefined ? { reservedIova: spec.reservedIova } : {}),
    ...(spec.ddw !== undefined ? { ddw: spec.ddw } : {}),
    faults: (spec.faults ?? []).map((f) => ({
      ioctl: f.ioctl,
      errno: errnoByName(f.errno) ?? 22,
      from: f.from,
      once: f.once,
    })),
  };
  return { platform, backend: spec.iommu };
}

/** The host part of the report: windows and maximal mapping runs per container. */
function containerReports(machine: PseriesMachine, vfio: VfioHost) {
  return vfio.containers.map((c) => {
    const devices = [...machine.assigned].filter(([, a]) => a.container === c).map(([id]) => id);
    const runs: { iova: bigint; size: bigint; hva: bigint; perm: string }[] = [];
    for (const e of c.kernel.entries()) {
      const last = runs[runs.length - 1];
      if (
        last &&
        last.iova + last.size === e.iova &&
        last.hva + last.size === e.hva &&
        last.perm === e.perm
      )
        last.size += e.pageSize;
      else runs.push({ iova: e.iova, size: e.pageSize, hva: e.hva, perm: e.perm });
    }
    return {
      backend: c.kernel.backend,
      devices,
      locked_pages: Number(c.kernel.lockedPages),
      windows: c.kernel
        .windows()
        .map((w) => ({ start: hex(w.start), size: hex(w.size), page_shift: w.pageShift })),
      mappings: runs.map((r) => ({
        iova: hex(r.iova),
        size: hex(r.size),
        gpa: hex(vfio.gpaOf(r.hva) ?? r.hva - GUEST_RAM_HVA),
        hva: hex(r.hva),
        perm: r.perm,
      })),
    };
  });
}

/** The guest's windows and the host's containers now: the report's `guest` and `host` parts. */
export function snapshotState(machine: PseriesMachine): Pick<Report, "guest" | "host"> {
  const windows = machine.phbs.flatMap((phb) =>
    phb.tables
      .filter((t) => t.enabled)
      .map((t) => ({
        phb: phb.config.index,
        liobn: hex(t.liobn),
        start: hex(t.busOffset),
        size: hex(t.windowSize),
        page_shift: t.pageShift,
        valid_entries: t.validEntryCount,
      })),
  );
  const vfio = machine.vfio;
  return {
    guest: { windows },
    host: {
      containers: vfio ? containerReports(machine, vfio) : [],
      locked_pages: vfio ? Number(vfio.process.lockedPages) : 0,
    },
  };
}
