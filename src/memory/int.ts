/**
 * Exact 64-bit address arithmetic. Addresses and sizes are `bigint` so that 2^64 (the size of a
 * whole address space) and negative intermediate bases (alias rendering) stay exact.
 */

/** 2^64: the size of a full 64-bit address space. */
export const SIZE_2_64 = 1n << 64n;
/** 2^64 - 1: the highest address, and QEMU's `UINT64_MAX`. */
export const U64_MAX = SIZE_2_64 - 1n;

/** Wraps a value to 64 bits, as C's `hwaddr` arithmetic does. */
export function wrap64(value: bigint): bigint {
  return value & U64_MAX;
}

/** Formats a 64-bit value as 16 lower-case hex digits, zero padded (C's `%016" PRIx64`). */
export function hex16(value: bigint): string {
  return wrap64(value).toString(16).padStart(16, "0");
}

/** Formats a value as `0x` lower-case hex, the JSON report's form. */
export function hex(value: bigint | number): string {
  return `0x${value.toString(16)}`;
}

/** The smaller of two bigints. */
export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** The larger of two bigints. */
export function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** Largest power of two not above `value` (value >= 1). */
export function pow2Floor(value: number): number {
  return 2 ** Math.floor(Math.log2(value));
}

/** Normalises a region size the way QEMU does: `UINT64_MAX` means 2^64; above 2^64 is invalid. */
export function normaliseSize(size: bigint): bigint {
  if (size < 0n || size > SIZE_2_64) {
    throw new RangeError(`region size ${hex(size)} is outside 0..2^64`);
  }
  return size === U64_MAX ? SIZE_2_64 : size;
}
