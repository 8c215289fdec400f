/**
 * Mapping guest memory for a device (QEMU's `address_space_map` / `address_space_unmap`): RAM is
 * mapped directly, extended over contiguous pieces of the same region; anything else goes through
 * the machine's single bounce buffer of one target page, which only one mapping may hold at a time
 * (QEMU 7.2).
 */
import {
  readAddressSpace,
  type Translation,
  translateAddress,
  writeAddressSpace,
} from "./access.ts";
import { type MemTxAttrs, UNSPECIFIED_ATTRS } from "./access-types.ts";
import type { AddressSpace } from "./address-space.ts";
import type { MemorySystem } from "./memory-system.ts";

/** QEMU's TARGET_PAGE_SIZE for the targets iova models (ppc64, x86_64). */
export const BOUNCE_BUFFER_SIZE = 4096;

/** A live mapping: read and write its bytes, then unmap it. */
export interface Mapping {
  readonly addressSpace: AddressSpace;
  readonly addr: bigint;
  /** Bytes mapped; may be less than asked for. */
  readonly length: number;
  readonly isWrite: boolean;
  /** True when the bytes are guest RAM itself; false for the bounce buffer. */
  readonly direct: boolean;
  /** Copies mapped bytes at `offset` into `dest`. */
  read(offset: number, dest: Uint8Array): void;
  /** Stores `src` into the mapped bytes at `offset`. */
  write(offset: number, src: Uint8Array): void;
}

const bounceInUse = new WeakSet<MemorySystem>();
/** Where a bounced mapping keeps its buffer. */
const BOUNCE = Symbol("bounce");

function isDirectRam(t: Translation, isWrite: boolean): boolean {
  const mr = t.mr;
  if (!mr) return false;
  if (mr.kind === "romDevice") return !isWrite && mr.romdMode;
  return mr.kind === "ram" && (!isWrite || !mr.readonly);
}

/**
 * Maps `length` bytes at `addr`. Returns null when nothing can be mapped (length 0, or the bounce
 * buffer is taken); otherwise a mapping that may be shorter than asked.
 */
export function mapAddressSpace(
  as: AddressSpace,
  addr: bigint,
  length: number,
  isWrite: boolean,
  attrs: MemTxAttrs = UNSPECIFIED_ATTRS,
): Mapping | null {
  if (length <= 0) return null;
  const first = translateAddress(as, addr, BigInt(length), isWrite, attrs);
  if (!isDirectRam(first, isWrite)) {
    if (bounceInUse.has(as.system)) return null;
    bounceInUse.add(as.system);
    const len = Math.min(length, BOUNCE_BUFFER_SIZE, Number(first.plen) || length);
    const buffer = isWrite ? new Uint8Array(len) : readAddressSpace(as, addr, len, attrs).data;
    return {
      addressSpace: as,
      addr,
      length: len,
      isWrite,
      direct: false,
      read: (offset, dest) => dest.set(buffer.subarray(offset, offset + dest.length)),
      write: (offset, src) => buffer.set(src, offset),
      [BOUNCE]: buffer,
    } as Mapping;
  }
  const mr = first.mr!;
  // Extend over following pieces of the same region at contiguous offsets.
  let done = Number(first.plen);
  while (done < length) {
    const t = translateAddress(as, addr + BigInt(done), BigInt(length - done), isWrite, attrs);
    if (t.mr !== mr || t.xlat !== first.xlat + BigInt(done)) break;
    done += Number(t.plen);
  }
  const blockLeft = Number(mr.ramBlock!.size - first.xlat);
  const len = Math.min(done, length, blockLeft);
  const base = first.xlat;
  return {
    addressSpace: as,
    addr,
    length: len,
    isWrite,
    direct: true,
    read: (offset, dest) => mr.ramBlock!.read(base + BigInt(offset), dest),
    write: (offset, src) => mr.ramBlock!.write(base + BigInt(offset), src),
  };
}

/** Ends a mapping; for a bounced write, the first `accessLength` bytes go to guest memory now. */
export function unmapAddressSpace(mapping: Mapping, accessLength: number): void {
  if (mapping.direct) return;
  const buffer = (mapping as Mapping & { [BOUNCE]: Uint8Array })[BOUNCE];
  if (mapping.isWrite) {
    // QEMU writes the bounce buffer back with unspecified attributes.
    writeAddressSpace(mapping.addressSpace, mapping.addr, buffer.subarray(0, accessLength));
  }
  bounceInUse.delete(mapping.addressSpace.system);
}
