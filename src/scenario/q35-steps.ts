/**
 * Scenarios on q35: the machine a scenario's `machine:` describes (with intel-iommu or amd-iommu
 * among its devices, vfio-pci onto a type1 host), and the steps it plays, one runner per step
 * kind in `Q35_STEPS`. A new step kind for q35 is a row there (and its schema in schema.ts).
 */

import { EDU_DMA_START, EduDmaCmd, type EduState } from "../machine/edu.ts";
import { q35Compat } from "../machine/machine-type.ts";
import { type Q35Config, Q35DeviceError, type Q35DeviceSpec, Q35Machine } from "../machine/q35.ts";
import type { QemuLine } from "../machine/qemu-line.ts";
import { hex } from "../memory/int.ts";
import { QtestSession } from "../qtest/protocol.ts";
import { replayTranscript } from "../qtest/transcript.ts";
import { type CheckResult, runCheck } from "../vfio/checks.ts";
import type { VfioBehaviour } from "../vfio/container.ts";
import { LinuxVtdDriver, VtdDriverError } from "../vtd/guest-driver.ts";
import { IntelIommuError, type IntelIommuOptions } from "../vtd/intel-iommu.ts";
import type { VirtioIommuReport, VtdReport } from "./report.ts";
import {
  type Behaviour,
  deviceProperties,
  type MachineDevice,
  type Q35MachineSpec,
  type Step,
  type StepKind,
} from "./schema.ts";
import {
  type BytesPolicy,
  bytesResult,
  bytesValue,
  checkOutcome,
  cpuAccess,
  dmaOutcome,
  failed,
  mtreeOutcome,
  type Outcome,
  valueBytes,
} from "./step-outcome.ts";
import { runVirtioIommuRequest } from "./virtio-iommu-step.ts";

/** A q35 machine being played, with what its steps keep between them. */
export class Q35Run {
  readonly machine: Q35Machine;
  /** QEMU's refusal to start, with its message; the machine then has no devices. */
  readonly startupError: string | undefined;
  /** The guest's intel-iommu driver, started by the first `vtd` step (Linux boots it). */
  driver: LinuxVtdDriver | undefined;
  /** The qtest connection, opened by the first `qtest` step. */
  session: QtestSession | undefined;
  /** The QEMU abort already reported (a machine dies once). */
  abortReported = false;

  constructor(machine: Q35Machine, startupError?: string) {
    this.machine = machine;
    this.startupError = startupError;
  }

  /** An invariant check over the VFIO host's containers. */
  check(name: CheckResult["name"]): CheckResult {
    return runCheck(this.machine.vfio, name);
  }

  /** A new QEMU abort (`hw_error`, a qtest assertion), once. */
  takeAbort(): string | undefined {
    const a = this.machine.aborted;
    if (a === undefined || this.abortReported) return undefined;
    this.abortReported = true;
    return a;
  }
}

/** QEMU's `-device` text of a scenario device, as QEMU names it in errors. */
function deviceText(d: MachineDevice): string {
  const props = Object.entries(deviceProperties(d)).map(([k, v]) => `,${k}=${v}`);
  const addr =
    d.slot !== undefined ? `,addr=${d.slot.toString(16)}${d.function ? `.${d.function}` : ""}` : "";
  return `-device ${d.driver}${d.id ? `,id=${d.id}` : ""}${addr}${props.join("")}`;
}

/** A scenario device as the q35 machine takes it. */
export function q35Device(d: {
  driver: string;
  id?: string;
  slot?: number;
  function?: number;
  properties: Readonly<Record<string, string>>;
}): Q35DeviceSpec {
  return {
    driver: d.driver,
    ...(d.id !== undefined ? { id: d.id } : {}),
    ...(d.slot !== undefined ? { slot: d.slot } : {}),
    ...(d.function !== undefined ? { function: d.function } : {}),
    properties: d.properties,
  };
}

function intelIommuOptions(
  d: MachineDevice,
  machineType: string,
  qemu: QemuLine | undefined,
): IntelIommuOptions {
  const compat = q35Compat(machineType, qemu)?.intelIommu;
  return {
    ...(d["caching-mode"] !== undefined ? { cachingMode: d["caching-mode"] } : {}),
    ...(d["aw-bits"] !== undefined ? { awBits: d["aw-bits"] } : {}),
    ...(d.intremap !== undefined ? { intremap: d.intremap } : {}),
    passThrough: d.pt ?? compat?.passThrough ?? true,
    dmaDrain: d["dma-drain"] ?? compat?.dmaDrain ?? true,
    ...(d["device-iotlb"] !== undefined ? { deviceIotlb: d["device-iotlb"] } : {}),
    ...(d["x-scalable-mode"] !== undefined ? { scalableMode: d["x-scalable-mode"] } : {}),
  };
}

