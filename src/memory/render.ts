/**
 * Flat-view rendering (QEMU's `render_memory_region`, `flatview_simplify` and
 * `memory_region_get_flatview_root`). Rendering walks the tree depth first in subregion-list
 * order; each terminating region fills only the gaps left by what was rendered before it.
 */
import { type FlatRange, FlatView } from "./flat-view.ts";
import { SIZE_2_64 } from "./int.ts";
import { RangeList } from "./range-list.ts";
import { currentChangeStamp, DirtyLog, MemoryApiError, type MemoryRegion } from "./region.ts";

/** System-wide facts that feed each range's dirty-log mask. */
export interface RenderContext {
  /** Global dirty tracking (migration) is on. */
  readonly globalDirtyLog: boolean;
  /** TCG tracks code pages in every RAM block. */
  readonly tcg: boolean;
}

const NO_DIRTY_TRACKING: RenderContext = { globalDirtyLog: false, tcg: false };

/** A rendered range, with the innermost alias it was reached through (for diagnostics). */
export interface RenderedRange extends FlatRange {
  readonly via: MemoryRegion | undefined;
}

/** A range being built. */
interface Piece {
  via: MemoryRegion | undefined;
  start: bigint;
  end: bigint;
  mr: MemoryRegion;
  offsetInRegion: bigint;
  readonly: boolean;
  nonvolatile: boolean;
  romdMode: boolean;
  dirtyLogMask: number;
}

/** The dirty-log mask of ranges of `mr` (QEMU's `memory_region_get_dirty_log_mask`). */
export function dirtyLogMask(mr: MemoryRegion, ctx: RenderContext): number {
  let mask = mr.ownDirtyLogMask;
  const hasRamBlock = mr.ramBlock !== undefined;
  if (ctx.globalDirtyLog && (hasRamBlock || mr.isIommu)) mask |= DirtyLog.migration;
  if (ctx.tcg && hasRamBlock) mask |= DirtyLog.code;
  return mask;
}

/**
 * Renders the ranges of `root` (its own `addr` included), clipped to [0, 2^64). With
 * `merge` false the pieces are returned as rendered, before adjacent ones are merged.
 */
export function renderRanges(
  root: MemoryRegion,
  options: { merge?: boolean; context?: RenderContext; visited?: MemoryRegion[] } = {},
): RenderedRange[] {
  const list = new RangeList<Piece>();
  const ctx = options.context ?? NO_DIRTY_TRACKING;
  renderRegion(list, root, 0n, 0n, SIZE_2_64, ctx, options.visited);
  const pieces = list.toArray();
  return options.merge === false ? pieces : simplify(pieces);
}

/** Renders `root` into a flat view (QEMU's `generate_memory_topology`). */
export function renderFlatView(root: MemoryRegion | null, context?: RenderContext): FlatView {
  return new FlatView(root, root ? renderRanges(root, { context }) : []);
}

/** A flat view with what it was rendered from, so that a later commit can tell it still holds. */
export interface RecordedFlatView {
  readonly view: FlatView;
  /** Every region the render read, each once (disabled and clipped-away ones included). */
  readonly visited: readonly MemoryRegion[];
  /** `currentChangeStamp()` when the render ran: a visited region with a greater one changed. */
  readonly stamp: number;
  readonly globalDirtyLog: boolean;
  readonly tcg: boolean;
}

/** Renders `root` like `renderFlatView`, recording the regions the result depends on. */
export function renderRecordedFlatView(
  root: MemoryRegion,
  context: RenderContext,
): RecordedFlatView {
  const stamp = currentChangeStamp();
  const visited: MemoryRegion[] = [];
  const view = new FlatView(root, renderRanges(root, { context, visited }));
  return { view, visited, stamp, globalDirtyLog: context.globalDirtyLog, tcg: context.tcg };
}

/**
 * Whether rendering `recorded`'s root again under `context` would give the same ranges: rendering
 * reads nothing but the visited regions' own properties (each change to one gives it a new
 * stamp) and the context, and follows only the subregions and alias targets it read there.
 */
