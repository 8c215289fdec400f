/**
 * Memory regions (QEMU's `MemoryRegion`): containers, RAM, ROM, ROM devices, RAM devices, MMIO,
 * reservations, aliases and IOMMU regions, with QEMU's subregion order and update rules.
 */
import type { MemoryRegionOps } from "./access-types.ts";
import { hex, normaliseSize } from "./int.ts";
import type { IommuTranslator } from "./iommu-types.ts";
import type { MemorySystem } from "./memory-system.ts";
import { SparseRam } from "./ram.ts";

/** What a region is; decides how it renders and how accesses reach it. */
export type RegionKind =
  /** Holds subregions and renders nothing itself. */
  | "container"
  /** MMIO or port I/O with device callbacks (no callbacks: a reservation). */
  | "io"
  /** RAM; read-only RAM is a ROM. */
  | "ram"
  /** ROM device: reads from memory in ROMD mode, writes (and MMIO-mode reads) call the device. */
  | "romDevice"
  /** Host memory mapped as device memory: always accessed through callbacks. */
  | "ramDevice"
  /** A window onto part of another region. */
  | "alias"
  /** An IOMMU: accesses are translated into another address space. */
  | "iommu";

/** A QOM object reference as `info mtree -o` prints it: `{dev id=x}`, `{obj path=/p}`. */
export interface QomObjectRef {
  readonly kind: "dev" | "obj";
  readonly key: "id" | "path" | "type";
  readonly value: string;
}

/** Who owns a region, for `info mtree -o`. */
export interface RegionOwnership {
  /** The owning object. */
  readonly owner?: QomObjectRef;
  /** The QOM parent, printed when it differs from the owner or there is no owner. */
  readonly parent?: QomObjectRef;
}

/** The QOM parent QEMU gives a named region that has no owner. */
export const UNATTACHED: QomObjectRef = { kind: "obj", key: "path", value: "/machine/unattached" };

/** Options common to every region constructor. */
export interface RegionOptions extends RegionOwnership {}

/** A programming error in the use of the memory API (QEMU would assert). */
export class MemoryApiError extends Error {
  override name = "MemoryApiError";
}

/** Dirty-memory client bits (QEMU's `DIRTY_MEMORY_*` as a mask). */
export const DirtyLog = { vga: 1, code: 2, migration: 4 } as const;

/** Constructor arguments of a region; use `MemorySystem`'s factory methods instead. */
export interface RegionInit extends RegionOptions {
  readonly kind: RegionKind;
  readonly name: string;
  readonly size: bigint;
  readonly ops?: MemoryRegionOps;
  readonly readonly?: boolean;
  readonly alias?: MemoryRegion;
  readonly aliasOffset?: bigint;
  readonly iommu?: IommuTranslator;
  /** Whether an `io` region renders itself (true) or only its subregions; default true. */
  readonly terminates?: boolean;
}

/**
 * The last change stamp handed out, across every memory system. Each mutation of a property that
 * rendering reads gives the region a new stamp, so "no region a render visited has a stamp above
 * the one current at render time" proves the render would come out the same again.
 */
let lastChangeStamp = 0;

/** The change stamp current now: every later mutation of any region gets a greater one. */
export function currentChangeStamp(): number {
  return lastChangeStamp;
}

/** Moves the change stamp on for a change outside regions (an address space added or removed). */
export function advanceChangeStamp(): void {
  lastChangeStamp++;
}

/** A memory region. Mutators follow QEMU's rules for when the topology must be re-rendered. */
export class MemoryRegion {
  /** The memory system whose transactions and listeners this region's changes go through. */
  readonly system: MemorySystem;
  readonly kind: RegionKind;
  readonly name: string;
  owner: QomObjectRef | undefined;
  parent: QomObjectRef | undefined;
  /** Subregions in QEMU's list order: priority descending, most recently added first. */
  readonly subregions: MemoryRegion[] = [];
  /** Device callbacks (`io`, `romDevice`, `ramDevice`); none means every access is rejected. */
  readonly ops: MemoryRegionOps | undefined;
  /** Backing memory (`ram`, `romDevice`, `ramDevice`). */
  readonly ramBlock: SparseRam | undefined;
  /** Translation for `iommu` regions. */
  iommu: IommuTranslator | undefined;
  /** Whether the region renders itself (every leaf kind; an `io` region may opt out). */
  readonly terminates: boolean;

