/**
 * PAPR and sPAPR constants: hypercall return codes, RTAS status words, LIOBN and BUID formulas.
 */

/** Hypercall return codes QEMU's TCE hypercalls use. */
export const H = {
  success: 0,
  hardware: -1,
  function: -2,
  parameter: -4,
} as const;

/** Hypercall names and numbers. */
export const HCALL_NUMBERS = {
  H_GET_TCE: 0x1c,
  H_PUT_TCE: 0x20,
  H_STUFF_TCE: 0x138,
  H_PUT_TCE_INDIRECT: 0x13c,
} as const;

/** The name of a hypercall return code, e.g. `H_PARAMETER`. */
export function hcallReturnName(code: number): string {
  const names: Record<number, string> = {
    0: "H_SUCCESS",
    [-1]: "H_HARDWARE",
    [-2]: "H_FUNCTION",
    [-4]: "H_PARAMETER",
  };
  return names[code] ?? String(code);
}

/** RTAS status words. */
export const RTAS = {
  success: 0,
  hwError: -1,
  busy: -2,
  paramError: -3,
} as const;

/** RTAS tokens of the DDW calls. */
export const RTAS_TOKENS = {
  "ibm,query-pe-dma-window": 0x2026,
  "ibm,create-pe-dma-window": 0x2027,
  "ibm,remove-pe-dma-window": 0x2028,
  "ibm,reset-pe-dma-window": 0x2029,
} as const;

/** BUID of PHB 0; PHB n has BUID + n. */
export const SPAPR_PCI_BASE_BUID = 0x800000020000000n;
/** Bus address of every PHB's MSI window. */
export const SPAPR_PCI_MSI_WINDOW = 0x40000000000n;
/** Page shift of the default DMA window. */
export const SPAPR_TCE_PAGE_SHIFT = 12;
/** Most entries one H_PUT_TCE_INDIRECT may write (one 4 KiB page of 8-byte TCEs). */
export const TCE_INDIRECT_MAX = 512;

/** SPAPR_PCI_LIOBN: bit 31 set, PHB index in bits 8..15, window number in 0..7. */
export function pciLiobn(index: number, window: number): number {
  return (0x80000000 | (index << 8) | window) >>> 0;
}

/** RTAS DDW page-size mask bits, by page shift (RTAS_DDW_PGSIZE_*). */
export const DDW_PAGE_SIZE_BITS: readonly [number, number][] = [
  [12, 0x1],
  [16, 0x2],
  [24, 0x4],
  [25, 0x8],
  [26, 0x10],
  [27, 0x20],
  [28, 0x40],
  [34, 0x80],
  [21, 0x100],
];
