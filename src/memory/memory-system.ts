/**
 * The memory system of one machine: region factories, address spaces, transactions and listeners
 * (the global state of QEMU's `memory.c`, held per machine so that several can coexist).
 */
import type { MemoryRegionOps } from "./access-types.ts";
import { AddressSpace } from "./address-space.ts";
import { EMPTY_FLAT_VIEW, type FlatRange, type FlatView } from "./flat-view.ts";
import type { IommuTranslator } from "./iommu-types.ts";
import { diffFlatViews, type MemoryListener, sectionOf } from "./listener.ts";
import {
  advanceChangeStamp,
  currentChangeStamp,
  MemoryApiError,
  MemoryRegion,
  type RegionOptions,
} from "./region.ts";
import {
  flatViewRoot,
  type RecordedFlatView,
  type RenderContext,
  recordedFlatViewHolds,
  renderFlatView,
  renderRecordedFlatView,
} from "./render.ts";

/** An accelerator that keeps its own copy of some address spaces (`info mtree -f` names it). */
export interface Accelerator {
  /** Printed after the ranges it holds, e.g. `KVM`. */
  readonly name: string;
  /** Whether it holds `range` of `as` in a memory slot of exactly that extent. */
  holdsRange(as: AddressSpace, range: FlatRange): boolean;
}

/**
 * KVM as QEMU 7.2 uses it: memory slots for RAM, ROM and ROM devices in ROMD mode in the listed
 * address spaces, for ranges aligned to 4 KiB at both ends (an unaligned range is trimmed, so no
 * slot matches it exactly).
 */
export function kvmAccelerator(addressSpaceNames: Iterable<string>): Accelerator {
  const names = new Set(addressSpaceNames);
  return {
    name: "KVM",
    holdsRange(as, range) {
      const mr = range.mr;
      const slotted = mr.isRam || (mr.kind === "romDevice" && mr.romdMode);
      return slotted && names.has(as.name) && ((range.start | range.end) & 0xfffn) === 0n;
    },
  };
}

/** Options of a memory system. */
export interface MemorySystemOptions {
  /**
   * The accelerator. `qtest` (the default: no guest CPU runs, the scenario plays the guest) and
   * `tcg` print nothing in flat views; `tcg` also tracks code pages. Pass an `Accelerator` to
   * model one that holds memory slots, such as KVM.
   */
  readonly accelerator?: "qtest" | "tcg" | Accelerator;
  /**
   * Whether a commit keeps the flat view of a root none of whose rendered regions changed (the
   * default). False re-renders every root at every commit, as QEMU does: tests compare both.
   */
  readonly reuseUnchangedViews?: boolean;
}

/** One machine's memory: create regions and address spaces here. */
export class MemorySystem {
  /** Address spaces in creation order. */
  readonly addressSpaces: AddressSpace[] = [];
  readonly accelerator: Accelerator | undefined;
  readonly #tcg: boolean;
  /** Every registered listener, ascending priority. */
  readonly #listeners: { listener: MemoryListener; as: AddressSpace }[] = [];
  /** Flat views of the last commit, keyed by flat root (QEMU's `flat_views`). */
  #views = new Map<MemoryRegion | null, FlatView>();
  /** What each flat view of `#views` was rendered from, to keep it when nothing it read changed. */
  #recorded = new Map<MemoryRegion, RecordedFlatView>();
  readonly #reuseUnchangedViews: boolean;
  #depth = 0;
  #pending = false;
  #globalDirtyLog = false;

  constructor(options: MemorySystemOptions = {}) {
    const accel = options.accelerator ?? "qtest";
    this.#tcg = accel === "tcg";
    this.accelerator = typeof accel === "string" ? undefined : accel;
    this.#reuseUnchangedViews = options.reuseUnchangedViews ?? true;
  }

  /** A pure container (QEMU's `memory_region_init`). */
  container(name: string, size: bigint, options: RegionOptions = {}): MemoryRegion {
    return new MemoryRegion(this, {
      owner: options.owner,
      parent: options.parent,
      kind: "container",
      name,
      size,
    });
  }

  /** RAM (QEMU's `memory_region_init_ram`). */
  ram(name: string, size: bigint, options: RegionOptions = {}): MemoryRegion {
    return new MemoryRegion(this, {
      owner: options.owner,
      parent: options.parent,
      kind: "ram",
      name,
      size,
    });
  }

  /** ROM: read-only RAM; writes are rejected (QEMU's `memory_region_init_rom`). */
  rom(name: string, size: bigint, options: RegionOptions = {}): MemoryRegion {
    return new MemoryRegion(this, {
      owner: options.owner,
      parent: options.parent,
      kind: "ram",
      name,
      size,
      readonly: true,
    });
  }