  #size: bigint;
  #addr = 0n;
  #container: MemoryRegion | null = null;
  #priority = 0;
  #mayOverlap = false;
  #enabled = true;
  #readonly: boolean;
  #nonvolatile = false;
  #romdMode = true;
  #alias: MemoryRegion | undefined;
  #aliasOffset: bigint;
  #vgaLogCount = 0;
  #mappedViaAlias = 0;
  #changeStamp = ++lastChangeStamp;
  /** The last render that recorded this region as visited (see `render.ts`); renders only. */
  renderVisit = 0;

  constructor(system: MemorySystem, init: RegionInit) {
    this.system = system;
    this.kind = init.kind;
    this.name = init.name;
    this.owner = init.owner;
    this.parent = init.parent ?? (init.owner ? undefined : UNATTACHED);
    this.#size = normaliseSize(init.size);
    this.ops = init.ops;
    this.#readonly = init.readonly ?? false;
    this.#alias = init.alias;
    this.#aliasOffset = init.aliasOffset ?? 0n;
    this.iommu = init.iommu;
    if (init.kind === "alias" && !init.alias)
      throw new MemoryApiError(`alias ${init.name} has no target`);
    this.terminates =
      init.kind === "container" || init.kind === "alias" ? false : (init.terminates ?? true);
    this.ramBlock =
      init.kind === "ram" || init.kind === "romDevice" || init.kind === "ramDevice"
        ? new SparseRam(this.#size)
        : undefined;
  }

  /** Size in bytes, 0..2^64. */
  get size(): bigint {
    return this.#size;
  }
  /** Offset within the container. */
  get addr(): bigint {
    return this.#addr;
  }
  get container(): MemoryRegion | null {
    return this.#container;
  }
  /** Signed priority among siblings. */
  get priority(): number {
    return this.#priority;
  }
  /** Set by `addSubregionOverlap`; QEMU 7.2 records no overlap check, so this is informative. */
  get mayOverlap(): boolean {
    return this.#mayOverlap;
  }
  get enabled(): boolean {
    return this.#enabled;
  }
  get readonly(): boolean {
    return this.#readonly;
  }
  get nonvolatile(): boolean {
    return this.#nonvolatile;
  }
  /** ROM devices only: reads go straight to memory while true. */
  get romdMode(): boolean {
    return this.#romdMode;
  }
  /** The aliased region. */
  get alias(): MemoryRegion | undefined {
    return this.#alias;
  }
  get aliasOffset(): bigint {
    return this.#aliasOffset;
  }
  /** True for RAM, ROM and RAM devices (QEMU's `mr->ram`); false for ROM devices. */
  get isRam(): boolean {
    return this.kind === "ram" || this.kind === "ramDevice";
  }
  get isIommu(): boolean {
    return this.kind === "iommu";
  }
  /** Mapped in a container or reached through a mapped alias. */
  get isMapped(): boolean {
    return this.#container !== null || this.#mappedViaAlias > 0;
  }
  /** The dirty-log clients this region asked for itself (VGA). */
  get ownDirtyLogMask(): number {
    return this.#vgaLogCount > 0 ? DirtyLog.vga : 0;
  }

  /**
   * The stamp of the last change to anything rendering reads here: enabled, address, size,
   * priority, the subregion list and its order, alias target and offset, read-only,
   * non-volatile, ROMD mode and the dirty-log mask (kind, RAM block and `terminates` never change).
   */
  get changeStamp(): number {
    return this.#changeStamp;
  }

  #touch(): void {
    this.#changeStamp = ++lastChangeStamp;
  }

