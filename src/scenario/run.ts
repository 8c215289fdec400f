/**
 * The step runner: builds the machine a scenario describes, plays its steps (the guest's
 * hypercalls and RTAS calls, device DMA, CPU accesses, hot-plug), checks expectations, and
 * returns the report. Guest mistakes are results; nothing a scenario does throws.
 */

import { errnoByName, errnoName } from "../host/errno.ts";
import { RepeatFolder } from "../host/fold.ts";
import { formatIoctl } from "../host/ioctl.ts";
import { GUEST_RAM_HVA, type HostPlatform, POWER9_HOST } from "../host/platform.ts";
import { X86_HOST } from "../host/x86-host.ts";
import { MaterialisationLimitError } from "../iommu/limits.ts";
import { DeviceError, PseriesMachine } from "../machine/pseries.ts";
import type { Q35Machine } from "../machine/q35.ts";
import type { QemuLine } from "../machine/qemu-line.ts";
import { bytesEqual } from "../memory/bytes.ts";
import { hex } from "../memory/int.ts";
import { formatMtree } from "../memory/mtree/print.ts";
import { hcallReturnName } from "../spapr/constants.ts";
import { type HcallResult, hGetTce, hPutTce, hPutTceIndirect, hStuffTce } from "../spapr/hcalls.ts";
import { rtasCall } from "../spapr/rtas.ts";
import { decodeRtasReturns, encodeRtasArgs, rtasReturnWords } from "../spapr/rtas-args.ts";
import type { TceTable } from "../spapr/tce-table.ts";
import type { VfioHost } from "../vfio/vfio-host.ts";
import { buildQ35, performQ35, type Q35Run, virtioIommuReport, vtdReport } from "./q35-steps.ts";
import type {
  CheckReport,
  ExpectationFailure,
  GuestWindowReport,
  Report,
  StepReport,
} from "./report.ts";
import {
  type Behaviour,
  CHECKS,
  type Expectation,
  type HostSpec,
  type IoctlStep,
  type MachineFamily,
  MEMTX_RESULTS,
  type PhbRef,
  type RtasStep,
  type Scenario,
  type Step,
} from "./schema.ts";
import {
  BYTES_HEAD,
  BYTES_LIMIT,
  type BytesPolicy,
  checkOutcome,
  cpuAccess,
  dmaOutcome,
  failed,
  mtreeOutcome,
  type Outcome,
  toHex,
} from "./step-outcome.ts";

/** A trace event: what happened, with 64-bit values as hex strings. */
export interface TraceEvent {
  readonly seq: number;
  /** 1-based number of the step it happened in (0 while building the machine). */
  readonly step: number;
  readonly event: string;
  readonly [field: string]: unknown;
}

/** Options of a run. */
export interface RunOptions {
  /** Overrides the scenario's `qemu` (which QEMU release the machine models). */
  readonly qemu?: QemuLine;
  /** Overrides the scenario's behaviour. */
  readonly behaviour?: Behaviour;
  /** A refused or faulted step without an expectation fails the run. */
  readonly strict?: boolean;
  /** Receives trace events: steps, hypercalls, RTAS calls, IOMMU notifications, VFIO listener callbacks, ioctls. */
  readonly trace?: (event: TraceEvent) => void;
  /**
   * Told now and then during a long step (every 16384 guest mappings mirrored into the host), so
   * that a terminal can show the step is still going.
   */
  readonly onWork?: () => void;
  /** Told before each step (for progress on a terminal): steps done so far, and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Called before each step (0-based index) with the live machine (for fuzzing and inspection). */
  readonly beforeStep?: (index: number, step: Step, machine: ScenarioMachine) => void;
  /** Most entries one step may mirror one by one into a host (default in src/iommu/limits.ts). */
  readonly materialisedEntryLimit?: number;
  /** Called after each step (0-based index) with its report and the live machine. */
  readonly afterStep?: (index: number, report: StepReport, machine: ScenarioMachine) => void;
  /**
   * False: the report's `steps` stays empty (each step goes to `afterStep` only), so a run of
   * any length holds one step's report at a time. The summary still counts every step.
   */
  readonly keepSteps?: boolean;
  /** Byte results longer than this (default 4096) are summarised: length, digest, first bytes. */
  readonly bytesLimit?: number;
  /** Digest of summarised bytes (the CLI gives SHA-256; the core has no hash of its own). */
  readonly digest?: (bytes: Uint8Array) => string;
  /** Keeps a summarised byte result somewhere (e.g. a file); returns where, for the report. */
  readonly dumpBytes?: (step: number, field: string, bytes: Uint8Array) => string | undefined;
}

