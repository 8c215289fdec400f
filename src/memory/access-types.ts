/**
 * Types shared by every memory access: transaction results, attributes and device callbacks.
 */

/** QEMU's `MemTxResult` bits. Results of split accesses are OR-ed together. */
export const MemTx = {
  ok: 0,
  /** The device reported an error. */
  error: 1,
  /** Nothing decodes the address, or the device rejected the access. */
  decodeError: 2,
  /** The access was denied (e.g. a `memory`-only access that hit MMIO). */
  accessError: 4,
} as const;

/** A memory transaction result: an OR of `MemTx` bits, 0 meaning success. */
export type MemTxResult = number;

/** Transaction attributes (QEMU's `MemTxAttrs`), the subset iova models. */
export interface MemTxAttrs {
  /** Requester id of the initiating PCI device (bus << 8 | devfn). */
  readonly requesterId?: number;
  /** Only RAM may be accessed: anything else fails with `accessError`. */
  readonly memory?: boolean;
  readonly secure?: boolean;
}

/** The empty attribute set (QEMU's `MEMTXATTRS_UNSPECIFIED`). */
export const UNSPECIFIED_ATTRS: MemTxAttrs = Object.freeze({});

/** Byte order a device declares for its registers. */
export type Endianness = "little" | "big";

/** What a read callback returns: the value, or the value with a transaction result. */
export type MmioReadResult = bigint | { readonly value: bigint; readonly result: MemTxResult };

/** Access-size limits (QEMU's `valid` and `impl` blocks of `MemoryRegionOps`). */
export interface AccessSizeLimits {
  /** Smallest access size in bytes; 0 means the default (1). */
  readonly minAccessSize?: number;
  /** Largest access size in bytes; 0 means the default (`valid`: unchecked; `impl`: 4). */
  readonly maxAccessSize?: number;
  /** Whether accesses that are not naturally aligned are allowed. */
  readonly unaligned?: boolean;
}

/** Device callbacks of an MMIO/I/O region (QEMU's `MemoryRegionOps`). */
export interface MemoryRegionOps {
  /** Reads `size` bytes at `offset` within the region. */
  read?(offset: bigint, size: number, attrs: MemTxAttrs): MmioReadResult;
  /** Writes the low `size` bytes of `value` at `offset`; may return a non-OK result. */
  write?(offset: bigint, value: bigint, size: number, attrs: MemTxAttrs): MemTxResult | undefined;
  /** Device byte order; default little-endian. */
  readonly endianness?: Endianness;
  /** What the bus lets through to the device. */
  readonly valid?: AccessSizeLimits & {
    /** Last-word veto of an access; false makes it invalid. */
    accepts?(offset: bigint, size: number, isWrite: boolean, attrs: MemTxAttrs): boolean;
  };
  /** What the device implements; the core splits or widens accesses to fit. */
  readonly impl?: AccessSizeLimits;
}
