/**
 * QEMU 7.2's virtio-iommu device (hw/virtio/virtio-iommu.c): domains of mappings, endpoints
 * attached to them, the requests ATTACH, DETACH, MAP, UNMAP and PROBE with the status codes 7.2
 * returns, reserved regions, bypass (boot-bypass and the config's bypass bit, per domain with
 * ATTACH's bypass flag), and each PCI function's address space whose root holds the IOMMU region
 * and the `system` bypass alias, one of them enabled at a time. The IOMMU region translates with
 * permissions and reports faults; its notifiers hear MAP and UNMAP in aligned power-of-two pieces
 * and get the domain's mappings on replay; VFIO narrows the page-size mask through
 * `setPageSizeMask`, with 7.2's checks and messages.
 *
 * With `qemu: "10.0"` it is QEMU 10.0's device instead: the initial mask from `granule` and the
 * input range from `aw-bits`, reserved regions per function (the host's holes from an assigned
 * device's container under the machine's), the host's page sizes through `setIommuDevice` at
 * vfio-pci's realize (the IOMMU region has no page-size hook), DETACH freeing the endpoint, and
 * 10.0's trace events.
 *
 * Not modelled: the virtqueues themselves (a request arrives as its bytes or its fields), the
 * event queue running out of buffers, migration.
 */
import { IommuRegion } from "../iommu/iommu-region.ts";
import { IommuNotifierError, IommuNotifierFlag } from "../iommu/notifier.ts";
import { atLeast, type QemuLine } from "../machine/qemu-line.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import { U64_MAX } from "../memory/int.ts";
import type { IommuPermission, IommuTlbEntry } from "../memory/iommu-types.ts";
import type { MemorySystem } from "../memory/memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../memory/region.ts";
import {
  REQUEST_SIZE,
  VIOMMU_PROBE_SIZE,
  VIRTIO_IOMMU_ATTACH_F_BYPASS,
  VIRTIO_IOMMU_FAULT_F,
  VIRTIO_IOMMU_FAULT_R,
  VIRTIO_IOMMU_MAP_F,
  VIRTIO_IOMMU_PROBE_T_RESV_MEM,
  VIRTIO_IOMMU_RESV_MEM_T,
  VIRTIO_IOMMU_S,
  VIRTIO_IOMMU_T,
} from "./constants.ts";
import { IntervalTree } from "./interval-tree.ts";
import { type ClosedRange, complementRanges, insertReservedRegion } from "./reserved-regions.ts";

/** A reserved region (`reserved-regions` property: `low:high:type`). */
export interface ReservedRegion {
  readonly low: bigint;
  readonly high: bigint;
  /** 0 reserved (DMA faults), 1 MSI (DMA passes untranslated). */
  readonly type: 0 | 1;
}

/** A mapping of a domain: the closed interval [low, high] onto `phys`. */
export interface VirtioIommuMapping {
  readonly low: bigint;
  readonly high: bigint;
  readonly phys: bigint;
  /** MAP flags: READ 1, WRITE 2, MMIO 4. */
  readonly flags: number;
}

/** A domain: its bypass flag, its mappings in QEMU's GTree shape, endpoints newest first. */
/** A secondary PCI bus as the device sees it: an identity and its current number. */
export interface VirtioIommuBus {
  readonly number: number;
}

export class VirtioIommuDomain {
  readonly tree = new IntervalTree<{ readonly phys: bigint; readonly flags: number }>();
  readonly endpoints: number[] = [];

  constructor(
    readonly id: number,
    readonly bypass: boolean,
  ) {}

  /** The mappings in address order (QEMU's `g_tree_foreach`). */
  get mappings(): VirtioIommuMapping[] {
    return this.tree.entries().map((e) => ({ low: e.low, high: e.high, ...e.value }));
  }
}

/** A fault the device writes to its event queue. */
export interface VirtioIommuFault {
  readonly reason: number;
  readonly flags: number;
  readonly endpoint: number;
  readonly address: bigint;
}

/** What a PROBE returns: the status and the properties' bytes (512, zero-padded). */
export interface ProbeReply {
  readonly status: number;
  readonly properties: Uint8Array;
}

/** One function's virtio-iommu address space (QEMU's `IOMMUDevice`). */
export interface VirtioIommuDevice {
  readonly bus: number;
  readonly devfn: number;
  /** `virtio-iommu-memory-region-N-DEVFN`: the container, the address space's root. */
  readonly root: MemoryRegion;
  /** The IOMMU region, enabled when the function's DMA is translated. */
  readonly iommu: IommuRegion;
  /** The alias `system`, enabled when the function's DMA bypasses the IOMMU. */
  readonly bypassAlias: MemoryRegion;
  readonly as: AddressSpace;
  /**
   * QEMU 10.0: the function's own reserved regions (the host's, then the machine's over them),
   * sorted; 7.2 has one list for the device (`VirtioIommu.reservedRegions`).
   */
  resvRegions: readonly ReservedRegion[];
  /** QEMU 10.0: the host's reserved ranges, set by an assigned device (`set_iommu_device`). */
  hostResvRanges: readonly ClosedRange[] | undefined;
}

/** The `granule` property of QEMU 10.0 (since 9.0): the initial page-size mask. */
export type VirtioIommuGranule = "4k" | "8k" | "16k" | "64k" | "host";

/** What an assigned device's host IOMMU tells the vIOMMU (QEMU 10's `HostIOMMUDevice`). */
export interface HostIommuDeviceInfo {
  /** The device's name (`0000:01:00.0`), prefixed to a refusal. */
  readonly name: string;
  /** The container's usable IOVA ranges; undefined when the kernel reported none. */
  readonly iovaRanges: readonly ClosedRange[] | undefined;
  /** The container's IOMMU page sizes (type1's `iova_pgsizes`). */
  readonly pageSizeMask: bigint;
}