function traceValue(v: unknown): unknown {
  if (typeof v === "bigint") return hex(v);
  if (Array.isArray(v)) return v.map(traceValue);
  return v;
}

/** The machines a scenario can build. */
export type ScenarioMachine = PseriesMachine | Q35Machine;

/** Everything a run leaves behind: the report, and the live machine for further inspection. */
export interface RunResult {
  readonly report: Report;
  readonly machine: ScenarioMachine;
}

/** Lines of a step's ioctl and QEMU log kept in its result; the rest are counted. */
const LOG_LIMIT = 1000;

/**
/**
 * Step kinds that are assertions in themselves (an invariant, an `info mtree` look, qtest lines
 * with the replies QEMU gave): they fail when they do not hold, with or without `expect`.
 */
const ASSERTIONS: ReadonlySet<Step["kind"]> = new Set(["check", "expect_mtree", "qtest"]);

/**
 * Runs a scenario to its end. A machine type the chosen QEMU does not have (`--qemu 10.0` on a
 * pseries-2.1 scenario) throws `MachineTypeError` with QEMU's message: there is no machine to run.
 */
export function runScenario(scenario: Scenario, options: RunOptions = {}): RunResult {
  const behaviour = options.behaviour ?? scenario.behaviour;
  const qemu = options.qemu ?? scenario.qemu;
  const spec = scenario.machine;
  const needsHost =
    scenario.host !== undefined ||
    spec.devices.some((d) => d.driver === "vfio-pci") ||
    scenario.steps.some((s) => s.kind === "device_add" && s.driver === "vfio-pci");
  const aborts: string[] = [];
  let machine: ScenarioMachine;
  let q35: Q35Run | undefined;
  let startupError: string | undefined;
  if (spec.family === "q35") {
    const host = needsHost ? hostFrom(scenario.host, "q35") : undefined;
    const backend = host?.backend === "iommufd" ? ("iommufd" as const) : ("type1" as const);
    q35 = buildQ35(spec, behaviour, host ? { platform: host.platform, backend } : undefined, qemu);
    machine = q35.machine;
    startupError = q35.startupError;
  } else {
    const pseries = new PseriesMachine({
      ...spec,
      host: needsHost ? hostFrom(scenario.host, "pseries") : undefined,
      qemu,
      behaviour,
      materialisedEntryLimit: options.materialisedEntryLimit,
    });
    for (const t of pseries.tables) {
      t.onQemuAbort = (message) => aborts.push(message);
    }
    machine = pseries;
    startupError = pseries.startupError;
  }
  const tables = machine instanceof PseriesMachine ? machine.tables : [];
  const vfio = machine.vfio;
  if (vfio) {
    aborts.push(...vfio.events.aborts);
    vfio.onWork = options.onWork;
  }
  let seq = 0;
  let current = 0;
  const sink = options.trace;
  const emit = (event: string, fields: Record<string, unknown>) => {
    if (!sink) return;
    const out: Record<string, unknown> = { seq: seq++, step: current, event };
    for (const [k, v] of Object.entries(fields)) out[k] = traceValue(v);
    sink(out as TraceEvent);
  };
  /** Traces the notifications of IOMMU regions not yet traced (VT-d adds one per new function). */
  const traceIommus = () => {
    if (!sink) return;
    const iommus = [
      ...tables.map((t) => t.iommu),
      ...(q35?.machine.intelIommu
        ? [...q35.machine.intelIommu.spaces.values()].map((s) => s.iommu)
        : []),
    ];
    for (const iommu of iommus) {
      if (iommu.onNotify) continue;
      iommu.onNotify = (idx, ev) =>
        emit("memory_region_notify_iommu", {
          region: iommu.region.name,
          iommu_idx: idx,
          type: ev.type === 2 ? "MAP" : "UNMAP",
          iova: ev.entry.iova,
          translated_addr: ev.entry.translatedAddr,
          addr_mask: ev.entry.addrMask,
          perm: ev.entry.perm,
        });
    }
  };
  traceIommus();
  if (sink) {
    if (vfio) {
      vfio.io.onCall = (r) => emit("ioctl", { ioctl: r.ioctl, ...r.args, ret: r.ret });
      vfio.onTrace = (event, fields) => emit(event, fields);
    }
  }
  const started = startupError === undefined;
  const keep = options.keepSteps !== false;
  const steps: StepReport[] = [];
  const summary = { steps: 0, held: 0, failed: 0, succeeded: 0, refused: 0, checks_failed: 0 };
  const bytes: BytesPolicy = {
    limit: options.bytesLimit ?? BYTES_LIMIT,
    digest: options.digest,
    dump: options.dumpBytes,
  };
  const total = started ? scenario.steps.length : 0;
  for (let index = 0; index < total; index++) {
    const step = scenario.steps[index];
    vfio?.breakReports();
    const before = {
      aborts: aborts.length,
      vfioAborts: vfio?.events.aborts.length ?? 0,
      reports: vfio?.events.reports.length ?? 0,
      ioctls: vfio?.io.log.length ?? 0,
    };
    current = index + 1;
    options.onProgress?.(index, total);
    emit("step", { kind: step.kind, line: step.line });
    options.beforeStep?.(index, step, machine);
    const outcome = q35
      ? performQ35(q35, step, bytes, index + 1)
      : perform(machine as PseriesMachine, step, bytes, index + 1);
    traceIommus();
    const q35Abort = q35?.takeAbort();
    if (q35Abort !== undefined) aborts.push(q35Abort);
    if (step.kind === "rtas" || step.kind === "hcall")
      emit(step.kind, { name: outcome.name, ...outcome.result });
    let result = outcome.result;
    if (vfio) {
      const extra: Record<string, unknown> = {};
      const ioctlCount = vfio.io.log.length - before.ioctls;
      if (ioctlCount > 0) {
        // The 2016 replay repeats each large TCE once per 4 KiB step: repeats are folded first.
        // Formatting stops once the shown lines are settled: a 2^24-entry hot-plug must not build
        // 2^24 strings. Calls never formatted are counted one line each (unfolded).
        const folder = new RepeatFolder();
        const end = vfio.io.log.length;
        let i = before.ioctls;
        for (; i < end && folder.lines.length <= LOG_LIMIT + 8; i++)
          folder.push(formatIoctl(vfio.io.log.at(i)!));
        folder.break();
        const lines = folder.lines;
        const unformatted = end - i;
        extra.ioctls = lines.length > LOG_LIMIT ? lines.slice(0, LOG_LIMIT) : lines;
        const omitted = Math.max(0, lines.length - LOG_LIMIT) + unformatted;
        if (omitted > 0) extra.ioctls_omitted = omitted;
      }
      vfio.breakReports();
      const logCount = vfio.events.reports.length - before.reports;
      if (logCount > 0) {
        const shown = Math.min(logCount, LOG_LIMIT);
        extra.qemu_log = vfio.events.reports.slice(before.reports, before.reports + shown);
        if (logCount > shown) extra.qemu_log_omitted = logCount - shown;
      }
      aborts.push(...vfio.events.aborts.slice(before.vfioAborts));
      if (ioctlCount > 0 || logCount > 0) result = { ...result, ...extra };
    }
    const aborted = aborts.length > before.aborts;
    const error = aborted
      ? [outcome.error, ...aborts.slice(before.aborts)].filter(Boolean).join("; ")
      : outcome.error;
    // A check or an `info mtree` look is an assertion in itself; other steps assert only what
    // their expectation names.
    const expect = step.expect ?? (ASSERTIONS.has(step.kind) ? { ok: true } : undefined);
    const failures = expect ? compare(expect, outcome, step.kind) : [];
    if (expect?.qemuAborts !== undefined && expect.qemuAborts !== aborted) {
      failures.push(
        failure(
          "qemu_aborts",
          String(expect.qemuAborts),
          String(aborted),
          aborted
            ? "expected QEMU to keep running, but it would abort here"
            : "expected QEMU to abort here, but it keeps running",
        ),
      );
    }
    const refused = aborted ? "QEMU would abort" : refusal(step, outcome);
    const stepOutcome: StepReport["outcome"] = expect
      ? failures.length
        ? "failed"
        : "held"
      : refused === undefined
        ? "succeeded"
        : "refused";
    const report: StepReport = {
      step: index + 1,
      line: step.line,
      kind: step.kind,
      name: outcome.name,
      outcome: stepOutcome,
      ok: stepOutcome !== "failed",
      result,
      error,
      ...(refused !== undefined ? { refusal: refused } : {}),
      ...(failures.length ? { expectation_failures: failures } : {}),
      ...(aborted ? { qemu_aborts: true } : {}),
    };
    summary.steps++;
    summary[stepOutcome]++;
    if (keep) steps.push(report);
    options.afterStep?.(index, report, machine);
  }
  const checks: CheckReport[] = CHECKS.map((name) =>
    q35 ? q35.check(name) : (machine as PseriesMachine).check(name),
  );
  summary.checks_failed = checks.filter((c) => !c.ok).length;
  const { guest, host } = snapshotState(machine);
  const strict = options.strict === true;
  const ok =
    started &&
    summary.failed === 0 &&
    summary.checks_failed === 0 &&
    !(strict && summary.refused > 0);
  const report: Report = {
    scenario: scenario.name,
    qemu,
    behaviour,
    ok,
    strict,
    ...(started
      ? {}
      : { error: `${q35 ? "qemu-system-x86_64" : "qemu-system-ppc64"}: ${startupError}` }),
    summary,
    steps,
    guest,
    host,
    checks,
    mtree: formatMtree(machine.memory),
  };
  return { report, machine };
}