export function recordedFlatViewHolds(recorded: RecordedFlatView, context: RenderContext): boolean {
  if (recorded.globalDirtyLog !== context.globalDirtyLog || recorded.tcg !== context.tcg) {
    return false;
  }
  const stamp = recorded.stamp;
  for (const mr of recorded.visited) if (mr.changeStamp > stamp) return false;
  return true;
}

/** Numbers renders that record what they visit (`MemoryRegion.renderVisit` holds the last). */
let lastRecordingRender = 0;

/** A region waiting to be rendered, or (with `fill`) one whose gaps are to be filled. */
interface Frame {
  readonly mr: MemoryRegion;
  readonly base: bigint;
  readonly clipStart: bigint;
  readonly clipEnd: bigint;
  readonly readonly: boolean;
  readonly nonvolatile: boolean;
  readonly via: MemoryRegion | undefined;
  /** For a fill frame: the region's rendered start, end and base. */
  readonly fill?: { start: bigint; end: bigint; base: bigint };
  /** For an alias frame: leaving it takes it off the current path. */
  readonly leave?: MemoryRegion;
}

/**
 * How many times one alias may be on the current rendering path. QEMU recurses without a bound:
 * an alias into its own container terminates only because each level is clipped further, and
 * one whose window does not move recurses forever. Real machines never render an alias inside
 * itself (mps2-an505's `alias 1 @armsse-container` meets itself only clipped away), so a
 * second visit is skipped: that bounds the work on hostile input.
 */
const ALIAS_REENTRY_LIMIT = 1;

/** Rendering work so far, in stack frames and gap-filling steps (tests compare sizes with it). */
export const renderWork = { steps: 0 };

/** Rendering steps allowed per view: aliases can fan out exponentially in a hostile text. */
export const RENDER_STEP_LIMIT = 20_000_000;

/**
 * QEMU's `render_memory_region`, with an explicit stack (trees and alias chains can be
 * thousands of levels deep): subregions in list order, then the region's own gaps.
 */
function renderRegion(
  view: RangeList<Piece>,
  root: MemoryRegion,
  base0: bigint,
  clipStart0: bigint,
  clipEnd0: bigint,
  ctx: RenderContext,
  visited: MemoryRegion[] | undefined,
): void {
  const visit = visited ? ++lastRecordingRender : 0;
  const onPath = new Map<MemoryRegion, number>();
  const stack: Frame[] = [
    {
      mr: root,
      base: base0,
      clipStart: clipStart0,
      clipEnd: clipEnd0,
      readonly: false,
      nonvolatile: false,
      via: undefined,
    },
  ];
  let steps = 0;
  while (stack.length > 0) {
    const f = stack.pop()!;
    const mr = f.mr;
    // Every region that rendering reads anything of is popped here first (alias targets too).
    if (visit !== 0 && mr.renderVisit !== visit) {
      mr.renderVisit = visit;
      visited!.push(mr);
    }
    renderWork.steps++;
    if (++steps > RENDER_STEP_LIMIT) {
      throw new MemoryApiError(
        `rendering ${root.name} takes more than ${RENDER_STEP_LIMIT} steps (aliases that fan out exponentially)`,
      );
    }
    if (f.leave) {
      const n = onPath.get(f.leave)!;
      if (n === 1) onPath.delete(f.leave);
      else onPath.set(f.leave, n - 1);
      continue;
    }
    if (f.fill) {
      const { start, end, base } = f.fill;
      fillGaps(
        view,
        mr,
        start,
        end,
        start - base,
        f.readonly,
        f.nonvolatile,
        f.via,
        dirtyLogMask(mr, ctx),
      );
      continue;
    }
    if (!mr.enabled) continue;
    const base = f.base + mr.addr;
    const readonly = f.readonly || mr.readonly;
    const nonvolatile = f.nonvolatile || mr.nonvolatile;
    const start = base > f.clipStart ? base : f.clipStart;
    const regionEnd = base + mr.size;
    const end = regionEnd < f.clipEnd ? regionEnd : f.clipEnd;
    // QEMU renders a zero-length intersection too, but it can never produce a range.
    if (end <= start) continue;

    const target = mr.alias;
    if (target) {
      const times = onPath.get(mr) ?? 0;
      if (times >= ALIAS_REENTRY_LIMIT) continue;
      onPath.set(mr, times + 1);
      stack.push({ ...f, leave: mr });
      // The target's own address cancels out: it is added back when the target renders.
      stack.push({
        mr: target,
        base: base - target.addr - mr.aliasOffset,
        clipStart: start,
        clipEnd: end,
        readonly,
        nonvolatile,
        via: mr,
      });
      continue;
    }
    if (mr.terminates) {
      stack.push({ ...f, readonly, nonvolatile, fill: { start, end, base } });
    }
    const subs = mr.subregions;
    for (let i = subs.length - 1; i >= 0; i--) {
      stack.push({
        mr: subs[i],
        base,
        clipStart: start,
        clipEnd: end,
        readonly,
        nonvolatile,
        via: f.via,
      });
    }
  }
}

