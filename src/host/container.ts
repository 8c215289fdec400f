/**
 * What every host IOMMU container shares, whatever its backend: the recorded ioctl boundary, the
 * IOMMU groups attached to it (the first one also selects the backend), and the pages it has
 * charged to its process's RLIMIT_MEMLOCK (the process's locked_vm, shared by all its containers).
 */
import { Errno } from "./errno.ts";
import { IoctlBoundary } from "./ioctl.ts";
import type { HostPlatform } from "./platform.ts";
import { HostProcess } from "./process.ts";

export abstract class HostContainer {
  abstract readonly backend: "spapr-tce-v2" | "spapr-tce" | "type1";
  readonly io: IoctlBoundary;
  readonly platform: HostPlatform;
  /** The VMM process the container belongs to: whose locked_vm it charges. */
  readonly process: HostProcess;
  readonly #groups: number[] = [];
  #charged = 0n;

  constructor(platform: HostPlatform, io?: IoctlBoundary, process?: HostProcess) {
    this.platform = platform;
    this.io = io ?? new IoctlBoundary(platform.faults);
    this.process = process ?? new HostProcess(platform.pageSize, platform.memlockLimit);
  }

  /**
   * This container's share of the process's locked pages: what it charged itself (tables,
   * windows, pinned mappings) and the preregistered memory it was first to hold.
   */
  get lockedPages(): bigint {
    return this.#charged + this.process.preregisteredShareOf(this);
  }

  /** Pages this container charged itself, preregistered memory aside. */
  get chargedPages(): bigint {
    return this.#charged;
  }

  get groups(): readonly number[] {
    return this.#groups;
  }

  /**
   * VFIO_GROUP_SET_CONTAINER (+ VFIO_SET_IOMMU for the first group). `groupSet`: the group is in
   * the container already and only VFIO_SET_IOMMU is retried (QEMU's fallback to v1).
   */
  attachGroup(group: number, options: { readonly groupSet?: boolean } = {}): number {
    const first = this.#groups.length === 0;
    if (first && !options.groupSet) this.io.call("GROUP_SET_CONTAINER", { group }, () => 0);
    return this.io.call(
      first ? "SET_IOMMU" : "GROUP_SET_CONTAINER",
      first ? { type: this.setIommuType } : { group },
      () => {
        if (this.#groups.includes(group)) return -Errno.EBUSY;
        const refused = this.refuseGroup();
        if (refused) return refused;
        this.#groups.push(group);
        this.groupAttached(first);
        return 0;
      },
    );
  }

  /** The last group gone closes the container. */
  detachGroup(group: number): void {
    const at = this.#groups.indexOf(group);
    if (at >= 0) this.#groups.splice(at, 1);
    if (this.#groups.length === 0) this.release();
  }

  /** Container closed: everything dropped, the locked memory it charged returned. */
  release(): void {
    this.releaseMappings();
    this.process.uncharge(this.#charged);
    this.#charged = 0n;
  }

  /** The `type` VFIO_SET_IOMMU names. */
  protected get setIommuType(): string {
    return this.backend;
  }

  /** A backend's reason to refuse a group (-errno), or 0. */
  protected refuseGroup(): number {
    return 0;
  }

  /** Called once a group is attached; `first` when it selected the backend. */
  protected groupAttached(_first: boolean): void {}

  /** Drops the backend's windows, tables and mappings. */
  protected abstract releaseMappings(): void;

  /** Charges `pages` to the process's locked_vm; false (nothing charged) past RLIMIT_MEMLOCK. */
  protected charge(pages: bigint): boolean {
    if (!this.process.charge(pages)) return false;
    this.#charged += pages;
    return true;
  }

  /** Returns `pages` to the process's locked_vm. */
  protected uncharge(pages: bigint): void {
    this.process.uncharge(pages);
    this.#charged -= pages;
  }

  /** Charged pages the driver never returns (they stay on the process, not on the container). */
  protected leakCharge(pages: bigint): void {
    this.#charged -= pages;
    this.process.leak(pages);
  }
}
