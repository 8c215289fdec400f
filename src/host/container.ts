/**
 * What every host IOMMU container shares, whatever its backend: the recorded ioctl boundary, the
 * IOMMU groups attached to it (the first one also selects the backend), and the pages it has
 * charged to the VMM's RLIMIT_MEMLOCK.
 */
import { Errno } from "./errno.ts";
import { IoctlBoundary } from "./ioctl.ts";
import type { HostPlatform } from "./platform.ts";

export abstract class HostContainer {
  abstract readonly backend: "spapr-tce-v2" | "spapr-tce" | "type1";
  readonly io: IoctlBoundary;
  readonly platform: HostPlatform;
  readonly #groups: number[] = [];
  #locked = 0n;

  constructor(platform: HostPlatform, io?: IoctlBoundary) {
    this.platform = platform;
    this.io = io ?? new IoctlBoundary(platform.faults);
  }

  get lockedPages(): bigint {
    return this.#locked;
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

  /** Container closed: everything dropped, locked memory returned. */
  release(): void {
    this.#locked = 0n;
    this.releaseMappings();
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

  /** Charges `pages` to RLIMIT_MEMLOCK; false (nothing charged) when that would pass the limit. */
  protected charge(pages: bigint): boolean {
    const limit = this.platform.memlockLimit;
    if (limit !== undefined && (this.#locked + pages) * this.platform.pageSize > limit)
      return false;
    this.#locked += pages;
    return true;
  }

  /** Returns `pages` to RLIMIT_MEMLOCK. */
  protected uncharge(pages: bigint): void {
    this.#locked -= pages;
  }
}