/** Builds the q35 machine of a scenario; QEMU's refusals become the run's startup error. */
export function buildQ35(
  spec: Q35MachineSpec,
  behaviour: Behaviour,
  host: Q35Config["host"],
  qemu?: QemuLine,
): Q35Run {
  const iommu = spec.devices.find((d) => d.driver === "intel-iommu" || d.driver === "amd-iommu");
  const base = {
    memory: spec.memory,
    smp: spec.smp,
    machineType: spec.machineType,
    ...(qemu !== undefined ? { qemu } : {}),
  };
  const config: Q35Config = {
    ...base,
    ...(iommu?.driver === "intel-iommu"
      ? { intelIommu: intelIommuOptions(iommu, spec.machineType, qemu) }
      : {}),
    ...(iommu?.driver === "amd-iommu" ? { amdIommu: true } : {}),
    devices: spec.devices
      .filter((d) => d !== iommu)
      .map((d) => q35Device({ ...d, properties: deviceProperties(d) })),
    ...(host ? { host } : {}),
    vfioBehaviour: behaviour as VfioBehaviour,
  };
  try {
    return new Q35Run(new Q35Machine(config));
  } catch (e) {
    if (!(e instanceof Q35DeviceError || e instanceof IntelIommuError)) throw e;
    // QEMU would not start. A device's realize error names the -device; the caching-mode check
    // runs when the machine is done (vtd_machine_done_notify_one) and names none.
    const culprit =
      e instanceof IntelIommuError
        ? iommu
        : /^We need to set caching-mode/.test(e.message)
          ? undefined
          : culpritOf(spec.devices, e.message);
    const where = culprit ? `${deviceText(culprit)}: ` : "";
    return new Q35Run(new Q35Machine(base), `${where}${e.message}`);
  }
}

/** The device a plug error is about: the one whose host address or driver and slot it names. */
function culpritOf(devices: readonly MachineDevice[], message: string): MachineDevice | undefined {
  const byHost = devices.find((d) => d.host !== undefined && message.includes(d.host));
  if (byHost) return byHost;
  const slot = /slot (\d+) function (\d+) not available for (\S+),/.exec(message);
  if (slot) return devices.filter((d) => d.driver === slot[3] && d.slot === Number(slot[1])).at(-1);
  const id = /Duplicate device ID '([^']+)'/.exec(message);
  if (id) return devices.filter((d) => d.id === id[1]).at(-1);
  return undefined;
}

type Runner<K extends StepKind> = (
  run: Q35Run,
  step: Extract<Step, { kind: K }>,
  bytes: BytesPolicy,
  n: number,
) => Outcome;

