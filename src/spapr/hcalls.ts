/**
 * The guest's TCE hypercalls (QEMU's userspace implementation): H_PUT_TCE, H_GET_TCE,
 * H_STUFF_TCE and H_PUT_TCE_INDIRECT. Every failure is H_PARAMETER; the multi-entry calls stop at
 * the first failing entry, keeping (and having notified) the ones before it, and answer what
 * their last entry answered: with no entry at all that is H_PARAMETER (QEMU's `h_stuff_tce` and
 * `h_put_tce_indirect` start from H_PARAMETER and only the loop sets anything else).
 */
import type { AddressSpace } from "../memory/address-space.ts";
import { U64_MAX } from "../memory/int.ts";
import { H, TCE_INDIRECT_MAX } from "./constants.ts";
import type { TceTable } from "./tce-table.ts";

/** What the hypercalls need of the machine. */
export interface TceHost {
  /** The table with this LIOBN, if any. */
  findTable(liobn: bigint): TceTable | undefined;
  /** What the guest CPU sees: where TCE lists are read from. */
  readonly cpuMemory: AddressSpace;
}

/** A hypercall's result: the return code and any values returned in registers. */
export interface HcallResult {
  readonly ret: number;
  /** H_GET_TCE: the TCE. */
  readonly tce?: bigint;
  /** Multi-entry calls: how many entries were written before stopping. */
  readonly written?: number;
}

function lookup(host: TceHost, liobn: bigint): TceTable | undefined {
  // LIOBNs are 32-bit; any upper bit set finds nothing.
  return liobn >> 32n === 0n ? host.findTable(liobn) : undefined;
}

/** H_PUT_TCE: the ioba is masked down to its page, then one entry is written. */
export function hPutTce(host: TceHost, liobn: bigint, ioba: bigint, tce: bigint): HcallResult {
  const table = lookup(host, liobn);
  if (!table) return { ret: H.parameter };
  const ret = table.putTce(ioba & table.pageMask, tce);
  return { ret, written: ret === H.success ? 1 : 0 };
}

/** H_GET_TCE: the raw TCE of the entry holding `ioba`. */
export function hGetTce(host: TceHost, liobn: bigint, ioba: bigint): HcallResult {
  const table = lookup(host, liobn);
  if (!table) return { ret: H.parameter };
  const { ret, tce } = table.getTce(ioba & table.pageMask);
  return ret === H.success ? { ret, tce } : { ret };
}

/**
 * H_STUFF_TCE: the same TCE into `npages` consecutive entries. Throws `MaterialisationLimitError`
 * (nothing changed) when VFIO would have to mirror more entries than the table's limit.
 */
export function hStuffTce(
  host: TceHost,
  liobn: bigint,
  ioba: bigint,
  tceValue: bigint,
  npages: bigint,
): HcallResult {
  const table = lookup(host, liobn);
  // QEMU's answer starts as H_PARAMETER and only a written entry changes it: npages = 0 keeps it.
  if (!table || npages > BigInt(table.nbTable)) return { ret: H.parameter };
  if (npages === 0n) return { ret: H.parameter, written: 0 };
  // A range filled with one value costs what it changes (see TceTable.stuffTce).
  return table.stuffTce(ioba & table.pageMask, tceValue, Number(npages));
}

/**
 * H_PUT_TCE_INDIRECT: up to 512 TCEs read as big-endian 64-bit words from a 4 KiB-aligned list in
 * guest memory (or given directly as `tces`, which skips the list checks).
 */
export function hPutTceIndirect(
  host: TceHost,
  liobn: bigint,
  ioba: bigint,
  list:
    | { readonly address: bigint; readonly npages: bigint }
    | { readonly tces: readonly bigint[] },
): HcallResult {
  const table = lookup(host, liobn);
  if (!table) return { ret: H.parameter };
  if ("tces" in list) {
    if (list.tces.length > TCE_INDIRECT_MAX) return { ret: H.parameter };
    return putMany(table, ioba, list.tces.length, (i) => list.tces[i]);
  }
  if (list.npages > BigInt(TCE_INDIRECT_MAX) || (list.address & 0xfffn) !== 0n) {
    return { ret: H.parameter };
  }
  const count = Number(list.npages);
  // QEMU loads each TCE with ldq_be_phys: a list in a hole reads as zeros.
  const bytes = host.cpuMemory.read(list.address, count * 8).data;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return putMany(table, ioba, count, (i) => view.getBigUint64(i * 8, false));
}

/**
 * Writes the TCEs in turn, stopping at the first entry outside the window (only the first can be
 * below it, and past the window's end every one fails). Stretches of TCEs mapping consecutive
 * pages go to the table as one series (the same entries and notifications as one by one).
 */
function putMany(
  table: TceTable,
  ioba: bigint,
  count: number,
  tceAt: (i: number) => bigint,
): HcallResult {
  const pageSize = 1n << BigInt(table.pageShift);
  const start = ioba & table.pageMask;
  const first = table.indexOf(start);
  const room = first < BigInt(table.nbTable) ? table.nbTable - Number(first) : 0;
  const fit = Math.min(count, room);
  const tces: bigint[] = [];
  for (let i = 0; i < fit; i++) tces.push(tceAt(i));
  let at = start;
  for (let i = 0; i < fit; ) {
    const tce = tces[i];
    let j = i + 1;
    // Only TCEs within 64 bits join a series (others are stored modulo 2^64, one by one).
    if ((tce & 3n) !== 0n && tce >= 0n) {
      let next = tce + pageSize;
      while (j < fit && tces[j] === next && next <= U64_MAX) {
        j++;
        next += pageSize;
      }
    }
    if (j - i === 1) table.putTce(at, tce);
    else table.putTceSeries(at, tce, j - i, pageSize);
    at += BigInt(j - i) * pageSize;
    i = j;
  }
  // The answer of a call that writes nothing is H_PARAMETER, as is stopping at an entry.
  return { ret: fit === count && count > 0 ? H.success : H.parameter, written: fit };
}
