/**
 * How the guest encodes the PHB RTAS calls' argument cells and how many return words each call
 * takes, and what the return words mean: the one place that knows PAPR's cell layout, used by
 * whatever builds RTAS calls from named fields (scenario steps, traces) and by `rtas.ts`, which
 * decodes them.
 */
import { RTAS } from "./constants.ts";
import type { RtasCallName } from "./rtas.ts";

/** A PCI configuration address: bus, device/function and register (0..0xfff). */
export interface ConfigAddress {
  readonly bus: number;
  readonly devfn: number;
  readonly reg: number;
}

/**
 * The config address cell: bus in bits 16..23, devfn in 8..15, register bits 0..7 in 0..7 and
 * register bits 8..11 (the PCIe extended space) in 28..31 (QEMU's `rtas_pci_cfgaddr`).
 */
export function encodeConfigAddress(a: ConfigAddress): number {
  return (
    (((a.bus & 0xff) << 16) |
      ((a.devfn & 0xff) << 8) |
      (a.reg & 0xff) |
      ((a.reg & 0xf00) << 20)) >>>
    0
  );
}

/** The inverse of `encodeConfigAddress`; bits 24..27 are ignored, as QEMU ignores them. */
export function decodeConfigAddress(cell: number): ConfigAddress {
  return {
    bus: (cell >>> 16) & 0xff,
    devfn: (cell >>> 8) & 0xff,
    reg: ((cell >>> 20) & 0xf00) | (cell & 0xff),
  };
}

/** Return words each call takes by default (query: 5, the pre-7.1 form; 6 is the 64-bit one). */
export const RTAS_RETURN_WORDS: Readonly<Record<RtasCallName, number>> = {
  "ibm,query-pe-dma-window": 5,
  "ibm,create-pe-dma-window": 4,
  "ibm,remove-pe-dma-window": 1,
  "ibm,reset-pe-dma-window": 1,
  "ibm,read-pci-config": 2,
  "ibm,write-pci-config": 1,
};

/** The return words `name` takes unless told otherwise (1 for a call iova does not know). */
export function rtasReturnWords(name: string): number {
  return (RTAS_RETURN_WORDS as Record<string, number>)[name] ?? 1;
}

/** Named fields of a PHB RTAS call, from which its argument cells are built. */
export interface RtasFields {
  /** The PHB's BUID. */
  readonly buid: bigint;
  /** The function addressed (its PE for the DDW calls); bus 0 unless given. */
  readonly devfn?: number;
  readonly bus?: number;
  /** Config-space register and access size (read/write-pci-config). */
  readonly reg?: number;
  readonly size?: number;
  readonly value?: bigint | number;
  /** create-pe-dma-window. */
  readonly pageShift?: number;
  readonly windowShift?: number;
  /** remove-pe-dma-window. */
  readonly liobn?: bigint | number;
}

/** The argument cells (unsigned 32-bit) of call `name` from named fields. */
export function encodeRtasArgs(name: string, f: RtasFields): number[] {
  const hi = Number((f.buid >> 32n) & 0xffffffffn);
  const lo = Number(f.buid & 0xffffffffn);
  const cfg = (reg: number) => encodeConfigAddress({ bus: f.bus ?? 0, devfn: f.devfn ?? 0, reg });
  const cell = (v: bigint | number | undefined) => Number(BigInt.asUintN(32, BigInt(v ?? 0)));
  switch (name) {
    case "ibm,read-pci-config":
      return [cfg(f.reg ?? 0), hi, lo, f.size ?? 0];
    case "ibm,write-pci-config":
      return [cfg(f.reg ?? 0), hi, lo, f.size ?? 0, cell(f.value)];
    case "ibm,create-pe-dma-window":
      return [cfg(0), hi, lo, f.pageShift ?? 0, f.windowShift ?? 0];
    case "ibm,remove-pe-dma-window":
      return [cell(f.liobn)];
    default:
      return [cfg(0), hi, lo];
  }
}

/** What a call's return words say, by name. */
export interface RtasReturns {
  /** Word 0 as a signed status (0 when the call wrote nothing). */
  readonly status: number;
  /** create-pe-dma-window: the new window's LIOBN and bus address. */
  readonly liobn?: bigint;
  readonly start?: bigint;
  /** read-pci-config: the value read. */
  readonly value?: bigint;
  /** query-pe-dma-window: windows still available. */
  readonly available?: number;
}

/** Decodes the return words of a call (only a successful call's values are given). */
export function decodeRtasReturns(name: string, rets: readonly number[]): RtasReturns {
  const status = rets.length ? rets[0] | 0 : 0;
  if (status !== RTAS.success) return { status };
  switch (name) {
    case "ibm,create-pe-dma-window":
      if (rets.length < 4) return { status };
      return {
        status,
        liobn: BigInt(rets[1] >>> 0),
        start: (BigInt(rets[2] >>> 0) << 32n) | BigInt(rets[3] >>> 0),
      };
    case "ibm,read-pci-config":
      return rets.length < 2 ? { status } : { status, value: BigInt(rets[1] >>> 0) };
    case "ibm,query-pe-dma-window":
      return rets.length < 2 ? { status } : { status, available: rets[1] };
    default:
      return { status };
  }
}