/** The step kinds q35 plays, each by its runner. */
export const Q35_STEPS: { readonly [K in StepKind]?: Runner<K> } = {
  reset: (run) => {
    run.machine.reset();
    run.driver = undefined;
    return { name: "system_reset", result: {}, error: null, observed: {} };
  },
  dma: (run, step, bytes, n) => dmaOutcome(run.machine, step, bytes, n),
  // x86 is little-endian.
  cpu: (run, step, bytes, n) => cpuAccess(run.machine.cpuMemory, step, bytes, n, false),
  device_add: (run, step) => {
    // x86-iommu's devices are not hot-pluggable (qdev_device_add checks dc->hotpluggable).
    if (step.driver === "intel-iommu" || step.driver === "amd-iommu")
      return failed(step.driver, `Device '${step.driver}' does not support hotplugging`, {
        ok: false,
      });
    try {
      run.machine.plug(q35Device(step));
      return { name: step.driver, result: { id: step.id }, error: null, observed: { ok: true } };
    } catch (e) {
      if (e instanceof Q35DeviceError) return failed(step.driver, e.message, { ok: false });
      throw e;
    }
  },
  device_del: (run, step) => {
    try {
      run.machine.unplug(step.id);
      return { name: step.id, result: { id: step.id }, error: null, observed: { ok: true } };
    } catch (e) {
      if (e instanceof Q35DeviceError) return failed(step.id, e.message, { ok: false });
      throw e;
    }
  },
  check: (run, step) => checkOutcome(step, run.check(step.check)),
  expect_mtree: (run, step) => mtreeOutcome(run.machine.memory, step),
  qtest: (run, step) => {
    run.session ??= new QtestSession(run.machine);
    const r = replayTranscript(run.session, step.lines);
    // A qtest assertion kills QEMU as a device's hw_error does.
    if (r.aborted !== undefined) run.machine.abort(r.aborted);
    const replies = r.replies.map((x) => `${x.command}\t${x.reply}`);
    const mismatch = r.mismatch
      ? `qtest line ${r.mismatch.line}: '${r.mismatch.command}' answered '${r.mismatch.actual}', expected '${r.mismatch.expected}'`
      : undefined;
    return {
      name: "qtest",
      result: { replies, ...(r.mismatch ? { mismatch: r.mismatch } : {}) },
      error: mismatch ?? null,
      observed: { ok: mismatch === undefined },
      ...(mismatch ? { mismatch } : {}),
    };
  },
  virtio_iommu: (run, step) => virtioIommuOutcome(run, step),
  edu: (run, step, bytes, n) => {
    const device = run.machine.devices.get(step.device);
    const state = (device?.spec as { state?: EduState } | undefined)?.state;
    if (!device || !state) return failed(step.device, `'${step.device}' is not an edu device`);
    const bar = device.barAddress[0];
    if (bar < 0n)
      return failed(
        step.device,
        `${step.device}'s BAR 0 is not mapped: program it and turn memory decoding on through configuration space first, as firmware does (see examples/x04-q35-vtd-fault.yaml)`,
      );
    // The driver's register writes: source, destination, count, then the command.
    const at = EDU_DMA_START + step.at;
    const [src, dst, cmd] = step.toDevice
      ? [step.bus, at, EduDmaCmd.run]
      : [at, step.bus, EduDmaCmd.run | EduDmaCmd.toPci];
    const cpu = run.machine.cpuMemory;
    const logged = state.log.length;
    const guestErrors = state.guestErrors.length;
    for (const [reg, value] of [
      [0x80n, src],
      [0x88n, dst],
      [0x90n, step.count],
      [0x98n, cmd],
    ] as const)
      cpu.write(bar + reg, valueBytes(value, 8, false));
    // Its 100 ms timer: time passes, then the driver reads the command register back.
    run.machine.runTimers();
    const after = bytesValue(cpu.read(bar + 0x98n, 8).data, false);
    const start = Number(step.at);
    const data = state.buffer.slice(start, start + Number(step.count));
    return {
      name: `${step.device} dma ${step.toDevice ? "in" : "out"}`,
      result: {
        src: hex(src),
        dst: hex(dst),
        count: Number(step.count),
        command: hex(after),
        ...(step.toDevice ? bytesResult(data, bytes, n) : {}),
        ...(state.log.length > logged ? { edu_log: state.log.slice(logged) } : {}),
        ...(state.guestErrors.length > guestErrors
          ? { edu_guest_errors: state.guestErrors.slice(guestErrors) }
          : {}),
      },
      error: null,
      observed: { value: after, ...(step.toDevice ? { data } : {}) },
    };
  },
  vtd: (run, step) => {
    const iommu = run.machine.intelIommu;
    if (!iommu) return failed("vtd", "the machine has no intel-iommu");
    const device = run.machine.devices.get(step.device);
    if (!device) return failed(step.device, `no device '${step.device}' is plugged`);
    try {
      run.driver ??= new LinuxVtdDriver(run.machine.cpuMemory, run.machine.belowFourG);
      const d = run.driver;
      const done =
        step.action === "map"
          ? d.map(device.devfn, step.iova, step.gpa, step.size, step.perm)
          : step.action === "unmap"
            ? d.unmap(device.devfn, step.iova, step.size)
            : d.attach(device.devfn, devfnOf(run, step.domainOf));
      return {
        name: `${step.action} ${step.device}`,
        result: { domain: done.domain, invalidations: done.invalidations },
        error: null,
        observed: { ok: true },
      };
    } catch (e) {
      if (e instanceof VtdDriverError) return failed(`${step.action} ${step.device}`, e.message);
      throw e;
    }
  },
};

