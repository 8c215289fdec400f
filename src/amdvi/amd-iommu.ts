/**
 * QEMU 7.2's amd-iommu (AMD-Vi) as far as iova models it: its register window, the PCI function
 * it adds (`AMDVI-PCI`), and each PCI function's address space `amd_iommu_devfn_N` whose root
 * holds the IOMMU region `amd_iommu` and the interrupt window `amd_iommu_ir`. Translation is
 * QEMU's with the IOMMU disabled (identity, 4 KiB pages); the registers and enabling
 * translation are not modelled, and touching them ends the machine with a message saying so.
 * QEMU 7.2 refuses MAP notifiers, so vfio-pci behind it fails with QEMU's message.
 *
 * QEMU 10.0 builds each function's address space differently: its root `amdvi_root` holds an
 * alias `amdvi-sys` of a container shared by all functions (an alias `amdvi-nodma` of system
 * memory, and `amdvi-ir`), enabled while the IOMMU passes DMA through (the default), and the
 * `amd_iommu` region (disabled then) with an alias of `amdvi-ir` inside it. The IOAPIC's address
 * space is made before the shared regions exist, so its two aliases have size 0 and its flat
 * view is empty (`realize` marks the point).
 */
import { IommuRegion } from "../iommu/iommu-region.ts";
import { IommuNotifierError, IommuNotifierFlag } from "../iommu/notifier.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import { U64_MAX } from "../memory/int.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";

/** Which QEMU release the IOMMU follows (machine/qemu-line.ts's QemuLine). */
type QemuLine = "7.2" | "10.0";

/** The register window's guest-physical address and size. */
export const AMDVI_BASE_ADDR = 0xfed80000n;
export const AMDVI_MMIO_SIZE = 0x4000n;
/** The IOAPIC's pseudo requester on the root bus (device 0x14, function 0). */
export const AMDVI_IOAPIC_DEVFN = 0xa0;

const INT_FIRST = 0xfee00000n;
const INT_SIZE = 0x100000n;

/** One function's AMD-Vi address space. */
export interface AmdviAddressSpace {
  readonly devfn: number;
  readonly root: MemoryRegion;
  readonly iommu: IommuRegion;
  readonly as: AddressSpace;
}

/** An amd-iommu. */
export class AmdIommu {
  /** `amdvi-mmio`: the register window. */
  readonly mmio: MemoryRegion;
  readonly spaces = new Map<number, AmdviAddressSpace>();
  readonly #system: MemorySystem;
  readonly #memoryAs: AddressSpace;
  readonly #owner: QomObjectRef;
  /** Which QEMU release this IOMMU follows. */
  readonly qemu: QemuLine;
  /** QEMU 10.0's shared `amdvi-sys` container and its `amdvi-ir` window. */
  readonly #shared: { readonly sys: MemoryRegion; readonly ir: MemoryRegion } | undefined;
  /** Whether the shared regions exist yet (QEMU 10.0 makes them after the IOAPIC's space). */
  #realized = false;

  constructor(
    system: MemorySystem,
    memoryAs: AddressSpace,
    owner: QomObjectRef,
    onAbort: (message: string) => void,
    qemu: QemuLine = "7.2",
  ) {
    this.#system = system;
    this.#memoryAs = memoryAs;
    this.#owner = owner;
    this.qemu = qemu;
    if (qemu !== "7.2") {
      const o = { owner };
      const sys = system.container("amdvi-sys", U64_MAX, o);
      const ir = system.io("amdvi-ir", INT_SIZE, { read: () => 0n, write: () => 0 }, o);
      system.transaction(() => {
        sys.addSubregion(system.alias("amdvi-nodma", memoryAs.root, 0n, U64_MAX, o), 0n);
        sys.addSubregionOverlap(ir, INT_FIRST, 1);
      });
      this.#shared = { sys, ir };
    }
    const refuse = () => {
      onAbort("amd-iommu: its registers are not modelled by iova");
      return 0n;
    };
    this.mmio = system.io(
      "amdvi-mmio",
      AMDVI_MMIO_SIZE,
      { read: refuse, write: () => Number(refuse()) },
      { owner },
    );
  }

  /** The function's DMA root, created on first use (QEMU's `amdvi_host_dma_iommu`). */
  deviceRoot(bus: number, devfn: number): MemoryRegion {
    return this.addressSpaceOf(bus, devfn).root;
  }

  /** QEMU 10.0: the shared regions now exist; address spaces made from here alias them whole. */
  realize(): void {
    this.#realized = true;
  }

  /** The function's address space, created on first use. */
  addressSpaceOf(bus: number, devfn: number): AmdviAddressSpace {
    const key = (bus << 8) | devfn;
    const existing = this.spaces.get(key);
    if (existing) return existing;
    const space = this.#newSpace(bus, devfn);
    this.spaces.set(key, space);
    return space;
  }

  #newSpace(bus: number, devfn: number): AmdviAddressSpace {
    const m = this.#system;
    const o = { owner: this.#owner };
    const where = `${hex2(bus)}.${hex2(devfn >> 3)}.${devfn & 7}`;
    const iommu = new IommuRegion(
      m,
      "amd_iommu",
      U64_MAX,
      {
        // Disabled AMD-Vi: the address as it is, in 4 KiB pages, read and write.
        translate: (addr) => ({
          targetAs: this.#memoryAs,
          iova: addr & ~0xfffn,
          translatedAddr: addr & ~0xfffn,
          addrMask: 0xfffn,
          perm: 3,
        }),
        notifyFlagChanged: (_old, next) =>
          next & IommuNotifierFlag.map
            ? new IommuNotifierError(
                `device ${where} requires iommu notifier which is not currently supported`,
              )
            : undefined,
      },
      o,
    );
    const root = m.container("amdvi_root", U64_MAX, o);
    const as = m.addressSpace(root, `amd_iommu_devfn_${devfn}`);
    const shared = this.#shared;
    if (shared) {
      // Before realize the shared regions have size 0 in QEMU, and so do aliases of them.
      const whole = this.#realized;
      m.transaction(() => {
        // The IOMMU region first: the alias added after it is listed (and rendered) before it.
        root.addSubregion(iommu.region, 0n);
        root.addSubregion(m.alias("amdvi-sys", shared.sys, 0n, whole ? U64_MAX : 0n, o), 0n);
        iommu.region.addSubregionOverlap(
          m.alias("amdvi-ir", shared.ir, 0n, whole ? INT_SIZE : 0n, o),
          INT_FIRST,
          1,
        );
        // Pass-through is on by default: DMA goes to system memory, not through the IOMMU.
        iommu.region.setEnabled(false);
      });
      return { devfn, root, iommu, as };
    }
    m.transaction(() => {
      root.addSubregionOverlap(
        m.io("amd_iommu_ir", INT_SIZE, { read: () => 0n, write: () => 0 }, o),
        INT_FIRST,
        64,
      );
      root.addSubregionOverlap(iommu.region, 0n, 1);
    });
    return { devfn, root, iommu, as };
  }
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}
