/**
 * VT-d register offsets, bits and fault reasons as QEMU 7.2's intel-iommu uses them (the VT-d
 * specification's names, from `hw/i386/intel_iommu_internal.h`).
 */

/** Register offsets in the 0x230-byte register file. */
export const DMAR = {
  ver: 0x0,
  cap: 0x8,
  ecap: 0x10,
  gcmd: 0x18,
  gsts: 0x1c,
  rtaddr: 0x20,
  rtaddrHi: 0x24,
  ccmd: 0x28,
  ccmdHi: 0x2c,
  fsts: 0x34,
  fectl: 0x38,
  fedata: 0x3c,
  feaddr: 0x40,
  feuaddr: 0x44,
  aflog: 0x58,
  pmen: 0x64,
  iqh: 0x80,
  iqt: 0x88,
  iqtHi: 0x8c,
  iqa: 0x90,
  iqaHi: 0x94,
  ics: 0x9c,
  iectl: 0xa0,
  iedata: 0xa4,
  ieaddr: 0xa8,
  ieuaddr: 0xac,
  irta: 0xb8,
  iva: 0xf0,
  ivaHi: 0xf4,
  iotlb: 0xf8,
  iotlbHi: 0xfc,
  frcd0: 0x220,
  frcd1: 0x224,
  frcd2: 0x228,
  frcd3: 0x22c,
  /** Size of the register file (one fault recording register). */
  size: 0x230,
} as const;

/** Registers that take only 32-bit accesses: QEMU asserts, so a 64-bit write aborts it. */
export const LONG_ONLY_REGISTERS: ReadonlySet<number> = new Set([
  DMAR.rtaddrHi,
  DMAR.ccmdHi,
  DMAR.iotlbHi,
  DMAR.ivaHi,
  DMAR.fsts,
  DMAR.fectl,
  DMAR.fedata,
  DMAR.feaddr,
  DMAR.feuaddr,
  DMAR.pmen,
  DMAR.iqtHi,
  DMAR.iqaHi,
  DMAR.ics,
  DMAR.iectl,
  DMAR.iedata,
  DMAR.ieaddr,
  DMAR.ieuaddr,
  DMAR.frcd1,
  DMAR.frcd3,
  DMAR.irta + 4,
]);

/** Global command (GCMD) and status (GSTS) bits; a status bit sits where its command bit does. */
export const GCMD = {
  te: 1 << 31,
  srtp: 1 << 30,
  sfl: 1 << 29,
  eafl: 1 << 28,
  wbf: 1 << 27,
  qie: 1 << 26,
  ire: 1 << 25,
  sirtp: 1 << 24,
  cfi: 1 << 23,
} as const;

/** Fault status bits. */
export const FSTS = { pfo: 1, ppf: 1 << 1, iqe: 1 << 4, friMask: 0xff00 } as const;

/** Fault/invalidation event control bits. */
export const FECTL = { im: 1 << 31, ip: 1 << 30 } as const;

/** Capability bits QEMU 7.2 sets. */
export const CAP = {
  /** Fault recording registers at 0x220: (offset >> 4) << 24. */
  fro: 0x220n << 20n,
  /** 16-bit domain ids. */
  nd: 6n,
  mamv: 18n << 48n,
  psi: 1n << 39n,
  /** 2 MiB and 1 GiB second-level pages. */
  sllps: (1n << 34n) | (1n << 35n),
  drain: (1n << 54n) | (1n << 55n),
  cm: 1n << 7n,
  sagaw39: 0x2n << 8n,
  sagaw48: 0x4n << 8n,
  sagawMask: 0x1fn << 8n,
} as const;

/** The most address-mask bits a page-selective invalidation may carry (CAP.MAMV). */
export const VTD_MAMV = 18n;

/** Extended capability bits. */
export const ECAP = {
  qi: 1n << 1n,
  dt: 1n << 2n,
  ir: 1n << 3n,
  eim: 1n << 4n,
  pt: 1n << 6n,
  sc: 1n << 7n,
  /** IOTLB registers at 0xf0: (offset >> 4) << 8. */
  iro: 0xf0n << 4n,
  mhmv: 15n << 20n,
} as const;

/** Context command register. */
export const CCMD = {
  icc: 1n << 63n,
  cirgMask: 3n << 61n,
  global: 1n << 61n,
  domain: 2n << 61n,
  device: 3n << 61n,
  caigMask: 3n << 59n,
  globalA: 1n << 59n,
  deviceA: 3n << 59n,
} as const;

/** IOTLB invalidate register. */
export const TLB = {
  ivt: 1n << 63n,
  granuMask: 3n << 60n,
  global: 1n << 60n,
  dsi: 2n << 60n,
  psi: 3n << 60n,
  granuMaskA: 3n << 57n,
  globalA: 1n << 57n,
  dsiA: 2n << 57n,
  psiA: 3n << 57n,
} as const;

/** Queued-invalidation descriptor types and fields. */
export const INV_DESC = {
  typeMask: 0xfn,
  cc: 1n,
  iotlb: 2n,
  device: 3n,
  iec: 4n,
  wait: 5n,
  granularityMask: 3n << 4n,
  global: 1n << 4n,
  domain: 2n << 4n,
  /** Device-selective (context cache) or page-selective (IOTLB). */
  selective: 3n << 4n,
  ccReserved: 0xfffc00000000ffc0n,
  iotlbReservedLo: 0xffffffff0000ff00n,
  iotlbReservedHi: 0xf80n,
  waitSw: 1n << 5n,
  waitIf: 1n << 4n,
  waitReservedLo: 0xffffff80n,
  waitReservedHi: 3n,
} as const;

/** Fault reasons (the VT-d specification's numbering). */
export const FaultReason = {
  rootEntryP: 1,
  contextEntryP: 2,
  contextEntryInv: 3,
  addrBeyondMgaw: 4,
  write: 5,
  read: 6,
  pagingEntryInv: 7,
  rootTableInv: 8,
  contextTableInv: 9,
  rootEntryRsvd: 10,
  contextEntryRsvd: 11,
  pagingEntryRsvd: 12,
  contextEntryTt: 13,
} as const;

/** A fault reason's number. */
export type FaultReasonCode = (typeof FaultReason)[keyof typeof FaultReason];

/** Faults that the context entry's FPD bit suppresses (QEMU's `vtd_qualified_faults`). */
export const QUALIFIED_FAULTS: ReadonlySet<number> = new Set([
  FaultReason.contextEntryP,
  FaultReason.contextEntryInv,
  FaultReason.addrBeyondMgaw,
  FaultReason.write,
  FaultReason.read,
  FaultReason.pagingEntryInv,
  FaultReason.pagingEntryRsvd,
  FaultReason.contextEntryTt,
]);

/** Context-entry translation types. */
export const CONTEXT_TT = { multiLevel: 0n, devIotlb: 1n << 2n, passThrough: 2n << 2n } as const;

/** The interrupt address range, which the IOMMU never translates. */
export const INTERRUPT_ADDR_FIRST = 0xfee00000n;
export const INTERRUPT_ADDR_SIZE = 0x100000n;

/** Second-level page-table bits. */
export const SL = {
  r: 1n,
  w: 2n,
  pageSize: 1n << 7n,
  ignCom: 0xbff0000000000000n,
} as const;