function virtioIommuOutcome(run: Q35Run, step: Extract<Step, { kind: "virtio_iommu" }>): Outcome {
  const r = runVirtioIommuRequest(run.machine, step.request);
  if (r.error !== null) return failed(r.name, r.error);
  return {
    name: r.name,
    result: r.result as Record<string, unknown>,
    error: null,
    observed: { status: r.status, ok: r.status === "OK" },
  };
}

function devfnOf(run: Q35Run, id: string): number {
  const d = run.machine.devices.get(id);
  if (!d) throw new VtdDriverError(`no device '${id}' is plugged`);
  return d.devfn;
}

/** Plays one step on q35. */
export function performQ35(run: Q35Run, step: Step, bytes: BytesPolicy, n: number): Outcome {
  const runner = Q35_STEPS[step.kind] as Runner<StepKind> | undefined;
  if (!runner) return failed(step.kind, `a ${step.kind} step is not for q35 machines`);
  const outcome = runner(run, step as never, bytes, n);
  // Time passes between guest actions: device timers (edu's DMA) fire.
  run.machine.runTimers();
  return outcome;
}

/** The report's view of intel-iommu: each function's address space, domain and mappings. */
export function vtdReport(machine: Q35Machine): VtdReport {
  const iommu = machine.intelIommu!;
  const ids = new Map<number, string>();
  for (const [id, d] of machine.devices) ids.set(d.devfn, id);
  const devices = [...iommu.spaces.values()].map((vas) => {
    const runs: { iova: bigint; size: bigint; gpa: bigint; perm: "r" | "w" | "rw" }[] = [];
    iommu.mappingsOf(vas, (e) => {
      const perm = (["r", "r", "w", "rw"] as const)[e.perm];
      const size = e.addrMask + 1n;
      const last = runs[runs.length - 1];
      if (
        last &&
        last.iova + last.size === e.iova &&
        last.gpa + last.size === e.translatedAddr &&
        last.perm === perm
      )
        last.size += size;
      else runs.push({ iova: e.iova, size, gpa: e.translatedAddr, perm });
    });
    const domain = iommu.domainOf(vas);
    return {
      device: vas.bus === 0 ? (ids.get(vas.devfn) ?? null) : null,
      bdf: bdfText(vas.bus, vas.devfn),
      address_space: vas.root.name,
      translating: vas.translating,
      domain: domain ?? null,
      mappings: runs.map((r) => ({
        iova: hex(r.iova),
        size: hex(r.size),
        gpa: hex(r.gpa),
        perm: r.perm,
      })),
    };
  });
  return {
    translation: iommu.dmarEnabled,
    caching_mode: iommu.cachingMode,
    aw_bits: iommu.awBits,
    devices,
    faults: iommu.faults.map((f) => ({
      source: bdfText(f.sourceId >> 8, f.sourceId & 0xff),
      address: hex(f.addr),
      reason: f.reason,
      write: f.isWrite,
      recorded: f.recorded,
    })),
  };
}

/** virtio-iommu's domains as the guest left them: endpoints and mappings, in id order. */
export function virtioIommuReport(machine: Q35Machine): VirtioIommuReport {
  const iommu = machine.virtioIommu!;
  const ids = new Map<number, string>();
  for (const [id, d] of machine.devices) ids.set(d.devfn, id);
  const perms = ["none", "r", "w", "rw"] as const;
  const domains = [...iommu.domains.values()]
    .sort((a, b) => a.id - b.id)
    .map((d) => ({
      domain: d.id,
      bypass: d.bypass,
      endpoints: d.endpoints.map((ep) => ({
        device: ep >> 8 === 0 ? (ids.get(ep & 0xff) ?? null) : null,
        bdf: bdfText(ep >> 8, ep & 0xff),
      })),
      mappings: d.mappings.map((m) => ({
        iova: hex(m.low),
        size: hex(m.high - m.low + 1n),
        gpa: hex(m.phys),
        perm: perms[m.flags & 3],
        ...(m.flags & 4 ? { mmio: true } : {}),
      })),
    }));
  return { bypass: iommu.config.bypass, granule: hex(iommu.granule), domains };
}

function bdfText(bus: number, devfn: number): string {
  const h = (v: number) => v.toString(16).padStart(2, "0");
  return `${h(bus)}:${h(devfn >> 3)}.${devfn & 7}`;
}