  /** The region an alias chain ends at (the region itself when not an alias). */
  resolveAlias(): MemoryRegion {
    let mr: MemoryRegion = this;
    while (mr.#alias) mr = mr.#alias;
    return mr;
  }

  /** `info mtree`'s type word: ramd, romd, rom, ram or i/o (aliases take their target's). */
  get typeName(): "ramd" | "romd" | "rom" | "ram" | "i/o" {
    const mr = this.resolveAlias();
    if (mr.kind === "ramDevice") return "ramd";
    if (mr.kind === "romDevice" && mr.#romdMode) return "romd";
    if (mr.kind === "ram") return mr.#readonly ? "rom" : "ram";
    return "i/o";
  }

  /** Adds `child` at `offset` with priority 0 (QEMU's `memory_region_add_subregion`). */
  addSubregion(child: MemoryRegion, offset: bigint): void {
    this.#addSubregionCommon(child, offset, 0, false);
  }

  /** Adds `child` at `offset` with a priority (QEMU's `memory_region_add_subregion_overlap`). */
  addSubregionOverlap(child: MemoryRegion, offset: bigint, priority: number): void {
    this.#addSubregionCommon(child, offset, priority, true);
  }

  /**
   * Adds several subregions with priorities, as one `addSubregionOverlap` call per entry in
   * turn would (the last one added wins ties), in time linear in the list plus a sort: one
   * insertion at a time moves the whole list each time, quadratic for a container of 10^5.
   */
  addSubregionsOverlap(
    children: readonly {
      readonly region: MemoryRegion;
      readonly offset: bigint;
      readonly priority: number;
    }[],
  ): void {
    // The one-pass form needs a list kept in priority order by insertion alone.
    if (this.subregions.length > 0) {
      for (const c of children) this.#addSubregionCommon(c.region, c.offset, c.priority, true);
      return;
    }
    this.system.transaction(() => {
      const added: MemoryRegion[] = [];
      try {
        for (const { region: child, offset, priority } of children) {
          this.#checkNewSubregion(child, offset);
          child.#container = this;
          child.#addr = offset;
          child.#priority = priority;
          child.#mayOverlap = true;
          child.#touch();
          for (let a = child.#alias; a; a = a.#alias) a.#mappedViaAlias++;
          added.push(child);
          if (this.#enabled && child.#enabled) this.system.markTopologyChanged();
        }
      } finally {
        // Newest first, then (stable sort) priority descending: what insertion one by one gives.
        added.reverse();
        added.sort((a, b) => b.#priority - a.#priority);
        for (const child of added) this.subregions.push(child);
        this.#touch();
      }
    });
  }

  /** Removes a subregion. */
  removeSubregion(child: MemoryRegion): void {
    if (child.#container !== this) {
      throw new MemoryApiError(`${child.name} is not a subregion of ${this.name}`);
    }
    this.system.transaction(() => {
      child.#container = null;
      for (let a = child.#alias; a; a = a.#alias) a.#mappedViaAlias--;
      this.subregions.splice(this.subregions.indexOf(child), 1);
      child.#touch();
      this.#touch();
      if (this.#enabled && child.#enabled) this.system.markTopologyChanged();
    });
  }

  /** Moves the region within its container; it then wins ties with equal-priority siblings. */
  setAddress(addr: bigint): void {
    if (addr === this.#addr) return;
    const container = this.#container;
    if (!container) {
      this.#addr = addr;
      this.#touch();
      return;
    }
    this.system.transaction(() => {
      container.removeSubregion(this);
      container.#addSubregionCommon(this, addr, this.#priority, this.#mayOverlap);
    });
  }

  /** Resizes the region; `U64_MAX` means 2^64. */
  setSize(size: bigint): void {
    const normalised = normaliseSize(size);
    if (normalised === this.#size) return;
    this.system.transaction(() => {
      this.#size = normalised;
      this.#touch();
      this.system.markTopologyChanged();
    });
  }

  setEnabled(enabled: boolean): void {
    if (enabled === this.#enabled) return;
    this.system.transaction(() => {
      this.#enabled = enabled;
      this.#touch();
      this.system.markTopologyChanged();
    });
  }

  setReadonly(readonly: boolean): void {
    this.#setFlag(readonly, this.#readonly, () => {
      this.#readonly = readonly;
    });
  }

  setNonvolatile(nonvolatile: boolean): void {
    this.#setFlag(nonvolatile, this.#nonvolatile, () => {
      this.#nonvolatile = nonvolatile;
    });
  }

  /** ROM devices: switch between ROMD mode (direct reads) and MMIO mode. */
  setRomdMode(romdMode: boolean): void {
    this.#setFlag(romdMode, this.#romdMode, () => {
      this.#romdMode = romdMode;
    });
  }

  /** Changes an alias's offset into its target. */
  setAliasOffset(offset: bigint): void {
    if (this.kind !== "alias") throw new MemoryApiError(`${this.name} is not an alias`);
    if (offset === this.#aliasOffset) return;
    this.system.transaction(() => {
      this.#aliasOffset = offset;
      this.#touch();
      if (this.#enabled) this.system.markTopologyChanged();
    });
  }

  /** Turns VGA dirty logging on or off (reference counted, like `memory_region_set_log`). */
  setLog(log: boolean): void {
    const before = this.ownDirtyLogMask;
    this.#vgaLogCount = Math.max(0, this.#vgaLogCount + (log ? 1 : -1));
    this.#touch();
    if (this.ownDirtyLogMask === before) return;
    this.system.transaction(() => {
      if (this.#enabled) this.system.markTopologyChanged();
    });
  }

  /** Replaces the target of an alias (used when importing, before the region is mapped). */
  retarget(target: MemoryRegion, offset: bigint): void {
    if (this.kind !== "alias") throw new MemoryApiError(`${this.name} is not an alias`);
    this.#alias = target;
    this.#aliasOffset = offset;
    this.#touch();
  }

  /** Reorders this container's subregions; used by importers that learn the insertion order. */
  reorderSubregions(order: readonly MemoryRegion[]): void {
    if (order.length !== this.subregions.length || order.some((r) => r.#container !== this)) {
      throw new MemoryApiError(`reorder of ${this.name} must list exactly its subregions`);
    }
    this.system.transaction(() => {
      this.subregions.splice(0, this.subregions.length, ...order);
      this.#touch();
      if (this.#enabled) this.system.markTopologyChanged();
    });
  }

  #setFlag(value: boolean, current: boolean, apply: () => void): void {
    if (value === current) return;
    this.system.transaction(() => {
      apply();
      this.#touch();
      if (this.#enabled) this.system.markTopologyChanged();
    });
  }

  #addSubregionCommon(
    child: MemoryRegion,
    offset: bigint,
    priority: number,
    mayOverlap: boolean,
  ): void {
    this.#checkNewSubregion(child, offset);
    this.system.transaction(() => {
      child.#container = this;
      child.#addr = offset;
      child.#priority = priority;
      child.#mayOverlap = mayOverlap;
      child.#touch();
      this.#touch();
      for (let a = child.#alias; a; a = a.#alias) a.#mappedViaAlias++;
      // Before the first sibling whose priority is not higher: newest wins ties.
      const at = this.subregions.findIndex((s) => s.#priority <= priority);
      if (at < 0) this.subregions.push(child);
      else this.subregions.splice(at, 0, child);
      if (this.#enabled && child.#enabled) this.system.markTopologyChanged();
    });
  }

  #checkNewSubregion(child: MemoryRegion, offset: bigint): void {
    if (child.#container) {
      throw new MemoryApiError(
        `${child.name} is already a subregion of ${child.#container.name}; remove it first`,
      );
    }
    if (child === this) throw new MemoryApiError(`${this.name} cannot contain itself`);
    if (offset < 0n) throw new MemoryApiError(`negative offset ${hex(offset)} for ${child.name}`);
  }
}