/** Why a step without an expectation counts as refused or faulted; undefined if it did not. */
function refusal(step: Step, outcome: Outcome): string | undefined {
  // An invariant or `info mtree` look that does not hold is a failed assertion, not a refusal.
  if (ASSERTIONS.has(step.kind)) return undefined;
  if (outcome.error) return outcome.error;
  const o = outcome.observed;
  switch (step.kind) {
    case "hcall":
    case "ioctl":
    case "rtas": {
      const field = step.kind === "rtas" ? "status" : "ret";
      const v = o[field];
      const bad = step.kind === "ioctl" ? (v as number) < 0 : v !== 0 && v !== undefined;
      return bad ? `${field} ${showNamed(step.kind, field, v, true)}` : undefined;
    }
    case "dma":
      return o.fault === true ? String(o.status) : undefined;
    case "virtio_iommu":
      return o.status !== "OK" ? `status ${o.status}` : undefined;
    case "cpu":
      return o.fault === true ? `MemTxResult ${o.result}` : undefined;
    default:
      return undefined;
  }
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

function perform(machine: PseriesMachine, step: Step, bytes: BytesPolicy, n: number): Outcome {
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
    case "dma":
      return dmaOutcome(machine, step, bytes, n);
    case "cpu":
      // pseries guests run big-endian.
      return cpuAccess(machine.cpuMemory, step, bytes, n, true);
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
    case "check":
      return checkOutcome(step, machine.check(step.check));
    case "expect_mtree":
      return mtreeOutcome(machine.memory, step);
    default:
      return failed(step.kind, `a ${step.kind} step is not for pseries machines`);
  }
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

/** Bytes shown in full in an expectation message; longer ones by length and first bytes. */
const SHOWN_BYTES = 64;

function show(v: unknown): string {
  if (typeof v === "bigint") return hex(v);
  if (v instanceof Uint8Array)
    return v.length <= SHOWN_BYTES
      ? `"${toHex(v)}"`
      : `${v.length} bytes "${toHex(v.subarray(0, BYTES_HEAD))}…"`;
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  return JSON.stringify(v);
}

const RTAS_STATUS_NAMES: Record<number, string> = {
  0: "success",
  [-1]: "hardware error",
  [-2]: "busy",
  [-3]: "parameter error",
};

/** The name the scenario format uses for a value of this field, where it has one. */
function nameOf(kind: Step["kind"], field: string, v: unknown): string | undefined {
  if (typeof v !== "number") return undefined;
  if (kind === "cpu" && field === "result") return memTxName(v);
  if (kind === "hcall" && field === "ret") return hcallReturnName(v);
  if (kind === "ioctl" && field === "ret") return v < 0 ? `-${errnoName(-v)}` : undefined;
  if (kind === "rtas" && field === "status") return RTAS_STATUS_NAMES[v];
  return undefined;
}

/** Fields that count things: shown in decimal, whatever type the expectation holds them in. */
const COUNTS = new Set(["written", "locked_pages", "violations", "available"]);

/** A `MemTxResult` by QEMU's names (bits OR-ed: `MEMTX_ERROR|MEMTX_DECODE_ERROR`). */
function memTxName(v: number): string {
  if (v === 0) return "MEMTX_OK";
  const names = Object.entries(MEMTX_RESULTS)
    .filter(([, bit]) => bit !== 0 && (v & bit) !== 0)
    .map(([n]) => n);
  return names.length ? names.join("|") : String(v);
}

/** A value as a message shows it: by name, and for what was got, the number beside the name. */
function showNamed(kind: Step["kind"], field: string, v: unknown, withNumber: boolean): string {
  if (COUNTS.has(field) && (typeof v === "bigint" || typeof v === "number")) return String(v);
  const name = nameOf(kind, field, v);
  if (name === undefined || name === String(v)) return show(v);
  // RTAS status words have descriptions, not names: the number leads.
  if (kind === "rtas") return `${v} (${name})`;
  return withNumber ? `${name} (${v})` : name;
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return bytesEqual(a, b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (typeof a === "bigint" || typeof b === "bigint") {
    // A result field holds 64-bit values as 0x hex strings.
    const big = (v: unknown) =>
      typeof v === "string"
        ? /^0x[0-9a-f]+$/.test(v)
          ? BigInt(v)
          : undefined
        : BigInt(v as bigint);
    return big(a) !== undefined && big(a) === big(b);
  }
  return a === b;
}

/** For two long byte strings: where they first differ. */
function firstDifference(want: unknown, got: unknown): string {
  if (!(want instanceof Uint8Array && got instanceof Uint8Array)) return "";
  if (want.length <= SHOWN_BYTES && got.length <= SHOWN_BYTES) return "";
  const n = Math.min(want.length, got.length);
  let i = 0;
  while (i < n && want[i] === got[i]) i++;
  if (i === n) return `; the shorter is a prefix of the longer`;
  return `; they first differ at byte ${hex(BigInt(i))} (expected ${hex(BigInt(want[i]))}, got ${hex(BigInt(got[i]))})`;
}

/** The report's name of an expectation field (`qemuAborts` -> `qemu_aborts`). */
const fieldName = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function failure(
  kind: string,
  expected: string,
  actual: string | null,
  message: string,
): ExpectationFailure {
  return { check: "expect", kind, expected, actual, message };
}

/**
 * Each expected field against what the step observed, generically: every field of the
 * expectation is compared with the observed value of the same name, or else with the step's
 * result field of that name (`lockedPages` with `locked_pages`), so a new field needs no code here.
 */
function compare(expect: Expectation, outcome: Outcome, kind: Step["kind"]): ExpectationFailure[] {
  const failures: ExpectationFailure[] = [];
  for (const [key, want] of Object.entries(expect) as [string, unknown][]) {
    if (key === "qemuAborts" || want === undefined) continue;
    const field = fieldName(key);
    if (key === "error") {
      const got = outcome.error;
      if (typeof got !== "string" || !got.includes(want as string)) {
        const actual = got === null ? null : JSON.stringify(got);
        failures.push(
          failure(
            field,
            `an error containing ${JSON.stringify(want)}`,
            actual,
            `expected an error containing ${JSON.stringify(want)}, got ${actual ?? "no error"}`,
          ),
        );
      }
      continue;
    }
    // What the step observed under that name, else the report's result field of that name.
    const got = outcome.observed[key] ?? outcome.result[field];
    const expected = showNamed(kind, field, want, false);
    if (got === undefined) {
      failures.push(
        failure(
          field,
          expected,
          null,
          `${field}: expected ${expected}, but this step gives no ${field}`,
        ),
      );
    } else if (!same(got, want)) {
      const actual = showNamed(kind, field, got, true);
      const message =
        outcome.mismatch && key === "ok"
          ? outcome.mismatch
          : `${field}: expected ${expected}, got ${actual}${firstDifference(want, got)}`;
      failures.push(failure(field, expected, actual, message));
    }
  }
  return failures;
}

/** The host platform a scenario's `host:` section describes (POWER9 powernv by default; on q35 an x86 host with type1). */
export function hostFrom(
  spec: HostSpec | undefined,
  family: MachineFamily = "pseries",
): {
  platform: HostPlatform;
  backend: NonNullable<HostSpec["iommu"]>;
} {
  const base = family === "q35" ? X86_HOST : POWER9_HOST;
  const backend = spec?.iommu ?? (family === "q35" ? "type1" : "spapr-tce-v2");
  if (!spec) return { platform: base, backend };
  const defaults =
    family === "q35"
      ? { pageSize: 0x1000n, pgsizes: [0x1000n, 0x200000n, 0x40000000n] }
      : { pageSize: 0x10000n, pgsizes: [0x1000n, 0x10000n, 0x200000n, 0x40000000n] };
  const pageSize = spec.pageSize ?? defaults.pageSize;
  const pgsizes = (spec.pgsizes ?? defaults.pgsizes).reduce((m, s) => m | s, 0n);
  const platform: HostPlatform = {
    ...base,
    pageSize,
    pgsizes,
    ramPageSize: spec.ramPageSize ?? pageSize,
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
  return { platform, backend };
}

/** The host part of the report: windows and maximal mapping runs per container. */
function containerReports(machine: ScenarioMachine, vfio: VfioHost) {
  return vfio.containers.map((c) => {
    const devices = [...machine.assigned].filter(([, a]) => a.container === c).map(([id]) => id);
    const runs: { iova: bigint; size: bigint; hva: bigint; perm: "r" | "w" | "rw" }[] = [];
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

/**
 * A window's valid entries as maximal runs: entries next to each other whose pages follow each
 * other in guest physical memory with one permission. A run of one TCE repeated (H_STUFF_TCE)
 * stays one run that says so (it costs the table's records, not its entries).
 */
function guestRuns(t: TceTable): NonNullable<GuestWindowReport["mappings"]> {
  const page = 1n << BigInt(t.pageShift);
  const perms = ["", "r", "w", "rw"] as const;
  const runs: { bus: bigint; size: bigint; gpa: bigint; perm: "r" | "w" | "rw"; same: boolean }[] =
    [];
  t.entryRuns().forEach(({ index, count, tce }) => {
    const perm = perms[Number(tce & 3n)];
    if (perm === "") return;
    const bus = t.busOffset + (BigInt(index) << BigInt(t.pageShift));
    const gpa = tce & ~(page - 1n) & 0xffff_ffff_ffff_ffffn;
    const same = count > 1;
    const last = runs[runs.length - 1];
    if (
      !same &&
      last &&
      !last.same &&
      last.bus + last.size === bus &&
      last.gpa + last.size === gpa &&
      last.perm === perm
    )
      last.size += page;
    else runs.push({ bus, size: BigInt(count) * page, gpa, perm, same });
  });
  return runs.map((r) => ({
    bus: hex(r.bus),
    size: hex(r.size),
    gpa: hex(r.gpa),
    perm: r.perm,
    ...(r.same ? { same_page: true as const } : {}),
  }));
}

/** The guest's windows and the host's containers now: the report's `guest` and `host` parts. */
export function snapshotState(machine: ScenarioMachine): Pick<Report, "guest" | "host"> {
  const phbs = machine instanceof PseriesMachine ? machine.phbs : [];
  const windows = phbs.flatMap((phb) =>
    phb.tables
      .filter((t) => t.enabled)
      .map((t) => ({
        phb: phb.config.index,
        liobn: hex(t.liobn),
        start: hex(t.busOffset),
        size: hex(t.windowSize),
        page_shift: t.pageShift,
        valid_entries: t.validEntryCount,
        mappings: guestRuns(t),
      })),
  );
  const vfio = machine.vfio;
  return {
    guest: {
      windows,
      ...(!(machine instanceof PseriesMachine) && machine.intelIommu
        ? { vtd: vtdReport(machine) }
        : {}),
      ...(!(machine instanceof PseriesMachine) && machine.virtioIommu
        ? { virtio_iommu: virtioIommuReport(machine) }
        : {}),
    },
    host: {
      containers: vfio ? containerReports(machine, vfio) : [],
      locked_pages: vfio ? Number(vfio.process.lockedPages) : 0,
    },
  };
}

/** A run's machine as the pseries it must be (trace logs and the fuzzer know only pseries). */
export function pseriesOf(machine: ScenarioMachine): PseriesMachine {
  if (machine instanceof PseriesMachine) return machine;
  throw new TypeError("expected a pseries machine: this use of a run knows only pseries");
}
