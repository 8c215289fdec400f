/**
 * DMA by a device through its address space, IOMMUs included (QEMU's `dma_memory_rw`,
 * `dma_memory_map`). A guest-caused failure is a result, never an exception.
 */
import {
  readAddressSpaceInto,
  translateAddress,
  writeAddressSpaceOutcome,
} from "../memory/access.ts";
import { MemTx, type MemTxAttrs, type MemTxResult } from "../memory/access-types.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import { type Mapping, mapAddressSpace, unmapAddressSpace } from "../memory/map.ts";

/** How a DMA ended. */
export type DmaStatus =
  /** Every byte moved. */
  | "ok"
  /** An IOMMU on the way had no mapping with the needed permission. */
  | "permission-fault"
  /** Some address decodes to nothing (or a device rejected the access). */
  | "decode-error"
  /** A device reported an error. */
  | "device-error";

/** A DMA's outcome. */
export interface DmaResult {
  readonly status: DmaStatus;
  readonly result: MemTxResult;
  /** First bus address an IOMMU refused. */
  readonly faultAddress?: bigint;
}

function statusOf(result: MemTxResult, faultAddress: bigint | undefined): DmaStatus {
  if (faultAddress !== undefined) return "permission-fault";
  if (result & (MemTx.decodeError | MemTx.accessError)) return "decode-error";
  if (result & MemTx.error) return "device-error";
  return "ok";
}

/**
 * The device reads memory at bus address `addr`: `length` bytes, or into a buffer it owns (the
 * faster form for large transfers).
 */
export function dmaRead(
  as: AddressSpace,
  addr: bigint,
  lengthOrInto: number | Uint8Array,
  attrs?: MemTxAttrs,
): DmaResult & { readonly data: Uint8Array } {
  const into = typeof lengthOrInto === "number" ? new Uint8Array(lengthOrInto) : lengthOrInto;
  const r = readAddressSpaceInto(as, addr, into, attrs);
  return {
    status: statusOf(r.result, r.faultAddress),
    result: r.result,
    data: r.data,
    ...(r.faultAddress === undefined ? {} : { faultAddress: r.faultAddress }),
  };
}

/** The device writes `data` to memory at bus address `addr`. */
export function dmaWrite(
  as: AddressSpace,
  addr: bigint,
  data: Uint8Array,
  attrs?: MemTxAttrs,
): DmaResult {
  const r = writeAddressSpaceOutcome(as, addr, data, attrs);
  return {
    status: statusOf(r.result, r.faultAddress),
    result: r.result,
    ...(r.faultAddress === undefined ? {} : { faultAddress: r.faultAddress }),
  };
}

/** A DMA mapping attempt: the mapping, or why there is none. */
export interface DmaMapResult extends DmaResult {
  readonly mapping: Mapping | null;
}

/**
 * Maps `length` bytes for the device; `toMemory` is true when the device will write memory
 * (QEMU's DMA_DIRECTION_FROM_DEVICE). RAM maps directly; MMIO through the bounce buffer, which
 * may be busy (status `ok`, mapping null, as QEMU returns NULL). QEMU would also hand out a bounce
 * buffer over an IOMMU fault or a hole and drop the data silently; iova reports the fault instead.
 */
export function dmaMap(
  as: AddressSpace,
  addr: bigint,
  length: number,
  toMemory: boolean,
  attrs?: MemTxAttrs,
): DmaMapResult {
  const t = translateAddress(as, addr, BigInt(length), toMemory, attrs);
  if (t.iommuFault) {
    return {
      status: "permission-fault",
      result: MemTx.decodeError,
      faultAddress: addr,
      mapping: null,
    };
  }
  if (!t.mr) return { status: "decode-error", result: MemTx.decodeError, mapping: null };
  return {
    status: "ok",
    result: MemTx.ok,
    mapping: mapAddressSpace(as, addr, length, toMemory, attrs),
  };
}

/** Ends a DMA mapping; `accessLength` bytes were used. */
export function dmaUnmap(mapping: Mapping, accessLength: number): void {
  unmapAddressSpace(mapping, accessLength);
}
