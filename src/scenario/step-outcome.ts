/**
 * What a step did, and the steps every machine plays the same way (a CPU access, a look at
 * `info mtree`, an invariant check): shared by each machine's step table.
 */

import { dmaRead, dmaWrite } from "../iommu/dma.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import { bytesToHex } from "../memory/bytes.ts";
import { hex } from "../memory/int.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import { formatMtree } from "../memory/mtree/print.ts";
import type { CheckResult } from "../vfio/checks.ts";
import type { HostDmaResult } from "../vfio/vfio-host.ts";
import type { BytesSummary } from "./report.ts";
import type { CheckStep, CpuStep, DmaStep, ExpectMtreeStep } from "./schema.ts";

/** What a step did. */
export interface Outcome {
  readonly name: string;
  readonly result: Record<string, unknown>;
  readonly error: string | null;
  /** The values expectations compare against, by expectation field. */
  readonly observed: Record<string, unknown>;
  /** For an assertion that does not hold (`info mtree`, a check, a qtest reply): where it differs. */
  readonly mismatch?: string;
}

/** How byte results are put in the report. */
export interface BytesPolicy {
  readonly limit: number;
  readonly digest?: (bytes: Uint8Array) => string;
  readonly dump?: (step: number, field: string, bytes: Uint8Array) => string | undefined;
}

export const toHex = bytesToHex;
/** Bytes shown in full up to this size; past it, summarised. */
export const BYTES_LIMIT = 4096;
/** Bytes a summary shows from the start. */
export const BYTES_HEAD = 32;

/** `{ data: hex }`, or past the limit `{ data_summary: { length, sha256, head, file } }`. */
export function bytesResult(
  bytes: Uint8Array,
  policy: BytesPolicy,
  step: number,
): Record<string, unknown> {
  if (bytes.length <= policy.limit) return { data: toHex(bytes) };
  const file = policy.dump?.(step, "data", bytes);
  const summary: BytesSummary = {
    length: bytes.length,
    ...(policy.digest ? { sha256: policy.digest(bytes) } : {}),
    head: toHex(bytes.subarray(0, BYTES_HEAD)),
    ...(file !== undefined ? { file } : {}),
  };
  return { data_summary: summary };
}

/** A step that could not be done. */
export function failed(name: string, error: string, observed: Outcome["observed"] = {}): Outcome {
  return { name, result: {}, error, observed: { error, ...observed } };
}

export function faultField(addr: bigint | undefined): Record<string, string> {
  return addr === undefined ? {} : { fault_address: hex(addr) };
}

/** A value as `size` bytes in the CPU's byte order. */
export function valueBytes(value: bigint, size: number, bigEndian: boolean): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[bigEndian ? size - 1 - i : i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }
  return out;
}

/** Bytes read in the CPU's byte order, as a value. */
export function bytesValue(data: Uint8Array, bigEndian: boolean): bigint {
  let v = 0n;
  for (let i = 0; i < data.length; i++) {
    v = (v << 8n) | BigInt(data[bigEndian ? i : data.length - 1 - i]);
  }
  return v;
}

/** A guest CPU access: bytes, or a sized load or store in the CPU's byte order. */
export function cpuAccess(
  as: AddressSpace,
  step: CpuStep,
  bytes: BytesPolicy,
  n: number,
  bigEndian: boolean,
): Outcome {
  if (step.size !== undefined) {
    if (step.value !== undefined) {
      const res = as.write(step.address, valueBytes(step.value, step.size, bigEndian));
      return {
        name: "memory",
        result: { write: hex(step.address), size: step.size, value: hex(step.value), result: res },
        error: null,
        observed: { fault: res !== 0, result: res },
      };
    }
    const r = as.read(step.address, step.size);
    const value = bytesValue(r.data, bigEndian);
    return {
      name: "memory",
      result: { read: hex(step.address), size: step.size, result: r.result, value: hex(value) },
      error: null,
      observed: { fault: r.result !== 0, result: r.result, value },
    };
  }
  if (step.write) {
    const res = as.write(step.address, step.write);
    return {
      name: "memory",
      result: { write: hex(step.address), result: res },
      error: null,
      observed: { fault: res !== 0, result: res },
    };
  }
  const r = as.read(step.address, step.length ?? 0);
  return {
    name: "memory",
    result: { read: hex(step.address), result: r.result, ...bytesResult(r.data, bytes, n) },
    error: null,
    observed: { fault: r.result !== 0, result: r.result, data: r.data },
  };
}

