/**
 * Reads and writes through an address space (QEMU's `flatview_read/write`, `address_space_translate`
 * and `memory_region_dispatch_read/write`): RAM is copied directly; everything else goes through
 * device callbacks, split and validated by QEMU's access-size rules; IOMMUs are followed across
 * address spaces.
 */
import {
  type Endianness,
  type MemoryRegionOps,
  MemTx,
  type MemTxAttrs,
  type MemTxResult,
  UNSPECIFIED_ATTRS,
} from "./access-types.ts";
import type { AddressSpace } from "./address-space.ts";
import { minBig, U64_MAX, wrap64 } from "./int.ts";
import { IommuPerm } from "./iommu-types.ts";
import type { MemoryRegion } from "./region.ts";

/** Where an access lands (QEMU's result of `address_space_translate`). */
export interface Translation {
  /** The terminating region, or null: nothing decodes there (or an IOMMU refused). */
  readonly mr: MemoryRegion | null;
  /** Offset within `mr` (or the address in `addressSpace` when `mr` is null). */
  readonly xlat: bigint;
  /** How many bytes from `xlat` this translation is good for. */
  readonly plen: bigint;
  /** The address space the access ended in. */
  readonly addressSpace: AddressSpace;
  /** Set when an IOMMU on the way denied the access. */
  readonly iommuFault: boolean;
  /** Mask of the smallest IOMMU page on the way (all ones when no IOMMU was crossed). */
  readonly pageMask: bigint;
}

/** An access's outcome: OR-ed result bits, and where an IOMMU first refused it, if one did. */
export interface AccessOutcome {
  readonly result: MemTxResult;
  /** The first address (in the address space accessed) whose translation an IOMMU denied. */
  readonly faultAddress: bigint | undefined;
}

/** A read's outcome, with the bytes (zeros where the access failed). */
export interface AccessResult extends AccessOutcome {
  readonly data: Uint8Array;
}

/** Follows `addr` through flat views and IOMMUs to a terminating region. */
export function translateAddress(
  as: AddressSpace,
  addr: bigint,
  length: bigint,
  isWrite: boolean,
  attrs: MemTxAttrs = UNSPECIFIED_ATTRS,
): Translation {
  let space = as;
  let a = addr;
  let plen = length;
  let pageMask = U64_MAX;
  for (;;) {
    const fr = space.view.lookup(a);
    if (!fr) {
      // Unassigned: plen runs to the next mapped range (nothing decodes in between).
      const next = space.view.firstEndingAfter(a);
      const gapEnd = next < space.view.ranges.length ? space.view.ranges[next].start : 1n << 64n;
      return {
        mr: null,
        xlat: a,
        plen: minBig(plen, gapEnd - a),
        addressSpace: space,
        iommuFault: false,
        pageMask,
      };
    }
    const mr = fr.mr;
    const xlat = a - fr.start + fr.offsetInRegion;
    if (mr.isRam) plen = minBig(plen, fr.end - a);
    const iommu = mr.iommu;
    if (!mr.isIommu || !iommu) {
      return { mr, xlat, plen, addressSpace: space, iommuFault: false, pageMask };
    }
    const idx = iommu.attrsToIndex?.(attrs) ?? 0;
    const entry = iommu.translate(xlat, isWrite ? IommuPerm.wo : IommuPerm.ro, idx);
    const mask = entry.addrMask;
    const pageRemaining = (xlat | mask) - xlat + 1n;
    if (!(entry.perm & (isWrite ? IommuPerm.wo : IommuPerm.ro)) || !entry.targetAs) {
      return {
        mr: null,
        xlat: a,
        plen: minBig(plen, pageRemaining),
        addressSpace: space,
        iommuFault: true,
        pageMask: pageMask & mask,
      };
    }
    a = (entry.translatedAddr & ~mask) | (xlat & mask);
    pageMask &= mask;
    plen = minBig(plen, (a | mask) - a + 1n);
    space = entry.targetAs;
  }
}

