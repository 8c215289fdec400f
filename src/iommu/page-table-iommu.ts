/**
 * A small generic IOMMU: one page size, a page table held in a map, MAP/UNMAP notifications on
 * every change, and a replay that visits only populated entries. It lets the IOMMU layer be used
 * and tested on its own; the sPAPR TCE table is the real model built the same way.
 */
import type { AddressSpace } from "../memory/address-space.ts";
import type { IommuPermission, IommuTlbEntry } from "../memory/iommu-types.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { RegionOptions } from "../memory/region.ts";
import { type IommuModel, IommuRegion } from "./iommu-region.ts";
import { type IommuNotifier, IommuNotifierFlag } from "./notifier.ts";

interface PageEntry {
  readonly translatedAddr: bigint;
  readonly perm: IommuPermission;
}

/** A page-table IOMMU translating into `targetAs`. */
export class PageTableIommu implements IommuModel {
  readonly iommu: IommuRegion;
  readonly targetAs: AddressSpace;
  readonly pageShift: number;
  readonly #mask: bigint;
  readonly #entries = new Map<number, PageEntry>();

  constructor(
    system: MemorySystem,
    name: string,
    size: bigint,
    targetAs: AddressSpace,
    pageShift = 12,
    options: RegionOptions = {},
  ) {
    this.targetAs = targetAs;
    this.pageShift = pageShift;
    this.#mask = (1n << BigInt(pageShift)) - 1n;
    this.iommu = new IommuRegion(system, name, size, this, options);
  }

  /** Populated entries. */
  get entryCount(): number {
    return this.#entries.size;
  }

  translate(addr: bigint, _flag: IommuPermission, _iommuIdx: number): IommuTlbEntry {
    const e = this.#entries.get(Number(addr >> BigInt(this.pageShift)));
    return {
      targetAs: this.targetAs,
      iova: addr & ~this.#mask,
      translatedAddr: e ? e.translatedAddr : 0n,
      addrMask: this.#mask,
      perm: e ? e.perm : 0,
    };
  }

  minPageSize(): bigint {
    return this.#mask + 1n;
  }

  /** Maps the page at `iova` (region offset) to `translatedAddr` and notifies MAP. */
  map(iova: bigint, translatedAddr: bigint, perm: IommuPermission): void {
    const page = Number(iova >> BigInt(this.pageShift));
    const entry = { translatedAddr: translatedAddr & ~this.#mask, perm };
    this.#entries.set(page, entry);
    if (perm === 0) {
      this.#entries.delete(page);
      this.#notify(iova, 0n, 0);
      return;
    }
    this.#notify(iova, entry.translatedAddr, perm);
  }

  /** Unmaps the page at `iova` and notifies UNMAP. */
  unmap(iova: bigint): void {
    this.#entries.delete(Number(iova >> BigInt(this.pageShift)));
    this.#notify(iova, 0n, 0);
  }

  /** Replays populated entries in address order: one translate each, nothing for empty pages. */
  replay(region: IommuRegion, n: IommuNotifier): void {
    const pages = [...this.#entries.keys()].sort((a, b) => a - b);
    for (const page of pages) {
      const entry = region.translate(BigInt(page) << BigInt(this.pageShift), 0, n.iommuIdx);
      if (entry.perm !== 0) n.notify(entry);
    }
  }

  #notify(iova: bigint, translatedAddr: bigint, perm: IommuPermission): void {
    this.iommu.notify(0, {
      type: perm === 0 ? IommuNotifierFlag.unmap : IommuNotifierFlag.map,
      entry: {
        targetAs: this.targetAs,
        iova: iova & ~this.#mask,
        translatedAddr,
        addrMask: this.#mask,
        perm,
      },
    });
  }
}
