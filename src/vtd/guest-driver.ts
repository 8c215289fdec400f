/**
 * The guest side of VT-d as Linux's intel-iommu driver (6.1, legacy mode, second-level tables)
 * drives it, for scenarios that say what the guest maps rather than which bytes it writes: the
 * register writes and table contents such a driver produces, through the CPU's address space.
 *
 * - Start (init_dmars, then translation on): a root table page, the invalidation queue (one page
 *   of 256 descriptors) enabled with GCMD.QIE, the root table set with GCMD.SRTP followed by a
 *   global context-cache and a global IOTLB invalidation, then GCMD.TE.
 * - A device's first use (domain_context_mapping_one): its bus's context table, a context entry
 *   for its domain (3-level tables for a 39-bit address width, 4 for 48), and with caching mode a
 *   device-selective context invalidation and a domain-selective IOTLB invalidation.
 * - map (__domain_mapping, then iommu_flush_iotlb_psi with caching mode only): leaf entries,
 *   2 MiB or 1 GiB superpages where address and size allow; a page-selective invalidation of
 *   the range rounded up to a power of two, domain-selective when that exceeds the MAMV.
 * - unmap (domain_unmap, then the same invalidation whether or not caching mode is on).
 * Every batch of descriptors ends with a wait descriptor whose status write the driver polls.
 *
 * Page-table pages come from the top of RAM below 4 GiB downwards, where nothing else in a
 * scenario is likely to be; freed tables are not reused (Linux frees them; nothing observable
 * depends on it here).
 */
import type { AddressSpace } from "../memory/address-space.ts";
import { CAP, DMAR, GCMD, INV_DESC, VTD_MAMV } from "./constants.ts";

/** What the guest driver cannot do, said as a message. */
export class VtdDriverError extends Error {
  override name = "VtdDriverError";
}

/** What one driver action did: the device's domain, and the invalidations it queued. */
export interface VtdDriverAction {
  readonly domain: number;
  readonly invalidations: readonly string[];
}

const VTD_BASE = 0xfed90000n;
const PAGE = 0x1000n;
const PTE_R = 1n;
const PTE_W = 2n;
const PTE_PS = 1n << 7n;
/** QI_DONE, the status the wait descriptor writes. */
const QI_DONE = 1n;
/**
 * The most leaf entries one map may write: past it the step is refused before anything changes
 * (2^20 entries are 4 GiB of 4 KiB pages; larger aligned ranges use superpages).
 */
export const VTD_DRIVER_LEAF_LIMIT = 1 << 20;

interface Domain {
  readonly id: number;
  readonly pgd: bigint;
}

/** Linux's intel-iommu driver, as far as the DMA API goes. */
export class LinuxVtdDriver {
  readonly #cpu: AddressSpace;
  #nextPage: bigint;
  readonly #floor: bigint;
  readonly #cap: bigint;
  readonly #levels: number;
  readonly #cachingMode: boolean;
  #gcmd = 0;
  readonly #root: bigint;
  readonly #queue: bigint;
  readonly #status: bigint;
  #tail = 0;
  readonly #domains = new Map<number, Domain>();
  #nextDomainId: number;
  /** Context tables by bus (only bus 0 on this machine). */
  readonly #contextTables = new Map<number, bigint>();

  /** Starts the driver: `ramBelow4g` bounds where its pages go (downwards from there). */
  constructor(cpu: AddressSpace, ramBelow4g: bigint) {
    this.#cpu = cpu;
    this.#nextPage = (ramBelow4g & ~(PAGE - 1n)) - PAGE;
    this.#floor = ramBelow4g / 2n;
    this.#cap = this.#read64(DMAR.cap);
    const ecap = this.#read64(DMAR.ecap);
    if (!(ecap & 2n)) throw new VtdDriverError("the IOMMU has no queued invalidation");
    // The widest supported AGAW: 48 bits (4 levels) when SAGAW allows, else 39 (3 levels).
    this.#levels = this.#cap & CAP.sagaw48 ? 4 : 3;
    this.#cachingMode = (this.#cap & CAP.cm) !== 0n;
    // With caching mode, domain id 0 tags invalid translations: Linux never hands it out.
    this.#nextDomainId = 1;
    this.#root = this.#allocPage();
    this.#queue = this.#allocPage();
    this.#status = this.#allocPage();
    // dmar_enable_qi: tail 0, the queue's address (size 0: one page), then QIE.
    this.#write32(DMAR.iqt, 0);
    this.#write64(DMAR.iqa, this.#queue);
    this.#gcmd |= GCMD.qie;
    this.#write32(DMAR.gcmd, this.#gcmd);
    // iommu_set_root_entry, then the global flushes.
    this.#write64(DMAR.rtaddr, this.#root);
    this.#write32(DMAR.gcmd, this.#gcmd | GCMD.srtp);
    this.#submit([ccGlobal(), iotlbGlobal(this.#cap)]);
    // iommu_enable_translation.
    this.#gcmd |= GCMD.te;
    this.#write32(DMAR.gcmd, this.#gcmd);
  }