/** Whether an access to `mr` is a plain memory copy (QEMU's `memory_access_is_direct`). */
function isDirect(mr: MemoryRegion, isWrite: boolean): boolean {
  if (mr.kind === "romDevice") return !isWrite && mr.romdMode;
  if (mr.kind !== "ram") return false;
  return !isWrite || !mr.readonly;
}

/** Callbacks that make RAM devices reachable: host order, 1 to 8 bytes, unaligned allowed. */
function ramDeviceOps(mr: MemoryRegion): MemoryRegionOps {
  const block = mr.ramBlock!;
  const limits = { minAccessSize: 1, maxAccessSize: 8, unaligned: true };
  return {
    endianness: "little",
    valid: limits,
    impl: limits,
    read(offset, size) {
      const bytes = new Uint8Array(size);
      block.read(offset, bytes);
      return bytesToValue(bytes, 0, size);
    },
    write(offset, value, size) {
      const bytes = new Uint8Array(size);
      valueToBytes(value, bytes, 0, size);
      block.write(offset, bytes);
      return MemTx.ok;
    },
  };
}

const ramDeviceOpsCache = new WeakMap<MemoryRegion, MemoryRegionOps>();

/** The callbacks accesses to `mr` go through; undefined means unassigned (reject everything). */
function opsOf(mr: MemoryRegion | null): MemoryRegionOps | undefined {
  if (!mr) return undefined;
  if (mr.kind === "ramDevice") {
    let ops = ramDeviceOpsCache.get(mr);
    if (!ops) {
      ops = mr.ops ?? ramDeviceOps(mr);
      ramDeviceOpsCache.set(mr, ops);
    }
    return ops;
  }
  // ROM (read-only RAM) has no callbacks: writes to it are rejected.
  return mr.ops;
}

/** QEMU's `memory_region_access_valid`. */
export function accessValid(
  ops: MemoryRegionOps | undefined,
  addr: bigint,
  size: number,
  isWrite: boolean,
  attrs: MemTxAttrs,
): boolean {
  if (!ops) return false;
  const valid = ops.valid;
  if (valid?.accepts && !valid.accepts(addr, size, isWrite, attrs)) return false;
  if (!valid?.unaligned && (addr & BigInt(size - 1)) !== 0n) return false;
  const max = valid?.maxAccessSize ?? 0;
  if (max === 0) return true;
  const min = valid?.minAccessSize || 1;
  return size >= min && size <= max;
}

/** How many bytes the next callback-path step moves (QEMU's `memory_access_size`). */
export function memoryAccessSize(
  ops: MemoryRegionOps | undefined,
  length: number,
  addr: bigint,
): number {
  let max = ops?.valid?.maxAccessSize || 4;
  if (!ops?.impl?.unaligned) {
    const lowest = Number(addr & -addr & 0xffn);
    if (lowest !== 0 && lowest < max) max = lowest;
  }
  const l = Math.min(length, max);
  return 2 ** Math.floor(Math.log2(l));
}