/** An invariant check's step outcome. */
export function checkOutcome(step: CheckStep, c: CheckResult): Outcome {
  return {
    name: step.check,
    result: { ok: c.ok, violations: c.violations, total: c.total },
    error: c.ok ? null : `${step.check} does not hold`,
    observed: { ok: c.ok, holds: c.ok, violations: c.total },
    ...(c.ok ? {} : { mismatch: `${step.check} does not hold: ${c.total} violations` }),
  };
}

/** A look at `info mtree`. */
export function mtreeOutcome(memory: MemorySystem, step: ExpectMtreeStep): Outcome {
  const text = formatMtree(memory, {
    flat: step.flat,
    disabled: step.disabled,
    owners: step.owners,
  });
  const want = step.contains ?? step.equals ?? "";
  const holds = step.contains !== undefined ? text.includes(want) : text === want;
  const mode = step.flat ? "-f" : step.disabled ? "-D" : step.owners ? "-o" : "";
  const name = `info mtree ${mode}`.trim();
  return {
    name,
    result: { holds },
    error: null,
    observed: { ok: holds, holds },
    ...(holds ? {} : { mismatch: mtreeMismatch(name, text, want, step.contains !== undefined) }),
  };
}

/** Why `info mtree` text does not hold what was expected: the first expected line it lacks. */
function mtreeMismatch(name: string, text: string, want: string, contains: boolean): string {
  const lines = new Set(text.split("\n"));
  const missing = want.split("\n").find((l) => l !== "" && !lines.has(l));
  const what = contains ? "does not contain the expected text" : "differs from the expected text";
  if (missing !== undefined) return `${name} ${what}; it has no line ${JSON.stringify(missing)}`;
  return `${name} ${what}; every expected line is there, but not together in this order`;
}

/** What a device's DMA needs of a machine: its functions, and DMA through the host IOMMU. */
export interface DmaMachine {
  readonly devices: ReadonlyMap<string, { readonly busMasterAs: AddressSpace }>;
  readonly assigned: ReadonlyMap<string, unknown>;
  assignedDma(
    id: string,
    iova: bigint,
    length: number,
    write?: Uint8Array,
  ): HostDmaResult | undefined;
}

/** A device's DMA: an emulated one through its bus-master address space, an assigned one through the host IOMMU. */
export function dmaOutcome(
  machine: DmaMachine,
  step: DmaStep,
  bytes: BytesPolicy,
  n: number,
): Outcome {
  const device = machine.devices.get(step.device);
  if (!device) return failed(step.device, `no device '${step.device}' is plugged`);
  const access = step.write ? "write" : "read";
  const assigned = machine.assigned.has(step.device);
  const r = assigned
    ? machine.assignedDma(
        step.device,
        step.address,
        step.length ?? step.write?.length ?? 0,
        step.write,
      )!
    : step.write
      ? { ...dmaWrite(device.busMasterAs, step.address, step.write), data: undefined }
      : dmaRead(device.busMasterAs, step.address, step.length ?? 0);
  const result: Record<string, unknown> = {
    [access]: hex(step.address),
    ...(assigned ? { via: "host IOMMU" } : {}),
    ...(step.write && !assigned ? { length: step.write.length } : {}),
    status: r.status,
    ...(r.data ? bytesResult(r.data, bytes, n) : {}),
    ...faultField(r.faultAddress),
  };
  return {
    name: step.device,
    result,
    error: null,
    observed: {
      fault: r.status !== "ok",
      status: r.status,
      ...(r.data ? { data: r.data } : {}),
      ...(r.faultAddress !== undefined ? { faultAddress: r.faultAddress } : {}),
    },
  };
}
