/**
 * Rebuilds a live memory model from QEMU 7.2's `info mtree -D` text, optionally settling what the
 * tree text leaves unsaid from the same machine's `info mtree -f` text (the "flat hint"):
 * which `i/o` regions render themselves, which aliases are read-only, the insertion order of
 * overlapping equal-priority siblings, the creation order of address spaces, and KVM.
 * Every line printed afterwards comes from rendering the rebuilt model.
 */
import type { AddressSpace } from "../address-space.ts";
import { wrap64 } from "../int.ts";
import { kvmAccelerator, MemorySystem } from "../memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../region.ts";
import { flatViewRoot, renderRanges } from "../render.ts";
import {
  type MtreeFlatView,
  type MtreeLine,
  MtreeSyntaxError,
  type MtreeTree,
  type MtreeType,
  parseMtreeFlat,
  parseMtreeTree,
} from "./parse.ts";
import { flatRangeLines, formatMtree } from "./print.ts";

/** One distinct region of the imported machine, as plain data. */
export interface ImportedRegion {
  readonly id: number;
  /** Line of the text the region was first printed on. */
  readonly line: number;
  readonly name: string;
  /** Offset within its container (or its own address when it has none). */
  readonly addr: bigint;
  readonly size: bigint;
  readonly priority: number;
  readonly type: MtreeType;
  readonly nonvolatile: boolean;
  readonly enabled: boolean;
  readonly owner?: QomObjectRef;
  readonly parent?: QomObjectRef;
  /** For aliases: the target region's id and the offset into it. */
  alias?: { readonly targetName: string; target: number; readonly offset: bigint };
  /** Subregion ids in printed order. */
  readonly children: number[];
  readonly container: number | undefined;
}

/** What the importer decided beyond the tree text. */
export interface ImportAssumptions {
  /** `i/o` regions (not aliases) that render themselves; the others are pure containers. */
  readonly renders: Set<number>;
  /** Aliases and containers that are read-only. */
  readonly readonly: Set<number>;
  /** Subregion list order per container where it differs from the printed order. */
  readonly order: Map<number, number[]>;
  /** Address spaces in creation order: indexes into `ImportedMachine.addressSpaces`. */
  asOrder: number[];
  /** Names of the address spaces KVM keeps slots for; undefined: no KVM. */
  kvm: Set<string> | undefined;
}

/** The imported machine before it is built. */
export interface ImportedMachine {
  readonly regions: ImportedRegion[];
  /** Address spaces in the order the tree text lists them. */
  readonly addressSpaces: { readonly name: string; readonly root: number }[];
}

/** A rebuilt model: the machine data, the decisions taken and the live memory system. */
export interface ImportResult {
  readonly machine: ImportedMachine;
  readonly assumptions: ImportAssumptions;
  readonly system: MemorySystem;
  /** Live regions by imported id. */
  readonly regions: MemoryRegion[];
}

/** Imports `info mtree -D` text, with `info mtree -f` text of the same machine as the hint. */
export function importMtree(treeText: string, flatText?: string): ImportResult {
  const machine = buildMachine(parseMtreeTree(treeText));
  const assumptions = defaultAssumptions(machine);
  if (flatText !== undefined) inferFromFlat(machine, assumptions, parseMtreeFlat(flatText));
  const { system, regions } = instantiate(machine, assumptions);
  return { machine, assumptions, system, regions };
}

/** Prints an imported model with `info mtree` flags. */
export function reprintMtree(
  result: ImportResult,
  options: Parameters<typeof formatMtree>[1] = {},
): string {
  return formatMtree(result.system, options);
}

// ---------------------------------------------------------------------------------------------
// From text to distinct regions

interface Occurrence {
  readonly line: MtreeLine;
  readonly parent: Occurrence | undefined;
  /** Offset within the parent, or the printed start for a block root. */
  readonly addr: bigint;
  readonly children: Occurrence[];
  /** Structural identity: equal signatures print identically everywhere. */
  signature: number;
  /** 'g' in an address-space group, 's' in a memory-region section. */
  readonly block: "g" | "s";
  readonly blockIndex: number;
}

function regionSize(line: MtreeLine): bigint {
  // START-START is printed for 0- and 1-byte regions alike; 1 byte is what real machines mean.
  return wrap64(line.end - line.start) + 1n;
}