/** Options as on QEMU's command line. */
export interface VirtioIommuOptions {
  /** Whose virtio-iommu: QEMU 7.2 (default) or 10.0. */
  readonly qemu?: QemuLine;
  /** QEMU 10.0's `granule` (default `host`; machine types up to 8.2 have `4k`). */
  readonly granule?: VirtioIommuGranule;
  /** QEMU 10.0's `aw-bits`, the input range's width (32 to 64; q35 39, arm virt 48, else 64). */
  readonly awBits?: number;
  /** The host's page size (`qemu_real_host_page_size`), for granule `host`. */
  readonly hostPageSize?: bigint;
  /** `boot-bypass` (default on): config.bypass at realize and after each system reset. */
  readonly bootBypass?: boolean;
  /** `reserved-regions`; on q35 the machine replaces them with the MSI window. */
  readonly reservedRegions?: readonly ReservedRegion[];
  /** The guest's smallest page: the initial page-size mask is its complement (TARGET_PAGE_MASK). */
  readonly targetPageSize?: bigint;
  /** Whether the guest negotiated VIRTIO_IOMMU_F_BYPASS_CONFIG (Linux 5.17 and later do). */
  readonly bypassConfigNegotiated?: boolean;
  /** Where QEMU would abort (a failed assertion). */
  readonly onAbort?: (message: string) => void;
  /** QEMU's error_report and warn_report lines. */
  readonly onReport?: (message: string) => void;
  /** QEMU's `qemu_log_mask(LOG_GUEST_ERROR, ...)` lines (printed with `-d guest_errors`). */
  readonly onGuestError?: (message: string) => void;
  /** QEMU's `virtio_iommu_*` trace events, with their arguments. */
  readonly onTrace?: (
    event: string,
    fields: Readonly<Record<string, bigint | number | string>>,
  ) => void;
}

/** A bad `reserved-regions` item, with QEMU's message. */
export class VirtioIommuError extends Error {
  override name = "VirtioIommuError";
}

const S = VIRTIO_IOMMU_S;
const hex = (v: bigint) => `0x${v.toString(16)}`;
const ctz64 = (v: bigint): number => {
  if (v === 0n) return 64;
  let n = 0;
  while (((v >> BigInt(n)) & 1n) === 0n) n++;
  return n;
};

/**
 * QEMU's `dma_aligned_pow2_mask(start, end, 64)`: the mask of the largest power-of-two block that
 * starts at `start`, is aligned to its size and ends at or before `end`.
 */
export function alignedPow2Mask(start: bigint, end: bigint): bigint {
  const addrMask = end - start;
  const alignmentMask = start === 0n ? U64_MAX : (start & -start) - 1n;
  if (alignmentMask <= addrMask) return alignmentMask;
  if (addrMask === U64_MAX) return U64_MAX;
  return (1n << BigInt((addrMask + 1n).toString(2).length - 1)) - 1n;
}

/** Parses one `reserved-regions` item (`0xfee00000:0xfeefffff:1`), as QEMU's property does. */
export function parseReservedRegion(text: string): ReservedRegion {
  const parts = text.split(":");
  const num = (s: string | undefined) =>
    s !== undefined && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(s) ? BigInt(s) : undefined;
  const low = num(parts[0]);
  const high = num(parts[1]);
  const type = num(parts[2]);
  if (parts.length !== 3 || low === undefined || high === undefined || type === undefined) {
    throw new VirtioIommuError(
      `Property 'reserved-regions' doesn't take value '${text}' (expected low:high:type)`,
    );
  }
  if (low > U64_MAX || high > U64_MAX) {
    throw new VirtioIommuError(`reserved region ${text}: addresses are 64-bit`);
  }
  if (type !== 0n && type !== 1n) {
    // virtio_iommu_pci_realize's check (the property itself takes any unsigned number).
    throw new VirtioIommuError("reserved region 0 has an invalid type");
  }
  return { low, high, type: Number(type) as 0 | 1 };
}

/** A virtio-iommu. */
export class VirtioIommu {
  /** The device configuration the guest reads. */
  readonly config: {
    pageSizeMask: bigint;
    bypass: boolean;
    readonly inputRange: { readonly start: bigint; readonly end: bigint };
    readonly domainRange: { readonly start: number; readonly end: number };
    readonly probeSize: number;
  };
  readonly bootBypass: boolean;
  readonly reservedRegions: readonly ReservedRegion[];
  /** Domains by id (QEMU's `s->domains`). */
  readonly domains = new Map<number, VirtioIommuDomain>();
  /** Endpoints by id (the requester id, bus << 8 | devfn), with their domain. */
  readonly endpoints = new Map<number, { domain: number | undefined }>();
  /** Every function's address space by requester id, in creation order. */
  readonly devices = new Map<number, VirtioIommuDevice>();
  /** Faults written to the event queue, oldest first. */
  readonly faults: VirtioIommuFault[] = [];
  /** Hears QEMU's `virtio_iommu_*` trace events (settable after construction). */
  onTrace: VirtioIommuOptions["onTrace"];
  /** Set once the machine is ready: the page-size mask can no longer change. */
  machineReady = false;
  /** Whose virtio-iommu this is. */
  readonly qemu: QemuLine;
  /**
   * QEMU 10.0's assigned devices' host IOMMU devices, by the function's own bus (its number for
   * the root bus) and devfn, as QEMU keys them; each with the space its host ranges went to (the
   * requester's, an alias behind a PCIe-to-PCI bridge), undefined when the kernel gave none.
   */
  readonly hostIommuDevices = new Map<
    number | VirtioIommuBus,
    Map<number, { readonly hiod: HostIommuDeviceInfo; readonly ranges?: VirtioIommuDevice }>
  >();
  readonly #system: MemorySystem;
  readonly #memoryAs: AddressSpace;
  readonly #sysmem: MemoryRegion;
  readonly #owner: QomObjectRef;
  readonly #options: VirtioIommuOptions;
  readonly #reportedOnce = new Set<string>();
  #mrIndex = 0;

