/**
 * The VFIO side of a machine: the host that assigned devices come from, their IOMMU groups, the
 * containers (one per DMA address space, shared by groups that can join it), and DMA by an
 * assigned device through the host IOMMU into guest RAM.
 */

import { RepeatFolder } from "../host/fold.ts";
import type { HostEntry } from "../host/host-iommu.ts";
import { IoctlBoundary } from "../host/ioctl.ts";
import { Iommufd, IommufdContainer } from "../host/iommufd.ts";
import type { HostPlatform } from "../host/platform.ts";
import { HostProcess } from "../host/process.ts";
import { SpaprTceContainer } from "../host/spapr-tce.ts";
import { Type1Container } from "../host/type1.ts";
import type { AddressSpace } from "../memory/address-space.ts";
import type { SparseRam } from "../memory/ram.ts";
import type { MemoryRegion } from "../memory/region.ts";
import type { QemuLine } from "../qemu/version.ts";
import { type VfioBehaviour, VfioContainer, type VfioContext, VfioError } from "./container.ts";
import { VFIO_MESSAGES as M } from "./messages.ts";

/** What happened at the VFIO/host boundary: QEMU's log lines and the aborts QEMU would make. */
export interface VfioEvents {
  readonly reports: string[];
  readonly aborts: string[];
}

/** An assigned device's DMA outcome. */
export interface HostDmaResult {
  readonly status: "ok" | "permission-fault";
  readonly faultAddress?: bigint;
  readonly data?: Uint8Array;
}

/** The machine's VFIO host. */
/** The host IOMMU interface QEMU's VFIO uses: a VFIO container type, or the iommufd backend. */
export type VfioBackend = "spapr-tce-v2" | "spapr-tce" | "type1" | "iommufd";

/**
 * The file descriptors QEMU's iommufd messages print: iova's choice (a QEMU that has opened its
 * usual files first); the real numbers depend on the process.
 */
const IOMMUFD_FD = 21;
const FIRST_DEVICE_FD = 22;

export class VfioHost {
  readonly platform: HostPlatform;
  readonly backend: VfioBackend;
  /** Whose VFIO this is: QEMU 7.2's or 10.0's. */
  readonly qemu: QemuLine;
  readonly containers: VfioContainer[] = [];
  readonly #reports = new RepeatFolder();
  /**
   * QEMU's log lines (a block of lines repeated right after itself is kept once, with a line
   * saying how many more times it came) and the aborts QEMU would make.
   */
  readonly events: VfioEvents = { reports: this.#reports.lines, aborts: [] };
  /** Every ioctl of every container, in order. */
  readonly io: IoctlBoundary;
  /** The VMM process: one RLIMIT_MEMLOCK and one set of preregistered memory for all containers. */
  readonly process: HostProcess;
  readonly #ctx: VfioContext;
  readonly #groups = new Map<string, number>();
  readonly #ramHva: Map<MemoryRegion, bigint>;
  /** Observes VFIO trace events. */
  onTrace: ((event: string, fields: Record<string, unknown>) => void) | undefined;
  /** Told now and then while many guest mappings are mirrored (progress on a terminal). */
  onWork: (() => void) | undefined;

  /** The iommufd backend object's /dev/iommu, opened by the first device that uses it. */
  #iommufd: Iommufd | undefined;
  readonly #deviceFds = new Map<string, number>();

  constructor(
    platform: HostPlatform,
    backend: VfioBackend,
    behaviour: VfioBehaviour,
    memory: AddressSpace,
    ramHva: Map<MemoryRegion, bigint>,
    options: { readonly qemu?: QemuLine } = {},
  ) {
    this.platform = platform;
    this.backend = backend;
    this.qemu = options.qemu ?? "7.2";
    this.#ramHva = ramHva;
    this.io = new IoctlBoundary(platform.faults);
    this.process = new HostProcess(platform.pageSize, platform.memlockLimit);
    this.#ctx = {
      platform,
      backend,
      behaviour,
      qemu: this.qemu,
      memory,
      hvaOf: (mr) => ramHva.get(mr),
      report: (m) => this.#reports.push(m),
      abort: (m) => this.events.aborts.push(m),
      trace: (event, fields) => this.onTrace?.(event, fields),
      traced: () => this.onTrace !== undefined,
      work: () => this.onWork?.(),
    };
  }

  /** Starts a new stretch of log: repeats are not folded across it (a new step). */
  breakReports(): void {
    this.#reports.break();
  }

  /** The IOMMU group of a host device (one group per device here). */
  groupOf(host: string): number {
    let g = this.#groups.get(host);
    if (g === undefined) {
      g = this.#groups.size + 1;
      this.#groups.set(host, g);
    }
    return g;
  }

  #userMemory() {
    return [...this.#ramHva].map(([mr, start]) => ({ start, size: mr.size }));
  }