  /** A ROM device such as flash: reads from memory in ROMD mode, writes call `ops`. */
  romDevice(
    name: string,
    size: bigint,
    ops: MemoryRegionOps,
    options: RegionOptions = {},
  ): MemoryRegion {
    return new MemoryRegion(this, {
      owner: options.owner,
      parent: options.parent,
      kind: "romDevice",
      name,
      size,
      ops,
    });
  }

  /** Host memory mapped as device memory: accessed through callbacks, never copied. */
  ramDevice(name: string, size: bigint, options: RegionOptions = {}): MemoryRegion {
    return new MemoryRegion(this, {
      owner: options.owner,
      parent: options.parent,
      kind: "ramDevice",
      name,
      size,
    });
  }

  /** MMIO or port I/O handled by `ops` (QEMU's `memory_region_init_io`). */
  io(name: string, size: bigint, ops: MemoryRegionOps, options: RegionOptions = {}): MemoryRegion {
    const impl = ops.impl;
    const valid = ops.valid;
    if (impl?.unaligned && !valid?.unaligned) {
      throw new MemoryApiError(`${name}: impl.unaligned needs valid.unaligned`);
    }
    return new MemoryRegion(this, {
      owner: options.owner,
      parent: options.parent,
      kind: "io",
      name,
      size,
      ops,
    });
  }

  /** A region that claims addresses and rejects every access (`init_io` with no callbacks). */
  reservation(name: string, size: bigint, options: RegionOptions = {}): MemoryRegion {
    return new MemoryRegion(this, {
      owner: options.owner,
      parent: options.parent,
      kind: "io",
      name,
      size,
    });
  }

  /** A window of `size` bytes onto `target` starting at `offset` (QEMU's `init_alias`). */
  alias(
    name: string,
    target: MemoryRegion,
    offset: bigint,
    size: bigint,
    options: RegionOptions = {},
  ): MemoryRegion {
    return new MemoryRegion(this, {
      owner: options.owner,
      parent: options.parent,
      kind: "alias",
      name,
      size,
      alias: target,
      aliasOffset: offset,
    });
  }

  /** An IOMMU region; the `iommu` layer builds these with notifiers and replay. */
  iommu(
    name: string,
    size: bigint,
    translator: IommuTranslator,
    options: RegionOptions = {},
  ): MemoryRegion {
    return new MemoryRegion(this, {
      owner: options.owner,
      parent: options.parent,
      kind: "iommu",
      name,
      size,
      iommu: translator,
    });
  }

  /** Creates an address space over `root` (QEMU's `address_space_init`). */
  addressSpace(root: MemoryRegion, name = "anonymous"): AddressSpace {
    const as = new AddressSpace(this, root, name);
    this.addressSpaces.push(as);
    advanceChangeStamp();
    const physmr = flatViewRoot(root);
    let view = this.#views.get(physmr);
    if (!view) {
      view = physmr ? this.#render(physmr, this.#renderContext()) : EMPTY_FLAT_VIEW;
      this.#views.set(physmr, view);
    }
    as.view = view;
    return as;
  }

  /** Removes an address space; its listeners must be unregistered first. */
  destroyAddressSpace(as: AddressSpace): void {
    if (as.listeners.length > 0) {
      throw new MemoryApiError(`address space ${as.name} still has listeners`);
    }
    const at = this.addressSpaces.indexOf(as);
    if (at >= 0) this.addressSpaces.splice(at, 1);
    advanceChangeStamp();
  }

  /**
   * A stamp that every change to a region (of any memory system) or to this system's address
   * spaces moves on: two equal readings mean the tree `info mtree` prints (with or without `-D`;
   * `-o` owners and `-f` flat views excepted) is the same text.
   */
  get changeStamp(): number {
    return currentChangeStamp();
  }

  /** Whether a transaction is open. */
  get inTransaction(): boolean {
    return this.#depth > 0;
  }

  /** Opens a (possibly nested) transaction. */
  begin(): void {
    this.#depth++;
  }

