/**
 * RTAS calls of the PCI host bridges: the DDW calls (ibm,query/create/remove/reset-pe-dma-window)
 * and config space access (ibm,read/write-pci-config), with QEMU 7.2's argument checks and
 * return words. Arguments and returns are 32-bit cells; statuses are signed.
 */
import { DDW_PAGE_SIZE_BITS, RTAS } from "./constants.ts";
import type { SpaprPhb } from "./phb.ts";
import { decodeConfigAddress } from "./rtas-args.ts";
import type { TceTable } from "./tce-table.ts";

/** What the RTAS calls need of the machine. */
export interface RtasHost {
  readonly phbs: readonly SpaprPhb[];
}

/** Names of the RTAS calls iova implements. */
export const RTAS_CALLS = [
  "ibm,query-pe-dma-window",
  "ibm,create-pe-dma-window",
  "ibm,remove-pe-dma-window",
  "ibm,reset-pe-dma-window",
  "ibm,read-pci-config",
  "ibm,write-pci-config",
] as const;

/** One of `RTAS_CALLS`. */
export type RtasCallName = (typeof RTAS_CALLS)[number];

/** A 32-bit status as the guest reads it back (QEMU stores -3 as 0xfffffffd). */
const word = (v: number | bigint) => Number(BigInt.asUintN(32, BigInt(v)));

function findPhb(host: RtasHost, hi: number, lo: number): SpaprPhb | undefined {
  const buid = (BigInt(hi) << 32n) | BigInt(lo);
  return host.phbs.find((p) => p.buid === buid);
}

/** The RTAS DDW page-size mask for a PHB's `pgsz`. */
export function ddwPageSizeMask(pgsz: bigint): number {
  let mask = 0;
  for (const [shift, bit] of DDW_PAGE_SIZE_BITS) if ((pgsz >> BigInt(shift)) & 1n) mask |= bit;
  return mask;
}

/**
 * Runs an RTAS call with `args` (32-bit cells) and returns the return words it writes, at most
 * `nret` (statuses as unsigned 32-bit values, as the guest sees them); a refused call writes only
 * its status. Unknown names give [PARAM_ERROR].
 */
export function rtasCall(
  host: RtasHost,
  name: string,
  args: readonly number[],
  nret: number,
): number[] {
  const rets = call(host, name, args.map(word), nret);
  return rets.map(word);
}

function call(host: RtasHost, name: string, args: number[], nret: number): number[] {
  switch (name) {
    case "ibm,query-pe-dma-window":
      return query(host, args, nret);
    case "ibm,create-pe-dma-window":
      return create(host, args, nret);
    case "ibm,remove-pe-dma-window":
      return remove(host, args, nret);
    case "ibm,reset-pe-dma-window":
      return reset(host, args, nret);
    case "ibm,read-pci-config":
      return readConfig(host, args, nret);
    case "ibm,write-pci-config":
      return writeConfig(host, args, nret);
    default:
      return [RTAS.paramError];
  }
}

function query(host: RtasHost, args: number[], nret: number): number[] {
  if (args.length !== 3 || (nret !== 5 && nret !== 6)) return [RTAS.paramError];
  const phb = findPhb(host, args[1], args[2]);
  if (!phb?.config.ddw) return [RTAS.paramError];
  const available = 2 - phb.activeWindows;
  const mask = ddwPageSizeMask(phb.config.pgsz);
  // The largest block: 0x80000000 TCEs in 5 words; 2^37 in 6 (64-bit query extension, 7.1).
  if (nret === 5) return [RTAS.success, available, 0x80000000, mask, 0];
  return [RTAS.success, available, 0x20, 0, mask, 0];
}

function create(host: RtasHost, args: number[], nret: number): number[] {
  if (args.length !== 5 || nret !== 4) return [RTAS.paramError];
  const phb = findPhb(host, args[1], args[2]);
  if (!phb?.config.ddw) return [RTAS.paramError];
  const table = phb.freeTable();
  const active = phb.activeWindows;
  const pageShift = args[3] >>> 0;
  const windowShift = args[4] >>> 0;
  // QEMU 7.2 shifts a 64-bit 1 by these uint32 counts; its x86-64 build shifts by the count
  // modulo 64 (recorded: page shift 76 acts as 12, 64 as 0, and a window shift 64 above the
  // page shift gives one entry). iova does the same, so the table's page shift is the count
  // modulo 64.
  const effectivePageShift = pageShift & 63;
  if (!((phb.config.pgsz >> BigInt(effectivePageShift)) & 1n) || windowShift < pageShift) {
    return [RTAS.paramError];
  }
  if (!table || active === 2) return [RTAS.hwError];
  const start = active === 0 ? phb.config.dmaWinAddr : phb.config.dma64WinAddr;
  const shift = (windowShift - pageShift) & 63;
  // 1 << shift stored in QEMU's uint32 entry count: 0 once shift reaches 32.
  const nbTable = shift >= 32 ? 0 : 2 ** shift;
  table.skippingReplay = true;
  table.enable(effectivePageShift, start, nbTable);
  table.skippingReplay = false;
  if (nbTable === 0) return [RTAS.hwError];
  return [RTAS.success, table.liobn, Number(start >> 32n), Number(start & 0xffffffffn)];
}

function remove(host: RtasHost, args: number[], nret: number): number[] {
  if (args.length !== 1 || nret !== 1) return [RTAS.paramError];
  let table: TceTable | undefined;
  let phb: SpaprPhb | undefined;
  for (const p of host.phbs) {
    table = p.tableByLiobn(args[0]);
    if (table) {
      phb = p;
      break;
    }
  }
  if (!table || !phb?.config.ddw || !table.enabled) return [RTAS.paramError];
  table.disable();
  // QEMU 7.1+: removing the last window restores the default one, unless the removed table was
  // the default window's.
  if (phb.activeWindows === 0 && !table.defWin) phb.dmaReset();
  return [RTAS.success];
}

function reset(host: RtasHost, args: number[], nret: number): number[] {
  if (args.length !== 3 || nret !== 1) return [RTAS.paramError];
  const phb = findPhb(host, args[1], args[2]);
  if (!phb?.config.ddw) return [RTAS.paramError];
  phb.dmaReset();
  return [RTAS.success];
}

function configTarget(host: RtasHost, hi: number, lo: number, cell: number, size: number) {
  if (size !== 1 && size !== 2 && size !== 4) return undefined;
  const phb = findPhb(host, hi, lo);
  const { bus, devfn, reg } = decodeConfigAddress(cell);
  const fn = bus === 0 ? phb?.functions.get(devfn) : undefined;
  if (!fn || reg % size !== 0 || reg >= fn.configSize) return undefined;
  return { fn, reg };
}

// The config calls answer every refusal with a hardware error in word 0 and leave the other
// return words as they were (recorded: test/spapr/data/rtas-pci-config-qemu-7.2.json).
function readConfig(host: RtasHost, args: number[], nret: number): number[] {
  if (args.length !== 4 || nret !== 2) return [RTAS.hwError];
  const target = configTarget(host, args[1], args[2], args[0], args[3]);
  if (!target) return [RTAS.hwError];
  return [RTAS.success, target.fn.configRead(target.reg, args[3])];
}

function writeConfig(host: RtasHost, args: number[], nret: number): number[] {
  if (args.length !== 5 || nret !== 1) return [RTAS.hwError];
  const target = configTarget(host, args[1], args[2], args[0], args[3]);
  if (!target) return [RTAS.hwError];
  target.fn.configWrite(target.reg, args[3], args[4]);
  return [RTAS.success];
}