function byteSwap(value: bigint, size: number): bigint {
  let out = 0n;
  for (let i = 0; i < size; i++) out = (out << 8n) | ((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

function shifted(value: bigint, shift: number): bigint {
  return shift >= 0 ? value << BigInt(shift) : value >> BigInt(-shift);
}

/**
 * Reads `size` bytes from a region's callbacks with QEMU's validation, splitting or widening to the
 * device's implemented sizes, and byte order: `endian` is the order the caller wants the value in.
 */
export function dispatchRead(
  mr: MemoryRegion | null,
  addr: bigint,
  size: number,
  endian: Endianness,
  attrs: MemTxAttrs = UNSPECIFIED_ATTRS,
): { value: bigint; result: MemTxResult } {
  const ops = opsOf(mr);
  if (!ops || !accessValid(ops, addr, size, false, attrs)) {
    return { value: 0n, result: MemTx.decodeError };
  }
  const devEndian = ops.endianness ?? "little";
  const { accessSize, mask } = implSize(ops, size);
  let value = 0n;
  let result: MemTxResult = MemTx.ok;
  for (let i = 0; i < size; i += accessSize) {
    const shift = devEndian === "big" ? 8 * (size - accessSize - i) : 8 * i;
    const r = ops.read ? ops.read(addr + BigInt(i), accessSize, attrs) : 0n;
    const tmp = typeof r === "bigint" ? r : r.value;
    if (typeof r !== "bigint") result |= r.result;
    value |= shifted(tmp & mask, shift);
  }
  value &= sizeMask(size);
  if (devEndian !== endian) value = byteSwap(value, size);
  return { value, result };
}

/** Writes the low `size` bytes of `value` (in `endian` order) through a region's callbacks. */
export function dispatchWrite(
  mr: MemoryRegion | null,
  addr: bigint,
  value: bigint,
  size: number,
  endian: Endianness,
  attrs: MemTxAttrs = UNSPECIFIED_ATTRS,
): MemTxResult {
  const ops = opsOf(mr);
  if (!ops || !accessValid(ops, addr, size, true, attrs)) return MemTx.decodeError;
  const devEndian = ops.endianness ?? "little";
  let v = value & sizeMask(size);
  if (devEndian !== endian) v = byteSwap(v, size);
  const { accessSize, mask } = implSize(ops, size);
  let result: MemTxResult = MemTx.ok;
  for (let i = 0; i < size; i += accessSize) {
    const shift = devEndian === "big" ? 8 * (size - accessSize - i) : 8 * i;
    const piece = shifted(v, -shift) & mask;
    result |= ops.write?.(addr + BigInt(i), piece, accessSize, attrs) ?? MemTx.ok;
  }
  return result;
}

function sizeMask(size: number): bigint {
  return (1n << BigInt(8 * size)) - 1n;
}

function implSize(ops: MemoryRegionOps, size: number): { accessSize: number; mask: bigint } {
  const min = ops.impl?.minAccessSize || 1;
  const max = ops.impl?.maxAccessSize || 4;
  const accessSize = Math.max(Math.min(size, max), min);
  return { accessSize, mask: sizeMask(accessSize) };
}

/** Little-endian bytes to a value (this model's host is little-endian). */
export function bytesToValue(buf: Uint8Array, at: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[at + i]);
  return v;
}

/** A value to little-endian bytes. */
export function valueToBytes(value: bigint, buf: Uint8Array, at: number, size: number): void {
  for (let i = 0; i < size; i++) buf[at + i] = Number((value >> BigInt(8 * i)) & 0xffn);
}

/** Whether the first region an access reaches lets it through (QEMU's `flatview_access_allowed`). */
function accessAllowed(t: Translation, attrs: MemTxAttrs): boolean {
  return !attrs.memory || (t.mr?.isRam ?? false);
}

/**
 * How far QEMU's small rejected steps (at most 4 bytes, naturally aligned) carry an access that
 * starts in a hole of `holeLength` bytes. The last step may overshoot the hole, as in QEMU; aligned
 * runs are skipped in one go.
 */
function unassignedSpan(addr: bigint, remaining: number, holeLength: number): number {
  let done = 0;
  while (done < holeLength && done < remaining) {
    const at = addr + BigInt(done);
    let step = Math.min(remaining - done, 4);
    const lowest = Number(at & -at & 0xffn);
    if (lowest !== 0 && lowest < step) step = lowest;
    step = 2 ** Math.floor(Math.log2(step));
    const left = Math.min(holeLength, remaining) - done;
    if (step === 4 && left >= 8) {
      done += 4 * (Math.floor(left / 4) - 1);
      continue;
    }
    done += step;
  }
  return done;
}

/** Moves `length` bytes through `as`, one translated step at a time. */
function walk(
  as: AddressSpace,
  addr: bigint,
  length: number,
  isWrite: boolean,
  attrs: MemTxAttrs,
  step: (t: Translation, pos: number, len: number, direct: boolean) => MemTxResult,
  hole?: (pos: number, len: number) => void,
): AccessOutcome {
  if (length === 0) return { result: MemTx.ok, faultAddress: undefined };
  let t = translateAddress(as, addr, BigInt(length), isWrite, attrs);
  if (!accessAllowed(t, attrs)) {
    hole?.(0, length);
    return { result: MemTx.accessError, faultAddress: undefined };
  }
  let result: MemTxResult = MemTx.ok;
  let faultAddress: bigint | undefined;
  let pos = 0;
  for (;;) {
    const remaining = length - pos;
    let l: number;
    if (t.mr && isDirect(t.mr, isWrite)) {
      l = Math.min(remaining, Number(t.plen));
      result |= step(t, pos, l, true);
    } else if (!t.mr) {
      l = Math.min(unassignedSpan(addr + BigInt(pos), remaining, Number(t.plen)), remaining);
      hole?.(pos, l);
      result |= MemTx.decodeError;
      if (t.iommuFault) faultAddress ??= wrap64(addr + BigInt(pos));
    } else {
      l = memoryAccessSize(opsOf(t.mr), remaining, t.xlat);
      result |= step(t, pos, l, false);
    }
    // Every step moves at least one byte: no input can stall the loop.
    pos += Math.max(l, 1);
    if (pos >= length) return { result, faultAddress };
    // hwaddr arithmetic: an access running past 2^64 continues at 0, as in QEMU.
    t = translateAddress(as, wrap64(addr + BigInt(pos)), BigInt(length - pos), isWrite, attrs);
  }
}

/** Reads `length` bytes at `addr` of `as` (QEMU's `address_space_read`). */
export function readAddressSpace(
  as: AddressSpace,
  addr: bigint,
  length: number,
  attrs: MemTxAttrs = UNSPECIFIED_ATTRS,
): AccessResult {
  return readAddressSpaceInto(as, addr, new Uint8Array(length), attrs);
}

/**
 * Reads `data.length` bytes at `addr` into `data`, which a caller can reuse (a fresh large buffer
 * costs a page fault per 4 KiB on first touch).
 */
export function readAddressSpaceInto(
  as: AddressSpace,
  addr: bigint,
  data: Uint8Array,
  attrs: MemTxAttrs = UNSPECIFIED_ATTRS,
): AccessResult {
  const length = data.length;
  const outcome = walk(
    as,
    addr,
    length,
    false,
    attrs,
    (t, pos, len, direct) => {
      const mr = t.mr!;
      if (direct) {
        mr.ramBlock!.read(t.xlat, data.subarray(pos, pos + len));
        return MemTx.ok;
      }
      const r = dispatchRead(mr, t.xlat, len, "little", attrs);
      valueToBytes(r.value, data, pos, len);
      return r.result;
    },
    (pos, len) => data.fill(0, pos, pos + len),
  );
  return { ...outcome, data };
}

/** Writes `data` at `addr` of `as` (QEMU's `address_space_write`). */
export function writeAddressSpace(
  as: AddressSpace,
  addr: bigint,
  data: Uint8Array,
  attrs: MemTxAttrs = UNSPECIFIED_ATTRS,
): MemTxResult {
  return writeAddressSpaceOutcome(as, addr, data, attrs).result;
}

/** Writes `data` at `addr` of `as`, reporting where an IOMMU refused it. */
export function writeAddressSpaceOutcome(
  as: AddressSpace,
  addr: bigint,
  data: Uint8Array,
  attrs: MemTxAttrs = UNSPECIFIED_ATTRS,
): AccessOutcome {
  return walk(as, addr, data.length, true, attrs, (t, pos, len, direct) => {
    const mr = t.mr!;
    if (direct) {
      mr.ramBlock!.write(t.xlat, data.subarray(pos, pos + len));
      return MemTx.ok;
    }
    return dispatchWrite(mr, t.xlat, bytesToValue(data, pos, len), len, "little", attrs);
  });
}