  /** Maps `[iova, iova + size)` to `gpa` for the device at `devfn` (bus 0). */
  map(
    devfn: number,
    iova: bigint,
    gpa: bigint,
    size: bigint,
    perm: "r" | "w" | "rw",
  ): VtdDriverAction {
    const bits = (perm.includes("r") ? PTE_R : 0n) | (perm.includes("w") ? PTE_W : 0n);
    const width = 30 + 9 * (this.#levels - 2);
    if (iova + size > 1n << BigInt(width))
      throw new VtdDriverError(
        `0x${(iova + size - 1n).toString(16)} is beyond the domain's ${width}-bit address width; nothing was changed`,
      );
    let leaves = 0;
    for (let off = 0n; off < size; leaves++) {
      if (leaves >= VTD_DRIVER_LEAF_LIMIT)
        throw new VtdDriverError(
          `mapping 0x${size.toString(16)} bytes at 0x${iova.toString(16)} takes more than ${VTD_DRIVER_LEAF_LIMIT} page-table entries (align it to 2 MiB or 1 GiB for superpages); nothing was changed`,
        );
      // Linux never overwrites a present entry (__domain_mapping's cmpxchg: "DMA PTE for vPFN
      // already set"): refused here before anything is written.
      const existing = this.#domains.get(devfn);
      if (existing && this.#leaf(existing, iova + off).present)
        throw new VtdDriverError(
          `0x${(iova + off).toString(16)} is already mapped in domain ${existing.id} (Linux: DMA PTE already set); nothing was changed`,
        );
      off += 1n << (12n + 9n * BigInt(this.#leafLevel(iova + off, gpa + off, size - off) - 1));
    }
    const attached = this.#attached(devfn);
    const domain = attached.domain;
    for (let off = 0n; off < size; ) {
      const level = this.#leafLevel(iova + off, gpa + off, size - off);
      const pageSize = 1n << (12n + 9n * BigInt(level - 1));
      const slot = this.#slot(domain, iova + off, level, true)!;
      this.#write64At(slot, (gpa + off) | bits | (level > 1 ? PTE_PS : 0n));
      off += pageSize;
    }
    const invalidations = [...attached.invalidations];
    // __mapping_notify_one: only caching mode needs an invalidation after a map.
    if (this.#cachingMode) invalidations.push(...this.#flushPsi(domain, iova, size));
    return { domain: domain.id, invalidations };
  }

  /** Unmaps `[iova, iova + size)` of the device's domain. */
  unmap(devfn: number, iova: bigint, size: bigint): VtdDriverAction {
    const domain = this.#domainOf(devfn);
    if (!domain) throw new VtdDriverError(`device ${bdf(devfn)} has no domain: nothing is mapped`);
    // A superpage is unmapped whole, and the invalidation covers it (intel_iommu_unmap).
    let end = iova + size;
    for (let off = 0n; off < size; ) {
      const found = this.#leaf(domain, iova + off);
      const span = 1n << (12n + 9n * BigInt(found.level - 1));
      // A leaf is cleared; a missing entry skips everything it would have held.
      if (found.present) this.#write64At(found.slot, 0n);
      off = ((iova + off) & ~(span - 1n)) + span - iova;
      if (found.present && iova + off > end) end = iova + off;
    }
    return { domain: domain.id, invalidations: this.#flushPsi(domain, iova, end - iova) };
  }

  /** Puts the device at `devfn` in the domain of the device at `other`. */
  attach(devfn: number, other: number): VtdDriverAction {
    const domain = this.#domainOf(other) ?? this.#attached(other).domain;
    const invalidations = this.#setContext(devfn, domain);
    return { domain: domain.id, invalidations };
  }

  // ---- domains and context entries -----------------------------------------------------------

  #domainOf(devfn: number): Domain | undefined {
    return this.#domains.get(devfn);
  }

  /** The device's domain, created and its context entry written on first use. */
  #attached(devfn: number): { domain: Domain; invalidations: string[] } {
    const existing = this.#domains.get(devfn);
    if (existing) return { domain: existing, invalidations: [] };
    const domain: Domain = { id: this.#nextDomainId++, pgd: this.#allocPage() };
    return { domain, invalidations: this.#setContext(devfn, domain) };
  }

  #setContext(devfn: number, domain: Domain): string[] {
    let table = this.#contextTables.get(0);
    if (table === undefined) {
      table = this.#allocPage();
      this.#contextTables.set(0, table);
      this.#write64At(this.#root, table | 1n);
    }
    const agaw = BigInt(this.#levels - 2);
    const entry = table + BigInt(devfn) * 16n;
    this.#write64At(entry + 8n, agaw | (BigInt(domain.id) << 8n));
    this.#write64At(entry, domain.pgd | 1n);
    this.#domains.set(devfn, domain);
    if (!this.#cachingMode) return [];
    const sid = BigInt(devfn);
    const descs = [
      {
        lo: INV_DESC.cc | INV_DESC.selective | (sid << 32n),
        hi: 0n,
        text: `context device sid=${bdf(devfn)}`,
      },
      iotlbDomain(this.#cap, domain.id),
    ];
    return this.#submit(descs);
  }

  // ---- page tables ---------------------------------------------------------------------------

  /** The largest leaf Linux uses here: a superpage when both addresses and the size allow. */
  #leafLevel(iova: bigint, gpa: bigint, remain: bigint): number {
    // CAP.SLLPS: bit 34 for 2 MiB, bit 35 for 1 GiB.
    for (const level of [3, 2]) {
      if (!(this.#cap & (1n << BigInt(32 + level)))) continue;
      const size = 1n << (12n + 9n * BigInt(level - 1));
      if (((iova | gpa) & (size - 1n)) === 0n && remain >= size) return level;
    }
    return 1;
  }

  /** The address of the entry for `iova` at `level`, tables allocated on the way when `alloc`. */
  #slot(domain: Domain, iova: bigint, level: number, alloc: boolean): bigint | undefined {
    let table = domain.pgd;
    for (let l = this.#levels; ; l--) {
      const slot = table + ((iova >> (12n + 9n * BigInt(l - 1))) & 0x1ffn) * 8n;
      if (l === level) return slot;
      const pte = this.#read64At(slot);
      if (pte & (PTE_R | PTE_W) && !(pte & PTE_PS)) {
        table = pte & ~0xfffn & ((1n << 52n) - 1n);
        continue;
      }
      if (!alloc) return undefined;
      if (pte & PTE_PS) throw new VtdDriverError(`0x${iova.toString(16)} is inside a superpage`);
      const next = this.#allocPage();
      this.#write64At(slot, next | PTE_R | PTE_W);
      table = next;
    }
  }

  /** The entry that settles `iova`: a present leaf, or the first missing entry on the way. */
  #leaf(domain: Domain, iova: bigint): { slot: bigint; level: number; present: boolean } {
    let table = domain.pgd;
    for (let l = this.#levels; ; l--) {
      const slot = table + ((iova >> (12n + 9n * BigInt(l - 1))) & 0x1ffn) * 8n;
      const pte = this.#read64At(slot);
      if (!(pte & (PTE_R | PTE_W))) return { slot, level: l, present: false };
      if (l === 1 || pte & PTE_PS) return { slot, level: l, present: true };
      table = pte & ~0xfffn & ((1n << 52n) - 1n);
    }
  }

  #allocPage(): bigint {
    const page = this.#nextPage;
    if (page < this.#floor)
      throw new VtdDriverError(
        "the guest driver's page-table area (the top half of low RAM) is full",
      );
    this.#nextPage -= PAGE;
    this.#cpu.write(page, new Uint8Array(Number(PAGE)));
    return page;
  }

  // ---- invalidation ----------------------------------------------------------------------------

  /** iommu_flush_iotlb_psi: page-selective for 2^mask pages, domain-selective past the MAMV. */
  #flushPsi(domain: Domain, iova: bigint, size: bigint): string[] {
    const pages = (size + PAGE - 1n) / PAGE;
    let mask = 0n;
    while (1n << mask < pages) mask++;
    const mamv = (this.#cap >> 48n) & 0x3fn;
    if (!(this.#cap & CAP.psi) || mask > mamv || mask > VTD_MAMV)
      return this.#submit([iotlbDomain(this.#cap, domain.id)]);
    const { dr, dw } = drain(this.#cap);
    return this.#submit([
      {
        lo: INV_DESC.iotlb | INV_DESC.selective | dr | dw | (BigInt(domain.id) << 16n),
        hi: iova | mask,
        text: `iotlb page did=${domain.id} addr=0x${iova.toString(16)} am=${mask}`,
      },
    ]);
  }

  /** qi_submit_sync: the descriptors, a wait descriptor, the tail moved, the status polled. */
  #submit(descs: readonly Desc[]): string[] {
    this.#write32At(this.#status, 0);
    const all = [
      ...descs,
      {
        lo: INV_DESC.wait | INV_DESC.waitSw | (QI_DONE << 32n),
        hi: this.#status,
        text: "wait",
      },
    ];
    for (const d of all) {
      const at = this.#queue + BigInt(this.#tail) * 16n;
      this.#write64At(at, d.lo);
      this.#write64At(at + 8n, d.hi);
      this.#tail = (this.#tail + 1) % 256;
    }
    this.#write64(DMAR.iqt, BigInt(this.#tail) << 4n);
    const done = this.#read32At(this.#status);
    if (BigInt(done) !== QI_DONE)
      throw new VtdDriverError(
        "the invalidation queue did not complete (the wait status was not written)",
      );
    return all.map((d) => d.text);
  }

  // ---- accesses --------------------------------------------------------------------------------

  #read64(reg: number): bigint {
    return this.#read64At(VTD_BASE + BigInt(reg));
  }
  #write64(reg: number, v: bigint): void {
    this.#write64At(VTD_BASE + BigInt(reg), v);
  }
  #write32(reg: number, v: number): void {
    this.#write32At(VTD_BASE + BigInt(reg), v);
  }
  #read64At(addr: bigint): bigint {
    const d = this.#cpu.read(addr, 8).data;
    return new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0, true);
  }
  #read32At(addr: bigint): number {
    const d = this.#cpu.read(addr, 4).data;
    return new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
  }
  #write64At(addr: bigint, v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.#cpu.write(addr, b);
  }
  #write32At(addr: bigint, v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.#cpu.write(addr, b);
  }
}

interface Desc {
  readonly lo: bigint;
  readonly hi: bigint;
  readonly text: string;
}

/** DR and DW, set when the IOMMU drains reads and writes (cap_read_drain, cap_write_drain). */
function drain(cap: bigint): { dr: bigint; dw: bigint } {
  return { dr: cap & (1n << 55n) ? 1n << 7n : 0n, dw: cap & (1n << 54n) ? 1n << 6n : 0n };
}

function ccGlobal(): Desc {
  return { lo: INV_DESC.cc | INV_DESC.global, hi: 0n, text: "context global" };
}

function iotlbGlobal(cap: bigint): Desc {
  const { dr, dw } = drain(cap);
  return { lo: INV_DESC.iotlb | INV_DESC.global | dr | dw, hi: 0n, text: "iotlb global" };
}

function iotlbDomain(cap: bigint, did: number): Desc {
  const { dr, dw } = drain(cap);
  return {
    lo: INV_DESC.iotlb | INV_DESC.domain | dr | dw | (BigInt(did) << 16n),
    hi: 0n,
    text: `iotlb domain did=${did}`,
  };
}

function bdf(devfn: number): string {
  return `00:${(devfn >> 3).toString(16).padStart(2, "0")}.${devfn & 7}`;
}
