/**
 * The sPAPR PCI host bridge's DMA side and windows (QEMU's `spapr-pci-host-bridge`): BUID and
 * LIOBNs from the index, the PCI memory and I/O windows aliased into system memory, the PHB's DMA
 * address space (`iommu-root` holding the TCE roots and the MSI window), and the DMA reset that
 * re-creates the default 32-bit window.
 */
import type { AddressSpace } from "../memory/address-space.ts";
import { U64_MAX } from "../memory/int.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import {
  pciLiobn,
  SPAPR_PCI_BASE_BUID,
  SPAPR_PCI_MSI_WINDOW,
  SPAPR_TCE_PAGE_SHIFT,
} from "./constants.ts";
import { TceTable } from "./tce-table.ts";

/** What a PCI function behind the PHB offers to RTAS config-space calls. */
export interface PciConfigTarget {
  /** Config space size: 256, or 4096 for PCIe extended space. */
  readonly configSize: number;
  configRead(offset: number, size: number): number;
  configWrite(offset: number, size: number, value: number): void;
}

/** PHB properties (QEMU 7.2 defaults unless the machine type says otherwise). */
export interface PhbConfig {
  readonly index: number;
  /** Dynamic DMA windows (two TCE tables and the RTAS DDW calls). */
  readonly ddw: boolean;
  readonly dmaWinAddr: bigint;
  readonly dmaWinSize: bigint;
  readonly dma64WinAddr: bigint;
  /** Allowed DDW page sizes: bit n set allows 2^n. */
  readonly pgsz: bigint;
}

/** Where the PHB's PCI windows sit in system memory. */
export interface PhbPlacement {
  readonly pio: bigint;
  readonly mmio32: bigint;
  /** Size of the 32-bit window (its PCI address is 0x80000000). */
  readonly mmio32Size: bigint;
  /** The 64-bit window, if any: where it sits and which PCI addresses it shows. */
  readonly mmio64?: { readonly addr: bigint; readonly size: bigint; readonly pciAddr: bigint };
}

/** QEMU 7.2's defaults for the PHB properties. */
export const PHB_DEFAULTS: Omit<PhbConfig, "index"> = {
  ddw: true,
  dmaWinAddr: 0n,
  dmaWinSize: 0x40000000n,
  dma64WinAddr: 0x800000000000000n,
  pgsz: 0x1211000n,
};

/** A PHB. */
export class SpaprPhb {
  readonly config: PhbConfig;
  readonly buid: bigint;
  /** LIOBNs of window 0 (the default) and, with DDW, window 1. */
  readonly dmaLiobn: readonly number[];
  /** TCE tables by window number. */
  readonly tables: readonly TceTable[];
  /** `pci@<buid>.iommu-root`: the root of the PHB's DMA address space. */
  readonly iommuRoot: MemoryRegion;
  /** The PHB's DMA address space, `pci@<buid>`, which every device behind it uses. */
  readonly dmaAddressSpace: AddressSpace;
  readonly msi: MemoryRegion;
  /** PCI memory space (`pci@<buid>.mmio`), where BARs are mapped. */
  readonly pciMemory: MemoryRegion;
  /** PCI I/O space (`pci@<buid>.io`). */
  readonly pciIo: MemoryRegion;
  /** Functions on the root bus by devfn. */
  readonly functions = new Map<number, PciConfigTarget>();
  /** The DT bus name, `pci@<buid hex>`. */
  readonly busName: string;

  constructor(
    system: MemorySystem,
    sysmem: MemoryRegion,
    memoryAs: AddressSpace,
    config: PhbConfig,
    placement: PhbPlacement,
    owner: QomObjectRef,
  ) {
    this.config = config;
    this.buid = SPAPR_PCI_BASE_BUID + BigInt(config.index);
    this.busName = `pci@${this.buid.toString(16)}`;
    const windows = config.ddw ? 2 : 1;
    this.dmaLiobn = Array.from({ length: windows }, (_, n) => pciLiobn(config.index, n));
    const name = this.busName;
    const io = (n: string, size: bigint) => system.container(n, size, { owner });

    system.begin();
    this.pciMemory = io(`${name}.mmio`, U64_MAX);
    this.pciIo = io(`${name}.io`, 0x10000n);
    sysmem.addSubregion(
      system.alias(`${name}.mmio32-alias`, this.pciMemory, 0x80000000n, placement.mmio32Size, {
        owner,
      }),
      placement.mmio32,
    );
    if (placement.mmio64) {
      const w = placement.mmio64;
      sysmem.addSubregion(
        system.alias(`${name}.mmio64-alias`, this.pciMemory, w.pciAddr, w.size, { owner }),
        w.addr,
      );
    }
    sysmem.addSubregion(
      system.alias(`${name}.io-alias`, this.pciIo, 0n, 0x10000n, { owner }),
      placement.pio,
    );

    this.iommuRoot = io(`${name}.iommu-root`, U64_MAX);
    this.msi = system.io("msi", 0x1000n, { read: () => 0n, write: () => 0 }, { owner });
    this.iommuRoot.addSubregion(this.msi, SPAPR_PCI_MSI_WINDOW);
    this.tables = this.dmaLiobn.map((liobn) => {
      const tableOwner: QomObjectRef = {
        ...owner,
        value: `${owner.value}/tce-table-${liobn.toString(16)}`,
      };
      const table = new TceTable(system, liobn, memoryAs, tableOwner);
      this.iommuRoot.addSubregion(table.root, 0n);
      return table;
    });
    system.commit();
    this.dmaAddressSpace = system.addressSpace(this.iommuRoot, name);
  }

  /** Number of enabled windows. */
  get activeWindows(): number {
    return this.tables.filter((t) => t.enabled).length;
  }

  /** The table with this LIOBN. */
  tableByLiobn(liobn: number): TceTable | undefined {
    return this.tables.find((t) => t.liobn === liobn);
  }

  /**
   * The table a new window goes to. QEMU walks the PHB's QOM children (window 1's table before
   * window 0's) and keeps the last free one it meets: window 0 if it is free, else window 1.
   * Recorded on QEMU 7.2: with the default window removed, a new window gets LIOBN 0x80000000.
   */
  freeTable(): TceTable | undefined {
    return this.tables.find((t) => !t.enabled);
  }

  /** QEMU's `spapr_phb_dma_reset`: disable every window, re-create the default one. */
  dmaReset(): void {
    for (const t of this.tables) if (t.enabled) t.disable();
    const def = this.tables[0];
    def.enable(
      SPAPR_TCE_PAGE_SHIFT,
      this.config.dmaWinAddr,
      Number(this.config.dmaWinSize >> BigInt(SPAPR_TCE_PAGE_SHIFT)),
    );
    def.defWin = true;
  }

  /** PHB reset: DMA reset, then the tables' own (silent) reset. */
  reset(): void {
    this.dmaReset();
    for (const t of this.tables) t.resetEntries();
  }
}