  /** Closes a transaction; the outermost commit re-renders and notifies listeners. */
  commit(): void {
    if (this.#depth === 0) throw new MemoryApiError("commit without begin");
    this.#depth--;
    if (this.#depth > 0 || !this.#pending) return;
    this.#resetViews();
    const listeners = this.#listeners.map((r) => r.listener);
    for (const l of listeners) l.begin?.();
    for (const as of this.addressSpaces) this.#setFlatView(as);
    this.#pending = false;
    for (const l of listeners) l.commit?.();
  }

  /** Runs `fn` inside a transaction; the commit happens even if `fn` throws. */
  transaction<T>(fn: () => T): T {
    this.begin();
    try {
      return fn();
    } finally {
      this.commit();
    }
  }

  /** Records that the topology changed; the outermost commit will re-render. */
  markTopologyChanged(): void {
    this.#pending = true;
  }

  /**
   * Registers `listener` on `as` and replays the current view to it as additions (QEMU's
   * `memory_listener_register`).
   */
  registerListener(listener: MemoryListener, as: AddressSpace): void {
    if (this.#listeners.some((r) => r.listener === listener)) {
      throw new MemoryApiError(`listener ${listener.name ?? ""} is already registered`);
    }
    const prio = listener.priority ?? 0;
    insertByPriority(this.#listeners, { listener, as }, (r) => r.listener.priority ?? 0, prio);
    insertByPriority(as.listeners, listener, (l) => l.priority ?? 0, prio);
    listener.begin?.();
    if (this.#globalDirtyLog) listener.logGlobalStart?.();
    for (const fr of as.view.ranges) {
      const s = sectionOf(as, fr);
      listener.regionAdd?.(s);
      if (fr.dirtyLogMask) listener.logStart?.(s, 0, fr.dirtyLogMask);
    }
    listener.commit?.();
  }

  /** Unregisters `listener`, replaying its address space's view to it as deletions. */
  unregisterListener(listener: MemoryListener): void {
    const at = this.#listeners.findIndex((r) => r.listener === listener);
    if (at < 0) return;
    const { as } = this.#listeners[at];
    listener.begin?.();
    for (const fr of as.view.ranges) {
      const s = sectionOf(as, fr);
      if (fr.dirtyLogMask) listener.logStop?.(s, fr.dirtyLogMask, 0);
      listener.regionDel?.(s);
    }
    listener.commit?.();
    this.#listeners.splice(at, 1);
    as.listeners.splice(as.listeners.indexOf(listener), 1);
  }

  /** Starts global dirty tracking (migration): RAM ranges gain the migration bit. */
  startDirtyLog(): void {
    if (this.#globalDirtyLog) return;
    this.#globalDirtyLog = true;
    for (const r of this.#listeners) r.listener.logGlobalStart?.();
    this.transaction(() => this.markTopologyChanged());
  }

  /** Stops global dirty tracking. */
  stopDirtyLog(): void {
    if (!this.#globalDirtyLog) return;
    this.#globalDirtyLog = false;
    this.transaction(() => this.markTopologyChanged());
    for (let k = this.#listeners.length - 1; k >= 0; k--) {
      this.#listeners[k].listener.logGlobalStop?.();
    }
  }

  /** The flat view `as` had at the last commit (QEMU's `address_space_to_flatview`). */
  flatView(as: AddressSpace): FlatView {
    return as.view;
  }

  #renderContext(): RenderContext {
    return { globalDirtyLog: this.#globalDirtyLog, tcg: this.#tcg };
  }

  /**
   * QEMU's `flatviews_reset`: views for every flat root in use. A root whose last render read no
   * region that changed since, under the same context, keeps its view: rendering it again would
   * give equal ranges (see `recordedFlatViewHolds`).
   */
  #resetViews(): void {
    const views = new Map<MemoryRegion | null, FlatView>([[null, EMPTY_FLAT_VIEW]]);
    const previous = this.#recorded;
    this.#recorded = new Map();
    const ctx = this.#renderContext();
    try {
      for (const as of this.addressSpaces) {
        const physmr = flatViewRoot(as.root);
        if (views.has(physmr) || !physmr) continue;
        const kept = previous.get(physmr);
        if (kept && recordedFlatViewHolds(kept, ctx)) {
          this.#recorded.set(physmr, kept);
          views.set(physmr, kept.view);
        } else {
          views.set(physmr, this.#render(physmr, ctx));
        }
      }
    } catch (e) {
      // A render over the step limit leaves the last commit's views, as before any of this.
      this.#recorded = previous;
      throw e;
    }
    this.#views = views;
  }

  /** Renders `physmr`, recording what the view depends on when views are reused. */
  #render(physmr: MemoryRegion, ctx: RenderContext): FlatView {
    if (!this.#reuseUnchangedViews) return renderFlatView(physmr, ctx);
    const recorded = renderRecordedFlatView(physmr, ctx);
    this.#recorded.set(physmr, recorded);
    return recorded.view;
  }

  #setFlatView(as: AddressSpace): void {
    const next = this.#views.get(flatViewRoot(as.root)) ?? EMPTY_FLAT_VIEW;
    const old = as.view;
    const listeners = as.listeners;
    if (old === next) {
      // A kept view: QEMU renders a new, equal one, whose update pass sends each listener a
      // region_nop per range (equal masks start and stop no logging).
      if (listeners.some((l) => l.regionNop) && next.ranges.length > 0) {
        diffFlatViews(as, old, next, listeners);
      }
      return;
    }
    if (listeners.length > 0) diffFlatViews(as, old, next, listeners);
    as.view = next;
  }
}

/** Inserts after every element whose priority is not above `prio` (stable for equal ones). */
function insertByPriority<T>(list: T[], item: T, prioOf: (t: T) => number, prio: number): void {
  let at = list.length;
  while (at > 0 && prioOf(list[at - 1]) > prio) at--;
  list.splice(at, 0, item);
}