  constructor(
    system: MemorySystem,
    memoryAs: AddressSpace,
    sysmem: MemoryRegion,
    owner: QomObjectRef,
    options: VirtioIommuOptions = {},
  ) {
    this.#system = system;
    this.#memoryAs = memoryAs;
    this.#sysmem = sysmem;
    this.#owner = owner;
    this.#options = options;
    this.onTrace = options.onTrace;
    this.bootBypass = options.bootBypass ?? true;
    this.reservedRegions = options.reservedRegions ?? [];
    this.qemu = options.qemu ?? "7.2";
    let page = options.targetPageSize ?? 0x1000n;
    let inputEnd = U64_MAX;
    if (atLeast(this.qemu, "10.0")) {
      // virtio_iommu_device_realize (9.0): the granule property, and aw-bits for the input range.
      const awBits = options.awBits ?? 64;
      if (!Number.isInteger(awBits) || awBits < 32 || awBits > 64) {
        throw new VirtioIommuError("aw-bits must be within [32,64]");
      }
      inputEnd = awBits === 64 ? U64_MAX : (1n << BigInt(awBits)) - 1n;
      const granule = options.granule ?? "host";
      page =
        granule === "host"
          ? (options.hostPageSize ?? 0x1000n)
          : BigInt(Number.parseInt(granule, 10)) * 1024n;
    }
    this.config = {
      pageSizeMask: U64_MAX & ~(page - 1n),
      bypass: this.bootBypass,
      inputRange: { start: 0n, end: inputEnd },
      domainRange: { start: 0, end: 0xffffffff },
      probeSize: VIOMMU_PROBE_SIZE,
    };
  }

  /** The page granule the guest must use: the lowest bit of the page-size mask. */
  get granule(): bigint {
    return 1n << BigInt(ctz64(this.config.pageSizeMask));
  }

  /** Spaces of functions on secondary buses, by bus object and devfn. */
  readonly #byBus = new Map<VirtioIommuBus, Map<number, VirtioIommuDevice>>();
  /** Spaces of functions named by bus number (the root bus), by endpoint id. */
  readonly #byNumber = new Map<number, VirtioIommuDevice>();

  // --- address spaces ---------------------------------------------------------------------

  /** The function's DMA root (QEMU's `virtio_iommu_find_add_as`), created on first use. */
  deviceRoot(bus: number | VirtioIommuBus, devfn: number): MemoryRegion {
    return this.addressSpaceOf(bus, devfn).root;
  }

  /**
   * The function's address space, created on first use with the next region index: a container
   * holding the IOMMU region and, over it (same priority, added later), the alias of system
   * memory; one of the two is enabled.
   */
  addressSpaceOf(busOrNumber: number | VirtioIommuBus, devfn: number): VirtioIommuDevice {
    // QEMU keys the spaces by bus object (`as_by_busptr`); the root bus is named by its number 0.
    // A secondary bus's number is firmware's, 0 until then, so its endpoint id may repeat one
    // already taken: lookups by endpoint id find the first, as QEMU's do.
    const busObject = typeof busOrNumber === "number" ? undefined : busOrNumber;
    const bus = typeof busOrNumber === "number" ? busOrNumber : busOrNumber.number;
    const sid = (bus << 8) | devfn;
    const existing = busObject ? this.#byBus.get(busObject)?.get(devfn) : this.#byNumber.get(sid);
    if (existing) return existing;
    const m = this.#system;
    const o = { owner: this.#owner };
    const name = `virtio-iommu-memory-region-${this.#mrIndex++}-${devfn}`;
    this.#trace("virtio_iommu_init_iommu_mr", { name });
    // 10.0 (add_prop_resv_regions): each function starts with the machine's regions.
    const resvRegions = this.reservedRegions.reduce<ReservedRegion[]>(insertReservedRegion, []);
    const root = m.container(name, U64_MAX, o);
    const as = m.addressSpace(root, "virtio-iommu-device");
    const bypassAlias = m.alias("system", this.#sysmem, 0n, this.#sysmem.size, o);
    const iommu = new IommuRegion(
      m,
      name,
      U64_MAX,
      {
        translate: (addr, flag) => this.#translate(sid, name, addr, flag, device),
        notifyFlagChanged: (old, next) => {
          if (next & IommuNotifierFlag.devIotlbUnmap) {
            return new IommuNotifierError("Virtio-iommu does not support dev-iotlb yet");
          }
          if (old === 0) this.#trace("virtio_iommu_notify_flag_add", { name });
          else if (next === 0) this.#trace("virtio_iommu_notify_flag_del", { name });
          return undefined;
        },
        replay: () => {
          const domain = this.#domainOfEndpoint(sid);
          if (!domain) return;
          for (const mp of domain.mappings) {
            this.#trace("virtio_iommu_remap", {
              name,
              virt_start: mp.low,
              virt_end: mp.high,
              phys_start: mp.phys,
            });
            // 7.2 notifies every notifier of the region, not only the one replayed to.
            this.#notifyMap(device, mp, (e) => device.iommu.notify(0, mapEvent(e)));
          }
        },
        // 10.0 has no such hook (9.1 removed it): the mask comes from set_iommu_device.
        ...(atLeast(this.qemu, "10.0")
          ? {}
          : { setPageSizeMask: (mask: bigint) => this.setPageSizeMask(name, mask) }),
        // What MAP notifications told a notifier of the domain's mappings, with no side effect.
        mappings: (visit) => {
          const domain = this.#domainOfEndpoint(sid);
          if (!domain || domain.bypass) return;
          for (const mp of domain.mappings) {
            const perm = mapPerm(mp.flags);
            if (mp.flags & VIRTIO_IOMMU_MAP_F.MMIO || perm === 0) continue;
            this.#pieces(mp.low, mp.high, mp.phys, perm, visit);
          }
        },
      },
      o,
    );
    const device: VirtioIommuDevice = {
      bus,
      devfn,
      root,
      iommu,
      bypassAlias,
      as,
      resvRegions,
      hostResvRanges: undefined,
    };
    m.transaction(() => {
      root.addSubregionOverlap(iommu.region, 0n, 0);
      root.addSubregionOverlap(bypassAlias, 0n, 0);
    });
    if (busObject) {
      const onBus = this.#byBus.get(busObject) ?? new Map<number, VirtioIommuDevice>();
      this.#byBus.set(busObject, onBus);
      onBus.set(devfn, device);
      if (!this.devices.has(sid)) this.devices.set(sid, device);
    } else {
      this.#byNumber.set(sid, device);
      this.devices.set(sid, device);
    }
    this.#switchAddressSpace(device);
    return device;
  }