function occurrences(
  line: MtreeLine,
  parent: Occurrence | undefined,
  block: "g" | "s",
  blockIndex: number,
  all: Occurrence[],
  interned: Map<string, number>,
): Occurrence {
  const addr = parent ? wrap64(line.start - parent.line.start) : line.start;
  const occ: Occurrence = { line, parent, addr, children: [], signature: 0, block, blockIndex };
  all.push(occ);
  for (const child of line.children) {
    occ.children.push(occurrences(child, occ, block, blockIndex, all, interned));
  }
  const key = JSON.stringify([
    line.name,
    regionSize(line).toString(),
    line.priority,
    line.type,
    line.nonvolatile,
    line.disabled,
    line.owner ?? null,
    line.parent ?? null,
    line.alias ? [line.alias.target, line.alias.start.toString()] : null,
    occ.children.map((c) => [c.addr.toString(), c.signature]),
  ]);
  let sig = interned.get(key);
  if (sig === undefined) {
    sig = interned.size;
    interned.set(key, sig);
  }
  occ.signature = sig;
  return occ;
}

class UnionFind {
  readonly #parent: number[] = [];
  add(): number {
    this.#parent.push(this.#parent.length);
    return this.#parent.length - 1;
  }
  find(x: number): number {
    let r = x;
    while (this.#parent[r] !== r) r = this.#parent[r];
    while (this.#parent[x] !== r) {
      const next = this.#parent[x];
      this.#parent[x] = r;
      x = next;
    }
    return r;
  }
  union(a: number, b: number): void {
    this.#parent[this.find(b)] = this.find(a);
  }
}

function buildMachine(tree: MtreeTree): ImportedMachine {
  const all: Occurrence[] = [];
  const interned = new Map<string, number>();
  const groupRoots = tree.groups.map((g, i) =>
    occurrences(g.root, undefined, "g", i, all, interned),
  );
  const sectionRoots = tree.sections.map((s, i) =>
    occurrences(s.root, undefined, "s", i, all, interned),
  );
  const index = new Map<Occurrence, number>();
  const uf = new UnionFind();
  for (const occ of all) index.set(occ, uf.add());
  const unify = (a: Occurrence, b: Occurrence): void => {
    uf.union(index.get(a)!, index.get(b)!);
    a.children.forEach((c, i) => {
      unify(c, b.children[i]);
    });
  };
  const hasGroupRoot = new Set<number>();
  const hasSectionRoot = new Set<number>();
  const classOf = (o: Occurrence) => uf.find(index.get(o)!);

  // A group's root printed again as a subregion elsewhere is the same region.
  for (const root of groupRoots) {
    const match = all.find(
      (o) =>
        o.parent &&
        o.signature === root.signature &&
        o.addr === root.addr &&
        !(o.block === "g" && o.blockIndex === root.blockIndex) &&
        !hasGroupRoot.has(classOf(o)),
    );
    if (match) unify(match, root);
    hasGroupRoot.add(classOf(root));
  }
  // A memory-region section is a region printed elsewhere too, if an identical one is there.
  for (const root of sectionRoots) {
    const candidates = all.filter(
      (o) =>
        o !== root &&
        !(o.block === "s" && o.blockIndex === root.blockIndex) &&
        (o.parent || o.block === "g") &&
        o.signature === root.signature &&
        o.addr === root.addr &&
        !hasSectionRoot.has(classOf(o)),
    );
    const match = candidates.find((o) => o.block === "g") ?? candidates[0];
    if (match) unify(match, root);
    hasSectionRoot.add(classOf(root));
  }

  // One region per class, numbered in first-appearance order.
  const ids = new Map<number, number>();
  const reps: Occurrence[] = [];
  for (const occ of all) {
    const c = classOf(occ);
    if (!ids.has(c)) {
      ids.set(c, reps.length);
      reps.push(occ);
    }
  }
  const idOf = (o: Occurrence) => ids.get(classOf(o))!;
  const containerOf = new Map<number, number>();
  const addrOf = new Map<number, bigint>();
  for (const occ of all) {
    if (occ.parent) {
      containerOf.set(idOf(occ), idOf(occ.parent));
      addrOf.set(idOf(occ), occ.addr);
    }
  }
  const regions: ImportedRegion[] = reps.map((occ, id) => {
    const line = occ.line;
    return {
      id,
      line: line.lineNumber,
      name: line.name,
      addr: addrOf.get(id) ?? occ.addr,
      size: regionSize(line),
      priority: line.priority,
      type: line.type,
      nonvolatile: line.nonvolatile,
      enabled: !line.disabled,
      owner: line.owner,
      parent: line.parent,
      alias: line.alias
        ? { targetName: line.alias.target, target: -1, offset: line.alias.start }
        : undefined,
      children: occ.children.map(idOf),
      container: containerOf.get(id),
    };
  });

  resolveAliasTargets(
    regions,
    groupRoots.map(idOf),
    sectionRoots.map(idOf),
    tree.sections.map((s) => s.root.type),
  );
  const addressSpaces = tree.groups.flatMap((g, i) =>
    g.names.map((name) => ({ name, root: idOf(groupRoots[i]) })),
  );
  return { regions, addressSpaces };
}

/**
 * Assigns each alias its target. Targets are the `memory-region:` sections, which QEMU queues in
 * first-encounter order while printing; replaying that order decides between sections that share
 * a name (a backtracking search, forbidding an alias that targets its own ancestor).
 */
function resolveAliasTargets(
  regions: ImportedRegion[],
  groupRoots: number[],
  sectionRoots: number[],
  sectionTypes: MtreeType[],
): void {
  type Event = { kind: "alias"; region: number } | { kind: "section"; index: number };
  const events: Event[] = [];
  const walk = (id: number, seen: Set<number>): void => {
    if (seen.has(id)) return;
    seen.add(id);
    const r = regions[id];
    if (r.alias) events.push({ kind: "alias", region: id });
    const children = r.children.slice();
    for (const child of children) walk(child, seen);
    seen.delete(id);
  };
  for (const root of groupRoots) walk(root, new Set());
  sectionRoots.forEach((root, index) => {
    events.push({ kind: "section", index });
    walk(root, new Set());
  });
  const ancestors = (id: number): Set<number> => {
    const out = new Set<number>([id]);
    for (let c = regions[id].container; c !== undefined; c = regions[c].container) out.add(c);
    return out;
  };
  const typeOfAlias = (id: number): MtreeType => {
    // The printed type of an alias is its final target's; it must match the section's.
    return aliasLineType.get(id)!;
  };
  const aliasLineType = new Map<number, MtreeType>();
  for (const r of regions) if (r.alias) aliasLineType.set(r.id, r.type);

  const assigned = new Map<number, number>();
  // An alias into its own container is legal (rendering clips it), but rare: prefer others.
  let allowAncestors = false;
  const fits = (alias: number, section: number) =>
    sectionTypes[section] === typeOfAlias(alias) &&
    (allowAncestors || !ancestors(alias).has(sectionRoots[section]));
  // Hostile input could make the search exponential; past this budget, fall back to names.
  let budget = 200_000;
  const search = (at: number, queued: number): boolean => {
    if (--budget < 0) return false;
    if (at === events.length) return queued === sectionRoots.length;
    const ev = events[at];
    if (ev.kind === "section") return ev.index < queued && search(at + 1, queued);
    const name = regions[ev.region].alias!.targetName;
    if (assigned.has(ev.region)) return search(at + 1, queued);
    for (let s = 0; s < queued; s++) {
      if (regions[sectionRoots[s]].name === name && fits(ev.region, s)) {
        assigned.set(ev.region, s);
        if (search(at + 1, queued)) return true;
        assigned.delete(ev.region);
      }
    }
    if (
      queued < sectionRoots.length &&
      regions[sectionRoots[queued]].name === name &&
      fits(ev.region, queued)
    ) {
      assigned.set(ev.region, queued);
      if (search(at + 1, queued + 1)) return true;
      assigned.delete(ev.region);
    }
    return false;
  };
  let consistent = search(0, 0);
  if (!consistent) {
    allowAncestors = true;
    budget = 200_000;
    assigned.clear();
    consistent = search(0, 0);
  }
  for (const r of regions) {
    if (!r.alias) continue;
    const s = consistent ? assigned.get(r.id) : undefined;
    const section =
      s ?? sectionRoots.findIndex((root) => regions[root].name === r.alias!.targetName);
    if (section < 0) {
      throw new MtreeSyntaxError(
        r.line,
        `a \`memory-region: ${r.alias.targetName}\` section for the target of alias ${r.name}`,
      );
    }
    r.alias.target = sectionRoots[section];
  }
}

// ---------------------------------------------------------------------------------------------
// From distinct regions to a live model

function defaultAssumptions(machine: ImportedMachine): ImportAssumptions {
  const renders = new Set<number>();
  for (const r of machine.regions) {
    if (!r.alias && r.type === "i/o" && r.children.length === 0) renders.add(r.id);
  }
  return {
    renders,
    readonly: new Set(),
    order: new Map(),
    asOrder: machine.addressSpaces.map((_, i) => i),
    kvm: undefined,
  };
}

/** Subregion list order: printed order, stably sorted by priority (higher first). */
function listOrder(machine: ImportedMachine, assumptions: ImportAssumptions, id: number): number[] {
  const given = assumptions.order.get(id);
  if (given) return given;
  const regions = machine.regions;
  return regions[id].children.slice().sort((a, b) => regions[b].priority - regions[a].priority);
}

function instantiate(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
): { system: MemorySystem; regions: MemoryRegion[] } {
  const system = new MemorySystem({
    accelerator: assumptions.kvm ? kvmAccelerator(assumptions.kvm) : "qtest",
  });
  const live: MemoryRegion[] = [];
  const create = (id: number, depth: number): MemoryRegion => {
    const existing = live[id];
    if (existing) return existing;
    const r = machine.regions[id];
    if (depth > machine.regions.length) {
      throw new MtreeSyntaxError(r.line, `an alias chain that ends (alias ${r.name} loops)`);
    }
    const opts = { owner: r.owner, parent: r.parent };
    let mr: MemoryRegion;
    if (r.alias) {
      mr = system.alias(r.name, create(r.alias.target, depth + 1), r.alias.offset, r.size, opts);
    } else if (r.type === "ram") mr = system.ram(r.name, r.size, opts);
    else if (r.type === "rom") mr = system.rom(r.name, r.size, opts);
    else if (r.type === "romd") mr = system.romDevice(r.name, r.size, {}, opts);
    else if (r.type === "ramd") mr = system.ramDevice(r.name, r.size, opts);
    else if (assumptions.renders.has(id)) mr = system.reservation(r.name, r.size, opts);
    else mr = system.container(r.name, r.size, opts);
    // Regions keep exactly the owner and parent the text gave.
    mr.parent = r.parent;
    live[id] = mr;
    return mr;
  };
  system.transaction(() => {
    for (const r of machine.regions) create(r.id, 0);
    for (const r of machine.regions) {
      const mr = live[r.id];
      if (!r.enabled) mr.setEnabled(false);
      if (r.nonvolatile) mr.setNonvolatile(true);
      if (assumptions.readonly.has(r.id)) mr.setReadonly(true);
      if (r.container === undefined) mr.setAddress(r.addr);
      const order = listOrder(machine, assumptions, r.id);
      for (let i = order.length - 1; i >= 0; i--) {
        const child = machine.regions[order[i]];
        mr.addSubregionOverlap(live[child.id], child.addr, child.priority);
      }
    }
  });
  for (const i of assumptions.asOrder) {
    const as = machine.addressSpaces[i];
    system.addressSpace(live[as.root], as.name);
  }
  return { system, regions: live };
}

// ---------------------------------------------------------------------------------------------
// Inference from the flat hint

interface HintIndex {
  /** Hint blocks that list an address space with this name and root name. */
  blocksFor(as: AddressSpace): MtreeFlatView[];
}

function indexHint(hint: MtreeFlatView[]): HintIndex {
  const byKey = new Map<string, MtreeFlatView[]>();
  for (const view of hint) {
    for (const a of view.addressSpaces) {
      const key = `${a.name}\0${a.root}`;
      const list = byKey.get(key) ?? [];
      if (!list.includes(view)) list.push(view);
      byKey.set(key, list);
    }
  }
  return { blocksFor: (as) => byKey.get(`${as.name}\0${as.root.name}`) ?? [] };
}

/** How many lines differ between what the model renders and what the hint says. */
function mismatch(system: MemorySystem, hint: HintIndex): number {
  let total = 0;
  for (const as of system.addressSpaces) {
    const blocks = hint.blocksFor(as);
    if (blocks.length === 0) continue;
    const ours = flatRangeLines(as.view);
    let best = Number.POSITIVE_INFINITY;
    for (const block of blocks) {
      const theirs = new Set(block.ranges.map((r) => r.text));
      const mine = new Set(ours);
      let diff = 0;
      for (const l of mine) if (!theirs.has(l)) diff++;
      for (const l of theirs) if (!mine.has(l)) diff++;
      best = Math.min(best, diff);
    }
    total += best;
  }
  return total;
}

function inferFromFlat(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
  hint: MtreeFlatView[],
): void {
  const index = indexHint(hint);
  inferRendering(machine, assumptions, index);
  inferReadonly(machine, assumptions, index);
  inferOverlapOrder(machine, assumptions, index);
  inferAddressSpaceOrder(machine, assumptions, hint);
  inferAccelerator(machine, assumptions, hint);
}

/**
 * Rendered bases of every enabled region that `root` (rendered at base 0) reaches, clipped as
 * rendering clips: an alias may point back into its own container, and only clipping ends that.
 */
function positionsIn(
  root: MemoryRegion,
  idOf: Map<MemoryRegion, number>,
): Map<number, Set<bigint>> {
  const out = new Map<number, Set<bigint>>();
  const visit = (mr: MemoryRegion, base: bigint, clipStart: bigint, clipEnd: bigint): void => {
    if (!mr.enabled) return;
    const pos = base + mr.addr;
    const start = pos > clipStart ? pos : clipStart;
    const end = pos + mr.size < clipEnd ? pos + mr.size : clipEnd;
    if (end <= start) return;
    const id = idOf.get(mr);
    if (id !== undefined) {
      const set = out.get(id) ?? new Set<bigint>();
      set.add(wrap64(pos));
      out.set(id, set);
    }
    const target = mr.alias;
    if (target) {
      visit(target, pos - target.addr - mr.aliasOffset, start, end);
      return;
    }
    for (const child of mr.subregions) visit(child, pos, start, end);
  };
  visit(root, 0n, 0n, 1n << 64n);
  return out;
}

/** Rule 1: an `i/o` region renders itself iff a flat line names it at its own base. */
function inferRendering(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
  hint: HintIndex,
): void {
  const candidates = machine.regions.filter((r) => !r.alias && r.type === "i/o").map((r) => r.id);
  // Start from "everything renders": assuming containers first can collapse a view's root away.
  let renders = new Set(candidates);
  for (let round = 0; round < 16; round++) {
    const { system, regions } = instantiate(machine, { ...assumptions, renders });
    const idOf = new Map(regions.map((mr, id) => [mr, id]));
    const next = new Set<number>();
    const judged = new Set<number>();
    for (const as of system.addressSpaces) {
      const blocks = hint.blocksFor(as);
      if (blocks.length === 0) continue;
      const keys = new Set<string>();
      for (const b of blocks) {
        for (const r of b.ranges)
          keys.add(`${r.name}\0${r.priority}\0${wrap64(r.start - r.offset)}`);
      }
      // Judged: everything the address space reaches, whatever its root collapses to.
      for (const id of positionsIn(as.root, idOf).keys()) judged.add(id);
      const root = flatViewRoot(as.root);
      if (!root) continue;
      for (const [id, bases] of positionsIn(root, idOf)) {
        const r = machine.regions[id];
        if (r.alias || r.type !== "i/o") continue;
        for (const base of bases) if (keys.has(`${r.name}\0${r.priority}\0${base}`)) next.add(id);
      }
    }
    // Regions no hinted view reaches keep the default.
    for (const id of candidates) {
      if (!judged.has(id) && assumptions.renders.has(id)) next.add(id);
    }
    fixRootLines(machine, system, idOf, hint, next);
    if (sameSet(next, renders)) break;
    renders = next;
  }
  assumptions.renders.clear();
  for (const id of renders) assumptions.renders.add(id);
}

/**
 * A view's `Root memory region:` line shows where QEMU stopped collapsing single children; a
 * container there must in fact render itself (and a region we stop at without evidence must not).
 */
function fixRootLines(
  machine: ImportedMachine,
  system: MemorySystem,
  idOf: Map<MemoryRegion, number>,
  hint: HintIndex,
  renders: Set<number>,
): void {
  for (const as of system.addressSpaces) {
    const blocks = hint.blocksFor(as);
    if (blocks.length !== 1) continue;
    const wanted = blocks[0].root;
    const ours = flatViewRoot(as.root);
    if ((ours?.name ?? null) === wanted || wanted === null) continue;
    for (let mr: MemoryRegion | undefined = as.root; mr && mr !== ours; ) {
      const id = idOf.get(mr);
      if (mr.name === wanted && id !== undefined && machine.regions[id].type === "i/o") {
        renders.add(id);
        break;
      }
      mr = mr.alias ?? mr.subregions.find((c) => c.enabled);
    }
  }
}

/** Rule 2: RAM that the hint prints as `rom` is reached through a read-only alias. */
function inferReadonly(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
  hint: HintIndex,
): void {
  for (let round = 0; round < 16; round++) {
    const { system, regions } = instantiate(machine, assumptions);
    const idOf = new Map(regions.map((mr, id) => [mr, id]));
    let changed = false;
    for (const as of system.addressSpaces) {
      const blocks = hint.blocksFor(as);
      const root = flatViewRoot(as.root);
      if (blocks.length !== 1 || !root) continue;
      const lines = blocks[0].ranges;
      for (const piece of renderRanges(root, { merge: false })) {
        if (piece.readonly || !piece.via) continue;
        const line = lines.find((l) => l.start <= piece.start && piece.start <= l.end);
        if (line?.type !== "rom" || line.name !== piece.mr.name) continue;
        const id = idOf.get(piece.via);
        if (id !== undefined && !assumptions.readonly.has(id)) {
          assumptions.readonly.add(id);
          changed = true;
        }
      }
    }
    if (!changed) return;
  }
}

/** Rule 3: which of two overlapping equal-priority siblings at different starts was added last. */
function inferOverlapOrder(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
  hint: HintIndex,
): void {
  const regions = machine.regions;
  const overlaps = (a: ImportedRegion, b: ImportedRegion) =>
    a.addr < b.addr + b.size && b.addr < a.addr + a.size;
  let score: number | undefined;
  for (const parent of regions) {
    const enabled = parent.children.map((c) => regions[c]).filter((c) => c.enabled);
    for (let i = 0; i < enabled.length; i++) {
      for (let j = i + 1; j < enabled.length; j++) {
        const a = enabled[i];
        const b = enabled[j];
        if (a.priority !== b.priority || a.addr === b.addr || !overlaps(a, b)) continue;
        score ??= mismatch(instantiate(machine, assumptions).system, hint);
        if (score === 0) return;
        const order = listOrder(machine, assumptions, parent.id);
        const swapped = order.slice();
        const ia = swapped.indexOf(a.id);
        const ib = swapped.indexOf(b.id);
        [swapped[ia], swapped[ib]] = [swapped[ib], swapped[ia]];
        const trial = new Map(assumptions.order).set(parent.id, swapped);
        const trialScore = mismatch(
          instantiate(machine, { ...assumptions, order: trial }).system,
          hint,
        );
        if (trialScore < score) {
          assumptions.order.set(parent.id, swapped);
          score = trialScore;
        }
      }
    }
  }
}

/** Rule 4: the ` AS` lines of each flat block are in creation order. */
function inferAddressSpaceOrder(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
  hint: MtreeFlatView[],
): void {
  const order = assumptions.asOrder;
  const used = new Set<number>();
  for (const block of hint) {
    const members: number[] = [];
    for (const line of block.addressSpaces) {
      const i = order.find((k) => {
        const as = machine.addressSpaces[k];
        return !used.has(k) && as.name === line.name && machine.regions[as.root].name === line.root;
      });
      if (i === undefined) continue;
      used.add(i);
      members.push(i);
    }
    const positions = members.map((m) => order.indexOf(m)).sort((x, y) => x - y);
    positions.forEach((p, k) => {
      order[p] = members[k];
    });
  }
}

/** Rule 5: ` KVM` after a range means KVM listens to that many address spaces of the block. */
function inferAccelerator(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
  hint: MtreeFlatView[],
): void {
  const names = new Set<string>();
  let seen = false;
  for (const block of hint) {
    const count = Math.max(0, ...block.ranges.map((r) => r.accelerators.length));
    if (count === 0) continue;
    seen = true;
    const inOrder = assumptions.asOrder
      .map((k) => machine.addressSpaces[k])
      .filter((as) => block.addressSpaces.some((a) => a.name === as.name));
    for (const as of inOrder.slice(0, count)) names.add(as.name);
  }
  if (seen) assumptions.kvm = names;
}

function sameSet<T>(a: Set<T>, b: Set<T>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