  /**
   * Attaches a device's group (QEMU's `vfio_get_group` + `vfio_connect_container`): join a
   * container of the same address space if one takes it, else set up a new one. Throws
   * `VfioError` with QEMU's message on failure, after rolling back.
   */
  attach(host: string, dmaAs: AddressSpace): VfioContainer {
    const group = this.groupOf(host);
    for (const c of this.containers) {
      if (c.groups.includes(group)) throw new VfioError(`group ${group} is already attached`);
    }
    if (this.backend === "iommufd") return this.#attachIommufd(host, group, dmaAs);
    for (const c of this.containers) {
      if (c.dmaAs === dmaAs && c.join(group)) return c;
    }
    const kernel =
      this.backend === "type1"
        ? new Type1Container(this.platform, this.#userMemory(), this.io, this.process)
        : new SpaprTceContainer(
            this.platform,
            this.backend === "spapr-tce-v2",
            this.#userMemory(),
            this.io,
            this.process,
          );
    const container = new VfioContainer(this.#ctx, dmaAs, kernel);
    try {
      container.connect(group);
    } catch (e) {
      if (e instanceof VfioError)
        throw new VfioError(
          M.devicePrefix.render(host) + M.groupSetupFailed.render(group) + e.message,
        );
      throw e;
    }
    this.containers.push(container);
    return container;
  }

  /**
   * QEMU 10's `iommufd_cdev_attach`: bind the device to the backend's /dev/iommu, try each
   * iommufd container of the address space (attaching to one of its page tables), else allocate
   * an IOAS, attach through a new page table, read the IOVA ranges and listen. Errors carry
   * QEMU's text after "vfio HOST: " (no group in the chain: iommufd has none).
   */
  #attachIommufd(host: string, group: number, dmaAs: AddressSpace): VfioContainer {
    const fail = (message: string) => new VfioError(M.devicePrefix.render(host) + message);
    this.#iommufd ??= new Iommufd(this.platform, this.#userMemory(), {
      io: this.io,
      process: this.process,
    });
    const fd = this.#iommufd;
    let deviceFd = this.#deviceFds.get(host);
    if (deviceFd === undefined) {
      deviceFd = FIRST_DEVICE_FD + this.#deviceFds.size;
      this.#deviceFds.set(host, deviceFd);
    }
    const bound = fd.bindDevice(host);
    if (bound.devId === undefined)
      throw fail(M.bindFailed.render(deviceFd, IOMMUFD_FD, -bound.ret));
    const devId = bound.devId;
    const attachError = (r: { ret: number; failed?: string; id?: number }) =>
      r.failed === "IOMMU_HWPT_ALLOC"
        ? M.allocHwptFailed.render(-r.ret)
        : M.attachFailed.render(IOMMUFD_FD, host, deviceFd, r.id ?? 0, -r.ret);
    for (const c of this.containers) {
      if (c.dmaAs !== dmaAs || c.kernel.backend !== "iommufd") continue;
      if ((c.kernel as IommufdContainer).attachBound(group, devId).ret === 0) {
        c.adopt(group);
        return c;
      }
    }
    const ioas = fd.ioasAlloc();
    if (ioas.ioasId === undefined) {
      fd.unbindDevice(devId);
      throw fail(M.allocIoasFailed.render(-ioas.ret));
    }
    const kernel = new IommufdContainer(fd, ioas.ioasId);
    const attached = kernel.attachBound(group, devId);
    if (attached.ret !== 0) {
      fd.unbindDevice(devId);
      fd.destroy(ioas.ioasId);
      throw fail(attachError(attached));
    }
    const container = new VfioContainer(this.#ctx, dmaAs, kernel);
    try {
      container.connect(group, { attached: true });
    } catch (e) {
      if (e instanceof VfioError) throw fail(e.message);
      throw e;
    }
    this.containers.push(container);
    return container;
  }

  /** Detaches a device's group; a container left without groups is closed. */
  detach(host: string): void {
    const group = this.groupOf(host);
    const c = this.containers.find((x) => x.groups.includes(group));
    if (!c) return;
    c.leave(group);
    if (c.groups.length === 0) this.containers.splice(this.containers.indexOf(c), 1);
  }

  /** The guest physical address a host virtual address maps, if it is guest RAM. */
  gpaOf(hva: bigint): bigint | undefined {
    for (const [mr, base] of this.#ramHva) {
      if (hva >= base && hva < base + mr.size) return hva - base;
    }
    return undefined;
  }

  /** The RAM block and offset a host virtual address falls in. */
  #ramAt(hva: bigint): { block: SparseRam; offset: bigint } | undefined {
    for (const [mr, base] of this.#ramHva) {
      if (hva >= base && hva < base + mr.size && mr.ramBlock) {
        return { block: mr.ramBlock, offset: hva - base };
      }
    }
    return undefined;
  }

  /**
   * DMA by an assigned device: each page goes through the host IOMMU of its container; a missing
   * mapping or permission is a fault (EEH would freeze the device), and nothing after it moves.
   */
  dma(
    container: VfioContainer,
    iova: bigint,
    length: number,
    write: Uint8Array | undefined,
  ): HostDmaResult {
    const data = new Uint8Array(length);
    let pos = 0;
    while (pos < length) {
      const at = iova + BigInt(pos);
      const entry: HostEntry | undefined = container.kernel.lookup(at);
      const allowed = entry && (write ? entry.perm !== "r" : entry.perm !== "w");
      const ram = entry ? this.#ramAt(entry.hva + (at - entry.iova)) : undefined;
      if (!entry || !allowed || ram === undefined)
        return { status: "permission-fault", faultAddress: at };
      const chunk = Math.min(length - pos, Number(entry.iova + entry.pageSize - at));
      // The device reaches the RAM block behind the host page, wherever the guest maps it
      // (arm virt's RAM starts at 1 GiB; q35's above-4G part is a later piece of the block).
      if (write) ram.block.write(ram.offset, write.subarray(pos, pos + chunk));
      else {
        const part = new Uint8Array(chunk);
        ram.block.read(ram.offset, part);
        data.set(part, pos);
      }
      pos += chunk;
    }
    return write ? { status: "ok" } : { status: "ok", data };
  }
}