/** Inserts pieces of [start, end) where nothing is rendered yet; existing ranges win. */
function fillGaps(
  view: RangeList<Piece>,
  mr: MemoryRegion,
  start: bigint,
  end: bigint,
  offsetInRegion: bigint,
  readonly: boolean,
  nonvolatile: boolean,
  via: MemoryRegion | undefined,
  dirtyLogMask: number,
): void {
  const cursor = view.firstEndingAfter(start);
  let at = start;
  while (at < end) {
    renderWork.steps++;
    // The next rendered range that overlaps what is left, if any: the gap runs up to it.
    const existing = view.at(cursor);
    const next = existing && existing.start < end ? existing : undefined;
    const to = next ? next.start : end;
    if (at < to) {
      // One object shape for every piece (this runs once per range rendered).
      view.insertBefore(cursor, {
        via,
        start: at,
        end: to,
        mr,
        offsetInRegion: offsetInRegion + (at - start),
        readonly,
        nonvolatile,
        romdMode: mr.romdMode,
        dirtyLogMask,
      });
    }
    if (!next) return;
    at = next.end;
    view.advance(cursor);
  }
}

/** Merges neighbours from the same region with contiguous offsets and equal attributes. */
function simplify(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    if (
      last &&
      last.end === p.start &&
      last.mr === p.mr &&
      last.offsetInRegion + (last.end - last.start) === p.offsetInRegion &&
      last.dirtyLogMask === p.dirtyLogMask &&
      last.romdMode === p.romdMode &&
      last.readonly === p.readonly &&
      last.nonvolatile === p.nonvolatile
    ) {
      last.end = p.end;
    } else {
      out.push(p);
    }
  }
  return out;
}

/**
 * The region an address space's flat view is rendered from (QEMU's
 * `memory_region_get_flatview_root`): full-size zero-offset aliases and containers with a single
 * enabled, fully contained child at offset 0 are looked through; null means an empty view.
 */
export function flatViewRoot(root: MemoryRegion): MemoryRegion | null {
  let mr = root;
  // A region met twice means an alias loop (QEMU would spin forever): stop there.
  const seen = new Set<MemoryRegion>();
  while (mr.enabled && !seen.has(mr)) {
    seen.add(mr);
    const target = mr.alias;
    if (target) {
      if (mr.aliasOffset === 0n && mr.size >= target.size) {
        mr = target;
        continue;
      }
    } else if (!mr.terminates) {
      let found = 0;
      let next: MemoryRegion | undefined;
      for (const child of mr.subregions) {
        if (!child.enabled) continue;
        if (++found > 1) {
          next = undefined;
          break;
        }
        if (child.addr === 0n && mr.size >= child.size) next = child;
      }
      if (found === 0) return null;
      if (next) {
        mr = next;
        continue;
      }
    }
    return mr;
  }
  return null;
}