  /** Whether the function's DMA bypasses translation (`virtio_iommu_device_bypassed`). */
  bypassed(sid: number): boolean {
    const domain = this.#domainOfEndpoint(sid);
    return domain ? domain.bypass : this.config.bypass;
  }

  /** Enables the IOMMU region or the bypass alias (`virtio_iommu_switch_address_space`). */
  #switchAddressSpace(d: VirtioIommuDevice): void {
    const remap = !this.bypassed((d.bus << 8) | d.devfn);
    this.#trace("virtio_iommu_switch_address_space", {
      bus: d.bus,
      slot: d.devfn >> 3,
      fn: d.devfn & 7,
      on: remap ? 1 : 0,
    });
    // Off first, then on: the listeners see a removal before the addition.
    this.#system.transaction(() => {
      if (remap) {
        d.bypassAlias.setEnabled(false);
        d.iommu.region.setEnabled(true);
      } else {
        d.iommu.region.setEnabled(false);
        d.bypassAlias.setEnabled(true);
      }
    });
  }

  #switchAll(): void {
    this.#system.transaction(() => {
      for (const d of this.devices.values()) this.#switchAddressSpace(d);
    });
  }

  // --- requests ---------------------------------------------------------------------------

  /** ATTACH (`virtio_iommu_attach`). */
  attach(domainId: number, endpointId: number, flags = 0): number {
    this.#trace("virtio_iommu_attach", { domain: domainId, endpoint: endpointId });
    if (flags & ~VIRTIO_IOMMU_ATTACH_F_BYPASS) return S.INVAL;
    const ep = this.#getEndpoint(endpointId);
    if (!ep) return S.NOENT;
    if (ep.domain !== undefined) {
      const previous = this.domains.get(ep.domain)!;
      this.#detachEndpoint(endpointId);
      if (previous.endpoints.length === 0) this.#putDomain(previous.id);
    }
    const bypass = (flags & VIRTIO_IOMMU_ATTACH_F_BYPASS) !== 0;
    let domain = this.domains.get(domainId);
    if (domain && domain.bypass !== bypass) {
      // 7.2 has already detached the endpoint from its previous domain: it stays detached.
      return S.INVAL;
    }
    if (!domain) {
      domain = new VirtioIommuDomain(domainId, bypass);
      this.domains.set(domainId, domain);
      this.#trace("virtio_iommu_get_domain", { domain: domainId });
    }
    domain.endpoints.unshift(endpointId);
    ep.domain = domainId;
    const device = this.#deviceOf(endpointId)!;
    this.#switchAddressSpace(device);
    for (const mp of domain.mappings) {
      this.#notifyMap(device, mp, (e) => device.iommu.notify(0, mapEvent(e)));
    }
    return S.OK;
  }

  /** DETACH (`virtio_iommu_detach`). */
  detach(domainId: number, endpointId: number): number {
    this.#trace("virtio_iommu_detach", { domain: domainId, endpoint: endpointId });
    const ep = this.endpoints.get(endpointId);
    if (!ep) return S.NOENT;
    if (ep.domain === undefined || ep.domain !== domainId) return S.INVAL;
    const domain = this.domains.get(domainId)!;
    this.#detachEndpoint(endpointId);
    if (domain.endpoints.length === 0) this.#putDomain(domainId);
    if (atLeast(this.qemu, "10.0")) {
      // 9.1, "virtio-iommu: Remove the end point on detach": the endpoint goes too, so the
      // function's DMA is then from an unknown endpoint, not one in no domain.
      this.endpoints.delete(endpointId);
      this.#trace("virtio_iommu_put_endpoint", { endpoint: endpointId });
    }
    return S.OK;
  }

  /** MAP (`virtio_iommu_map`): no check of alignment, order or the input range, as in 7.2. */
  map(
    domainId: number,
    virtStart: bigint,
    virtEnd: bigint,
    physStart: bigint,
    flags: number,
  ): number {
    if (flags & ~VIRTIO_IOMMU_MAP_F.MASK) return S.INVAL;
    const domain = this.domains.get(domainId);
    if (!domain) return S.NOENT;
    if (domain.bypass) return S.INVAL;
    if (domain.tree.lookup(virtStart, virtEnd)) return S.INVAL;
    this.#trace("virtio_iommu_map", {
      domain: domainId,
      virt_start: virtStart,
      virt_end: virtEnd,
      phys_start: physStart,
      flags,
    });
    const mapping: VirtioIommuMapping = { low: virtStart, high: virtEnd, phys: physStart, flags };
    domain.tree.insert(virtStart, virtEnd, { phys: physStart, flags });
    for (const epId of domain.endpoints) {
      const device = this.#deviceOf(epId)!;
      this.#notifyMap(device, mapping, (e) => device.iommu.notify(0, mapEvent(e)));
    }
    return S.OK;
  }

  /**
   * UNMAP (`virtio_iommu_unmap`): removes every mapping inside [virtStart, virtEnd]; a mapping
   * that straddles an end stops the request with RANGE, keeping what was removed before it.
   * Overlapping mappings are taken in the GTree's search order, as QEMU takes them.
   */
  unmap(domainId: number, virtStart: bigint, virtEnd: bigint): number {
    this.#trace("virtio_iommu_unmap", {
      domain: domainId,
      virt_start: virtStart,
      virt_end: virtEnd,
    });
    const domain = this.domains.get(domainId);
    if (!domain) return S.NOENT;
    if (domain.bypass) return S.INVAL;
    for (;;) {
      const found = domain.tree.lookup(virtStart, virtEnd);
      if (!found) return S.OK;
      const mp = { low: found.low, high: found.high };
      if (!(virtStart <= mp.low && virtEnd >= mp.high)) return S.RANGE;
      for (const epId of domain.endpoints)
        this.#notifyUnmap(this.#deviceOf(epId)!, mp.low, mp.high);
      domain.tree.remove(mp.low, mp.high);
      this.#trace("virtio_iommu_unmap_done", {
        domain: domainId,
        virt_start: mp.low,
        virt_end: mp.high,
      });
    }
  }

  /**
   * PROBE (`virtio_iommu_probe`): one RESV_MEM property per reserved region: the device's in 7.2,
   * the function's own in 10.0 (the host's holes when an assigned device is behind it).
   */
  probe(endpointId: number): ProbeReply {
    const properties = new Uint8Array(this.config.probeSize);
    const device = this.#deviceOf(endpointId);
    if (!device) return { status: S.NOENT, properties };
    const regions = this.#regionsOf(device);
    const size = 4 + 4 + 8 + 8;
    if (size * regions.length > VIOMMU_PROBE_SIZE) return { status: S.INVAL, properties };
    const view = new DataView(properties.buffer);
    regions.forEach((r, i) => {
      const at = i * size;
      view.setUint16(at, VIRTIO_IOMMU_PROBE_T_RESV_MEM, true);
      view.setUint16(at + 2, size - 4, true);
      view.setUint8(at + 4, r.type);
      view.setBigUint64(at + 8, r.low, true);
      view.setBigUint64(at + 16, r.high, true);
      this.#trace("virtio_iommu_fill_resv_property", {
        endpoint: endpointId,
        subtype: r.type,
        start: r.low,
        end: r.high,
      });
    });
    return { status: S.OK, properties };
  }

  /**
   * A request as the driver puts it on the request queue (`virtio_iommu_handle_command`): the
   * bytes the device reads and how many bytes the driver left for the reply. Returns the reply's
   * bytes (the tail, or for PROBE the properties then the tail), or undefined where QEMU marks the
   * device broken ("virtio-iommu bad head/tail size").
   */
  request(out: Uint8Array, inSize: number): Uint8Array | undefined {
    if (inSize < 4 || out.length < 4) {
      this.#options.onReport?.("virtio-iommu bad head/tail size");
      return undefined;
    }
    const type = out[0];
    const tail = (status: number) => Uint8Array.of(status, 0, 0, 0);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const need = REQUEST_SIZE[type as keyof typeof REQUEST_SIZE];
    if (need === undefined) return tail(S.UNSUPP);
    if (out.length < need) {
      if (type !== VIRTIO_IOMMU_T.probe) return tail(S.INVAL);
      const reply = new Uint8Array(this.config.probeSize + 4);
      reply[this.config.probeSize] = S.INVAL;
      return reply;
    }
    const u32 = (at: number) => view.getUint32(at, true);
    const u64 = (at: number) => view.getBigUint64(at, true);
    switch (type) {
      case VIRTIO_IOMMU_T.attach:
        return tail(this.attach(u32(4), u32(8), u32(12)));
      case VIRTIO_IOMMU_T.detach:
        return tail(this.detach(u32(4), u32(8)));
      case VIRTIO_IOMMU_T.map:
        return tail(this.map(u32(4), u64(8), u64(16), u64(24), u32(32)));
      case VIRTIO_IOMMU_T.unmap:
        return tail(this.unmap(u32(4), u64(8), u64(16)));
      default: {
        const r = this.probe(u32(4));
        const reply = new Uint8Array(this.config.probeSize + 4);
        reply.set(r.properties);
        reply[this.config.probeSize] = r.status;
        if (inSize < reply.length) {
          // A reply buffer too small for PROBE's 516 bytes: 7.2 fails its assertion on the bytes
          // written; 10.0 (9.1, "virtio-iommu: add error check before assert") logs a guest
          // error and answers DEVERR in the tail alone.
          if (!atLeast(this.qemu, "10.0")) {
            this.#options.onAbort?.(
              "virtio_iommu_handle_command: Assertion `sz == output_size' failed.",
            );
            return undefined;
          }
          this.#options.onGuestError?.(
            `virtio_iommu_handle_command: wrote ${inSize} bytes to command responsebut response size is ${reply.length}`,
          );
          return tail(S.DEVERR);
        }
        return reply;
      }
    }
  }

  // --- configuration, resets, page sizes ---------------------------------------------------

  /**
   * The guest writes config.bypass (`virtio_iommu_set_config`): refused without the
   * BYPASS_CONFIG feature or for a value other than 0 and 1 (QEMU marks the device broken).
   */
  setConfigBypass(value: number): string | undefined {
    if (value !== (this.config.bypass ? 1 : 0)) {
      if (!(this.#options.bypassConfigNegotiated ?? true)) return "cannot set config.bypass";
      if (value !== 0 && value !== 1) return `invalid config.bypass value '${value}'`;
      this.config.bypass = value === 1;
      this.#switchAll();
    }
    this.#trace("virtio_iommu_set_config", { bypass: value });
    return undefined;
  }

  /** Device reset (`virtio_iommu_device_reset`): every domain and endpoint goes, with UNMAPs. */
  deviceReset(): void {
    // 10.0 resets in the Resettable exit phase, and names its trace event after it.
    this.#trace(
      atLeast(this.qemu, "10.0") ? "virtio_iommu_device_reset_exit" : "virtio_iommu_device_reset",
      {},
    );
    for (const id of [...this.domains.keys()].sort((a, b) => a - b)) this.#putDomain(id);
    for (const id of [...this.endpoints.keys()].sort((a, b) => a - b)) {
      this.endpoints.delete(id);
      this.#trace("virtio_iommu_put_endpoint", { endpoint: id });
    }
  }

  /**
   * The transport's virtio reset, as when the guest's driver writes 0 to device_status
   * (`virtio_reset`): 7.2's device reset hook frees every domain and endpoint; 10.0 resets them
   * only in a system reset's exit phase (10.0, "hw/virtio/virtio-iommu: Migrate to 3-phase
   * reset"), so a driver that resets the device finds its domains, mappings and attached
   * endpoints still there.
   */
  virtioReset(): void {
    if (!atLeast(this.qemu, "10.0")) this.deviceReset();
  }

  /** System reset (`virtio_iommu_system_reset`): config.bypass back to boot-bypass. */
  systemReset(): void {
    this.#trace("virtio_iommu_system_reset", {});
    this.config.bypass = this.bootBypass;
    this.#switchAll();
  }

  /**
   * VFIO's host page sizes (`virtio_iommu_set_page_size_mask`): refused when no page size is
   * common; once the machine is ready the mask is frozen and only the same granule is accepted
   * (a different mask with it only warns); before, the mask narrows. Returns QEMU's error text.
   */
  setPageSizeMask(regionName: string, newMask: bigint): string | undefined {
    const cur = this.config.pageSizeMask;
    this.#trace("virtio_iommu_set_page_size_mask", { name: regionName, old: cur, new: newMask });
    const incompatible = `virtio-iommu page mask ${hex(cur)} is incompatible with mask ${hex(newMask)}`;
    if ((cur & newMask) === 0n) return incompatible;
    if (this.machineReady) {
      if (ctz64(newMask) !== ctz64(cur)) return incompatible;
      if (newMask !== cur) {
        this.#options.onReport?.(
          `warning: virtio-iommu page mask ${hex(cur)} does not match ${hex(newMask)}`,
        );
      }
      return undefined;
    }
    this.config.pageSizeMask = cur & newMask;
    return undefined;
  }

  /**
   * Machine-done: the page-size mask is frozen from now on. 10.0 (`virtio_iommu_freeze_granule`)
   * traces the granule it keeps.
   */
  machineDone(): void {
    this.machineReady = true;
    if (atLeast(this.qemu, "10.0")) {
      this.#trace("virtio_iommu_freeze_granule", { granule: this.granule });
    }
  }

  /**
   * QEMU 10.0's `virtio_iommu_set_iommu_device` (9.1), called by vfio-pci's realize once its
   * container is set up: the host's reserved ranges (the gaps between the container's usable
   * IOVA ranges) become RESERVED regions of the function, under the machine's; then the host's
   * page sizes narrow the mask, before machine-done only; after, the frozen granule must be one
   * of the host's sizes. Returns QEMU's error text, or undefined. Reserved ranges already set stay
   * set when the page sizes are then refused, as in QEMU.
   */
  setIommuDevice(
    own: { readonly bus: number | VirtioIommuBus; readonly devfn: number },
    requester: { readonly bus: number | VirtioIommuBus; readonly devfn: number },
    hiod: HostIommuDeviceInfo,
  ): string | undefined {
    if (this.hostIommuDevices.get(own.bus)?.has(own.devfn)) {
      return "Host IOMMU device already exists";
    }
    // A kernel without the IOVA-range capability: QEMU accepts the device and asks no page sizes.
    if (hiod.iovaRanges === undefined) return undefined;
    // The host ranges go to the requester's space (by bus object, as QEMU's `as_by_busptr`):
    // every function behind one PCIe-to-PCI bridge shares it, so a second assigned one is refused.
    const device =
      typeof requester.bus === "number"
        ? this.#byNumber.get((requester.bus << 8) | requester.devfn)
        : this.#byBus.get(requester.bus)?.get(requester.devfn);
    if (!device) return "virtio_iommu_set_host_iova_ranges: no IOMMUDevice found!";
    if (device.hostResvRanges !== undefined) {
      return "virtio_iommu_set_host_iova_ranges virtio-iommu does not support aliased BDF";
    }
    device.hostResvRanges = complementRanges(hiod.iovaRanges);
    // rebuild_resv_regions: the host's first, traced one by one, then the machine's over them.
    let regions: ReservedRegion[] = [];
    device.hostResvRanges.forEach((r, i) => {
      regions = insertReservedRegion(regions, {
        low: r.start,
        high: r.last,
        type: VIRTIO_IOMMU_RESV_MEM_T.RESERVED,
      });
      this.#trace("virtio_iommu_host_resv_regions", {
        name: device.iommu.region.name,
        index: i,
        start: r.start,
        end: r.last,
      });
    });
    device.resvRegions = this.reservedRegions.reduce(insertReservedRegion, regions);
    const cur = this.config.pageSizeMask;
    const newMask = hiod.pageSizeMask;
    if ((cur & newMask) === 0n) {
      return `${hiod.name}: virtio-iommu reports a page size mask ${hex(newMask)} incompatible with currently supported mask ${hex(cur)}`;
    }
    if (this.machineReady && ((1n << BigInt(ctz64(cur))) & newMask) === 0n) {
      return `${hiod.name}: virtio-iommu does not support frozen granule ${hex(1n << BigInt(ctz64(cur)))}`;
    }
    this.#trace("virtio_iommu_update_page_size_mask", { name: hiod.name, old: cur, new: newMask });
    if (!this.machineReady) this.config.pageSizeMask = cur & newMask;
    const onBus = this.hostIommuDevices.get(own.bus) ?? new Map();
    this.hostIommuDevices.set(own.bus, onBus);
    onBus.set(own.devfn, { hiod, ranges: device });
    return undefined;
  }

  /**
   * QEMU 10.0's `virtio_iommu_unset_iommu_device` (vfio-pci's unrealize): the function keeps only
   * the machine's reserved regions again, and a device plugged there later starts afresh. The
   * page-size mask stays as it is.
   */
  unsetIommuDevice(own: { readonly bus: number | VirtioIommuBus; readonly devfn: number }): void {
    const onBus = this.hostIommuDevices.get(own.bus);
    const entry = onBus?.get(own.devfn);
    if (!onBus || !entry) return;
    const device = entry.ranges;
    if (device) {
      device.hostResvRanges = undefined;
      device.resvRegions = this.reservedRegions.reduce<ReservedRegion[]>(insertReservedRegion, []);
    }
    onBus.delete(own.devfn);
    if (onBus.size === 0) this.hostIommuDevices.delete(own.bus);
  }

  // --- translation ------------------------------------------------------------------------

  /** `virtio_iommu_translate`: reserved regions, bypass, then the domain's mappings. */
  #translate(
    sid: number,
    name: string,
    addr: bigint,
    flag: IommuPermission,
    device: VirtioIommuDevice,
  ): IommuTlbEntry {
    const entry = {
      targetAs: this.#memoryAs,
      iova: addr,
      translatedAddr: addr,
      // 7.2 takes the granule from the mask's low 32 bits (ctz32); 10.0 from all 64 (ctz64).
      addrMask: atLeast(this.qemu, "10.0")
        ? (1n << BigInt(ctz64(this.config.pageSizeMask))) - 1n
        : (1n << BigInt(Math.min(ctz64(this.config.pageSizeMask & 0xffffffffn), 32))) - 1n,
      perm: 0 as IommuPermission,
    };
    const bypassAllowed = this.config.bypass;
    this.#trace("virtio_iommu_translate", { name, rid: sid, addr, flag });
    const ep = this.endpoints.get(sid);
    const domain = ep?.domain !== undefined ? this.domains.get(ep.domain) : undefined;
    if (bypassAllowed && !(domain && !domain.bypass)) {
      // The region is only enabled for such a function when this holds; QEMU asserts it.
      this.#options.onAbort?.(
        "virtio_iommu_translate: Assertion `ep && ep->domain && !ep->domain->bypass' failed.",
      );
    }
    if (!ep) {
      if (!bypassAllowed) {
        this.#reportOnce(`virtio_iommu_translate sid=${sid} is not known!!`);
        this.#fault(VIRTIO_IOMMU_FAULT_R.UNKNOWN, VIRTIO_IOMMU_FAULT_F.ADDRESS, sid, addr);
      } else entry.perm = flag;
      return entry;
    }
    for (const r of this.#regionsOf(device)) {
      if (addr >= r.low && addr <= r.high) {
        if (r.type === VIRTIO_IOMMU_RESV_MEM_T.MSI) entry.perm = flag;
        else this.#fault(VIRTIO_IOMMU_FAULT_R.MAPPING, VIRTIO_IOMMU_FAULT_F.ADDRESS, sid, addr);
        return entry;
      }
    }
    if (!domain) {
      if (!bypassAllowed) {
        const b = (sid >> 8).toString(16).padStart(2, "0");
        const s = ((sid >> 3) & 0x1f).toString(16).padStart(2, "0");
        this.#reportOnce(`virtio_iommu_translate ${b}:${s}.${sid & 7} not attached to any domain`);
        this.#fault(VIRTIO_IOMMU_FAULT_R.DOMAIN, VIRTIO_IOMMU_FAULT_F.ADDRESS, sid, addr);
      } else entry.perm = flag;
      return entry;
    }
    if (domain.bypass) {
      entry.perm = flag;
      return entry;
    }
    // 7.2 looks up the interval [addr, addr + 1] (wrapping at 2^64): a mapping holding either
    // byte, the first on the tree's search path.
    const found = domain.tree.lookup(addr, BigInt.asUintN(64, addr + 1n));
    if (!found) {
      this.#reportOnce(`virtio_iommu_translate no mapping for ${hex(addr)} for sid=${sid}`);
      this.#fault(VIRTIO_IOMMU_FAULT_R.MAPPING, VIRTIO_IOMMU_FAULT_F.ADDRESS, sid, addr);
      return entry;
    }
    const mp = { low: found.low, ...found.value };
    let flags = 0;
    if (flag & 1 && !(mp.flags & VIRTIO_IOMMU_MAP_F.READ)) flags |= VIRTIO_IOMMU_FAULT_F.READ;
    if (flag & 2 && !(mp.flags & VIRTIO_IOMMU_MAP_F.WRITE)) flags |= VIRTIO_IOMMU_FAULT_F.WRITE;
    if (flags) {
      this.#reportOnce(
        `virtio_iommu_translate permission error on ${hex(addr)}(${flag}): allowed=${mp.flags}`,
      );
      this.#fault(VIRTIO_IOMMU_FAULT_R.MAPPING, flags | VIRTIO_IOMMU_FAULT_F.ADDRESS, sid, addr);
      return entry;
    }
    entry.translatedAddr = BigInt.asUintN(64, addr - mp.low + mp.phys);
    entry.perm = flag;
    this.#trace("virtio_iommu_translate_out", { virt: addr, phys: entry.translatedAddr, sid });
    return entry;
  }

  #fault(reason: number, flags: number, endpoint: number, address: bigint): void {
    this.faults.push({ reason, flags, endpoint, address });
    this.#trace("virtio_iommu_report_fault", { reason, flags, endpoint, address });
  }

  #reportOnce(message: string): void {
    if (this.#reportedOnce.has(message)) return;
    this.#reportedOnce.add(message);
    this.#options.onReport?.(message);
  }

  // --- notifications ----------------------------------------------------------------------

  /**
   * `virtio_iommu_notify_map`: nothing unless a notifier asked for MAP, nor for an MMIO mapping
   * or one without permission; else the range in aligned power-of-two pieces.
   */
  #notifyMap(
    d: VirtioIommuDevice,
    mp: VirtioIommuMapping,
    send: (entry: IommuTlbEntry) => void,
    flags = d.iommu.notifierFlags,
  ): void {
    const perm = mapPerm(mp.flags);
    if (!(flags & IommuNotifierFlag.map) || mp.flags & VIRTIO_IOMMU_MAP_F.MMIO || perm === 0)
      return;
    this.#trace("virtio_iommu_notify_map", {
      name: d.iommu.region.name,
      virt_start: mp.low,
      virt_end: mp.high,
      phys_start: mp.phys,
      flags: perm,
    });
    this.#pieces(mp.low, mp.high, mp.phys, perm, send);
  }

  #notifyUnmap(d: VirtioIommuDevice, low: bigint, high: bigint): void {
    if (!(d.iommu.notifierFlags & IommuNotifierFlag.unmap)) return;
    this.#trace("virtio_iommu_notify_unmap", {
      name: d.iommu.region.name,
      virt_start: low,
      virt_end: high,
    });
    this.#pieces(low, high, 0n, 0, (entry) =>
      d.iommu.notify(0, { type: IommuNotifierFlag.unmap, entry }),
    );
  }

  /** `virtio_iommu_notify_map_unmap`: one event for the whole space, else aligned pieces. */
  #pieces(
    start: bigint,
    end: bigint,
    phys: bigint,
    perm: IommuPermission,
    send: (entry: IommuTlbEntry) => void,
  ): void {
    const targetAs = this.#memoryAs;
    if (end - start === U64_MAX) {
      send({ targetAs, iova: start, translatedAddr: phys, addrMask: U64_MAX, perm });
      return;
    }
    // A range whose end precedes its start (MAP does not check) would wrap around the space.
    const stop = BigInt.asUintN(64, end + 1n);
    let at = start;
    let translated = phys;
    let guard = 0;
    while (at !== stop && guard++ < 128) {
      const last = at <= end ? end : U64_MAX;
      const mask = alignedPow2Mask(at, last);
      send({ targetAs, iova: at, translatedAddr: translated, addrMask: mask, perm });
      at = BigInt.asUintN(64, at + mask + 1n);
      if (perm !== 0) translated = BigInt.asUintN(64, translated + mask + 1n);
    }
  }

  // --- endpoints and domains --------------------------------------------------------------

  #deviceOf(sid: number): VirtioIommuDevice | undefined {
    return this.devices.get(sid);
  }

  /** The reserved regions that apply to a function: 7.2 the device's, 10.0 the function's. */
  #regionsOf(device: VirtioIommuDevice): readonly ReservedRegion[] {
    return atLeast(this.qemu, "10.0") ? device.resvRegions : this.reservedRegions;
  }

  #domainOfEndpoint(sid: number): VirtioIommuDomain | undefined {
    const ep = this.endpoints.get(sid);
    return ep?.domain !== undefined ? this.domains.get(ep.domain) : undefined;
  }

  /** `virtio_iommu_get_endpoint`: only a function that has an address space can be one. */
  #getEndpoint(id: number): { domain: number | undefined } | undefined {
    const existing = this.endpoints.get(id);
    if (existing) return existing;
    if (!this.#deviceOf(id)) return undefined;
    const ep = { domain: undefined };
    this.endpoints.set(id, ep);
    this.#trace("virtio_iommu_get_endpoint", { endpoint: id });
    return ep;
  }

  /** `virtio_iommu_detach_endpoint_from_domain`: UNMAP of every mapping, then the switch. */
  #detachEndpoint(id: number): void {
    const ep = this.endpoints.get(id)!;
    const domain = this.domains.get(ep.domain!)!;
    const device = this.#deviceOf(id)!;
    if (atLeast(this.qemu, "10.0")) {
      this.#trace("virtio_iommu_detach_endpoint_from_domain", { domain: domain.id, endpoint: id });
    }
    for (const mp of domain.mappings) this.#notifyUnmap(device, mp.low, mp.high);
    domain.endpoints.splice(domain.endpoints.indexOf(id), 1);
    ep.domain = undefined;
    this.#switchAddressSpace(device);
  }

  /** `virtio_iommu_put_domain`: its endpoints detached, its mappings dropped. */
  #putDomain(id: number): void {
    const domain = this.domains.get(id);
    if (!domain) return;
    for (const ep of [...domain.endpoints]) this.#detachEndpoint(ep);
    this.domains.delete(id);
    this.#trace("virtio_iommu_put_domain", { domain: id });
  }

  #trace(event: string, fields: Readonly<Record<string, bigint | number | string>>): void {
    this.onTrace?.(event, fields);
  }
}

/** MAP flags as an IOMMU permission (QEMU's `IOMMU_ACCESS_FLAG`). */
const mapPerm = (flags: number) =>
  ((flags & VIRTIO_IOMMU_MAP_F.READ ? 1 : 0) |
    (flags & VIRTIO_IOMMU_MAP_F.WRITE ? 2 : 0)) as IommuPermission;

const mapEvent = (entry: IommuTlbEntry) => ({ type: IommuNotifierFlag.map, entry }) as const;
