/**
 * Rebuilds a live memory model from QEMU 7.2's `info mtree -D` text, optionally settling what the
 * tree text leaves unsaid from the same machine's `info mtree -f` text (the "flat hint"):
 * which `i/o` regions render themselves, which aliases are read-only, the insertion order of
 * overlapping equal-priority siblings, the creation order of address spaces, and KVM.
 * Every line printed afterwards comes from rendering the rebuilt model.
 */
import type { AddressSpace } from "../address-space.ts";
import type { FlatView } from "../flat-view.ts";
import { wrap64 } from "../int.ts";
import { kvmAccelerator, MemorySystem } from "../memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../region.ts";
import { flatViewRoot, RENDER_STEP_LIMIT, renderRanges } from "../render.ts";
import {
  addressSpaceRank,
  compareRanks,
  knownReadonlyAlias,
  knownToRender,
  machineDeviceOrder,
} from "./knowledge.ts";
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

/**
 * Work done by imports so far, in steps of the inner loops (queue scans, walk events, candidate
 * checks, loop checks, regions built, inference passes). Tests read it to show that an input
 * twice as large costs about twice as much, whatever the machine's load.
 */
export const importWork = { steps: 0 };

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
  /**
   * Regions printed START-START that are 0 bytes rather than 1 (QEMU prints both alike; the
   * hint tells them apart where a view renders nothing there).
   */
  readonly empty: Set<number>;
}

/** The imported machine before it is built. */
export interface ImportedMachine {
  readonly regions: ImportedRegion[];
  /** Address spaces in the order the tree text lists them. */
  readonly addressSpaces: { readonly name: string; readonly root: number }[];
}

/** One fact the importer inferred beyond the tree text, and how sure it is. */
export interface InferredFact {
  /** What kind of fact. */
  readonly kind:
    | "renders"
    | "container"
    | "readonly"
    | "overlap-order"
    | "address-space-order"
    | "accelerator";
  /** The region or address space it is about (its name), when it is about one. */
  readonly subject?: string;
  /** Line of the tree text the subject was first printed on. */
  readonly line?: number;
  /** `hint`: read from the flat text; `known`: what QEMU's device models create; `guess`: a default. */
  readonly confidence: "hint" | "known" | "guess";
  readonly detail: string;
}

/** A rebuilt model: the machine data, the decisions taken and the live memory system. */
export interface ImportResult {
  readonly machine: ImportedMachine;
  readonly assumptions: ImportAssumptions;
  /** What was inferred beyond the tree text (without a flat hint), for `--explain` and JSON. */
  readonly inferred: InferredFact[];
  readonly system: MemorySystem;
  /** Live regions by imported id. */
  readonly regions: MemoryRegion[];
}

/** Imports `info mtree -D` text, with `info mtree -f` text of the same machine as the hint. */
export function importMtree(treeText: string, flatText?: string): ImportResult {
  const machine = buildMachine(parseMtreeTree(treeText));
  const assumptions = defaultAssumptions(machine);
  let inferred: InferredFact[];
  if (flatText !== undefined) {
    inferFromFlat(machine, assumptions, parseMtreeFlat(flatText));
    inferred = [
      {
        kind: "renders",
        confidence: "hint",
        detail: `${assumptions.renders.size} i/o regions render themselves, ${assumptions.readonly.size} regions are read-only, address-space order and accelerator as the flat text shows`,
      },
    ];
  } else {
    inferred = inferWithoutHint(machine, assumptions);
  }
  const { system, regions } = instantiate(machine, assumptions);
  return { machine, assumptions, inferred, system, regions };
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
  /** Index in the list of all occurrences (pre-order, blocks in printed order). */
  index: number;
}

function regionSize(line: MtreeLine): bigint {
  // START-START is printed for 0- and 1-byte regions alike; 1 byte is what real machines mean.
  return wrap64(line.end - line.start) + 1n;
}

/**
 * The occurrences of one block in pre-order (appended to `all`).
 * Iterative: a block may nest thousands of levels deep.
 */
function occurrences(
  root: MtreeLine,
  block: "g" | "s",
  blockIndex: number,
  all: Occurrence[],
): Occurrence {
  const make = (line: MtreeLine, parent: Occurrence | undefined): Occurrence => ({
    line,
    parent,
    addr: parent ? wrap64(line.start - parent.line.start) : line.start,
    children: [],
    signature: 0,
    block,
    blockIndex,
    index: 0,
  });
  const top = make(root, undefined);
  const stack = [top];
  while (stack.length > 0) {
    const occ = stack.pop()!;
    importWork.steps++;
    occ.index = all.length;
    all.push(occ);
    for (const child of occ.line.children) occ.children.push(make(child, occ));
    for (let i = occ.children.length - 1; i >= 0; i--) stack.push(occ.children[i]);
  }
  return top;
}

/**
 * Structural signatures: equal for occurrences whose subtrees print identically. Only subtrees
 * that could equal a block root's (same name, same number of lines) are hashed; every other
 * occurrence gets a signature of its own (negative), as no other subtree can equal it where
 * signatures are compared.
 */
function assignSignatures(all: Occurrence[], roots: Occurrence[]): void {
  const n = all.length;
  const size = new Int32Array(n).fill(1);
  for (let k = n - 1; k >= 0; k--) {
    const parent = all[k].parent;
    if (parent) size[parent.index] += size[k];
  }
  // Block roots by name, then by subtree size.
  const rootsByName = new Map<string, Map<number, Occurrence[]>>();
  for (const r of roots) {
    let bySize = rootsByName.get(r.line.name);
    if (!bySize) {
      bySize = new Map();
      rootsByName.set(r.line.name, bySize);
    }
    const list = bySize.get(size[r.index]);
    if (list) list.push(r);
    else bySize.set(size[r.index], [r]);
  }
  // Subtrees to hash, as +1/-1 marks over pre-order positions (a subtree is contiguous).
  const marks = new Int32Array(n + 1);
  const mark = (o: Occurrence) => {
    marks[o.index]++;
    marks[o.index + size[o.index]]--;
  };
  const markedLists = new Set<Occurrence[]>();
  for (const o of all) {
    importWork.steps++;
    const list = rootsByName.get(o.line.name)?.get(size[o.index]);
    if (!list || (list.length === 1 && list[0] === o)) continue;
    mark(o);
    if (!markedLists.has(list)) {
      markedLists.add(list);
      for (const r of list) mark(r);
    }
  }
  const hashed = new Uint8Array(n);
  for (let k = 0, depth = 0; k < n; k++) {
    depth += marks[k];
    hashed[k] = depth > 0 ? 1 : 0;
  }
  const interned = new Map<string, number>();
  // Children come after their parent in pre-order: signatures in reverse.
  for (let k = n - 1; k >= 0; k--) {
    const occ = all[k];
    if (!hashed[k]) {
      occ.signature = -1 - k;
      continue;
    }
    const line = occ.line;
    // Free text is length-prefixed, so distinct lines never share a key.
    let key = `${line.name.length}:${line.name}|${regionSize(line)}|${line.priority}|${line.type}|${line.nonvolatile ? 1 : 0}${line.disabled ? 1 : 0}|${refKey(line.owner)}|${refKey(line.parent)}|`;
    if (line.alias) key += `${line.alias.target.length}:${line.alias.target}@${line.alias.start}`;
    for (const c of occ.children) key += `|${c.addr},${c.signature}`;
    let sig = interned.get(key);
    if (sig === undefined) {
      sig = interned.size;
      interned.set(key, sig);
    }
    occ.signature = sig;
  }
}

function refKey(ref: QomObjectRef | undefined): string {
  return ref ? `${ref.kind} ${ref.key} ${ref.value.length}:${ref.value}` : "-";
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

/** Occurrences queued by key, consumed front to back; dead entries are skipped once. */
class CandidateQueues {
  readonly #lists = new Map<string, Occurrence[]>();
  readonly #heads = new Map<string, number>();
  push(key: string, occ: Occurrence): void {
    const list = this.#lists.get(key);
    if (list) list.push(occ);
    else this.#lists.set(key, [occ]);
  }
  /** The first entry that is not dead; entries found dead are dropped for good. */
  first(key: string, dead: (o: Occurrence) => boolean): Occurrence | undefined {
    const list = this.#lists.get(key);
    if (!list) return undefined;
    let head = this.#heads.get(key) ?? 0;
    while (head < list.length && dead(list[head])) {
      head++;
      importWork.steps++;
    }
    this.#heads.set(key, head);
    return list[head];
  }
}

function buildMachine(tree: MtreeTree): ImportedMachine {
  const all: Occurrence[] = [];
  const groupRoots = tree.groups.map((g, i) => occurrences(g.root, "g", i, all));
  const sectionRoots = tree.sections.map((s, i) => occurrences(s.root, "s", i, all));
  assignSignatures(all, [...groupRoots, ...sectionRoots]);
  const uf = new UnionFind();
  for (let i = 0; i < all.length; i++) uf.add();
  const unify = (a: Occurrence, b: Occurrence): void => {
    const pairs: [Occurrence, Occurrence][] = [[a, b]];
    while (pairs.length > 0) {
      const [x, y] = pairs.pop()!;
      uf.union(x.index, y.index);
      x.children.forEach((c, i) => {
        pairs.push([c, y.children[i]]);
      });
    }
  };
  const hasGroupRoot = new Set<number>();
  const hasSectionRoot = new Set<number>();
  const classOf = (o: Occurrence) => uf.find(o.index);
  const keyOf = (o: Occurrence) => `${o.signature}:${o.addr}`;

  // Equal signatures mean equal subtrees, so a block root never matches a region of its own
  // block (a subtree cannot hold a copy of itself): each candidate list is consumed in order.
  const nested = new CandidateQueues();
  const inGroups = new CandidateQueues();
  const inSections = new CandidateQueues();
  // Only keys some block root looks up are queued (a key needs the root's signature).
  const groupRootSignatures = new Set(groupRoots.map((r) => r.signature));
  const sectionRootSignatures = new Set(sectionRoots.map((r) => r.signature));
  for (const o of all) {
    const forGroup = o.parent !== undefined && groupRootSignatures.has(o.signature);
    const forSection =
      (o.block === "g" || o.parent !== undefined) && sectionRootSignatures.has(o.signature);
    if (!forGroup && !forSection) continue;
    const key = keyOf(o);
    if (forGroup) nested.push(key, o);
    if (forSection) {
      if (o.block === "g") inGroups.push(key, o);
      else inSections.push(key, o);
    }
  }
  // A group's root printed again as a subregion elsewhere is the same region.
  for (const root of groupRoots) {
    const match = nested.first(keyOf(root), (o) => hasGroupRoot.has(classOf(o)));
    if (match) unify(match, root);
    hasGroupRoot.add(classOf(root));
  }
  // A memory-region section is a region printed elsewhere too, if an identical one is there.
  for (const root of sectionRoots) {
    const dead = (o: Occurrence) => hasSectionRoot.has(classOf(o));
    const match = inGroups.first(keyOf(root), dead) ?? inSections.first(keyOf(root), dead);
    if (match) unify(match, root);
    hasSectionRoot.add(classOf(root));
  }

  // One region per class, numbered in first-appearance order.
  // Indexed by class (an occurrence index): -1 until the class has its id.
  const ids = new Int32Array(all.length).fill(-1);
  const reps: Occurrence[] = [];
  for (const occ of all) {
    const c = classOf(occ);
    if (ids[c] < 0) {
      ids[c] = reps.length;
      reps.push(occ);
    }
  }
  const idOf = (o: Occurrence) => ids[classOf(o)];
  const containerOf = new Int32Array(reps.length).fill(-1);
  const addrOf: (bigint | undefined)[] = new Array(reps.length);
  for (const occ of all) {
    if (occ.parent) {
      const id = idOf(occ);
      containerOf[id] = idOf(occ.parent);
      addrOf[id] = occ.addr;
    }
  }
  const regions: ImportedRegion[] = reps.map((occ, id) => {
    const line = occ.line;
    return {
      id,
      line: line.lineNumber,
      name: line.name,
      addr: addrOf[id] ?? occ.addr,
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
      container: containerOf[id] < 0 ? undefined : containerOf[id],
    };
  });

  resolveAliasTargets(regions, groupRoots.map(idOf), sectionRoots.map(idOf));
  const addressSpaces = tree.groups.flatMap((g, i) =>
    g.names.map((name) => ({ name, root: idOf(groupRoots[i]) })),
  );
  return { regions, addressSpaces };
}

function sameOwner(a: QomObjectRef | undefined, b: QomObjectRef | undefined): boolean {
  return !!a && !!b && a.kind === b.kind && a.key === b.key && a.value === b.value;
}

/**
 * Assigns each alias its target among the `memory-region:` sections of its target's name.
 *
 * QEMU queues a section when the printer first meets an alias to it, walking the groups and
 * then the sections depth first; replaying that walk, each alias either points at a section
 * already queued or queues the next one. Where both fit, QEMU's structure decides, in this
 * order: the owner (`-o`: a PCI bridge's window aliases and its own containers share the bridge
 * as owner); the count of sections still to be queued against the aliases still to come; a
 * window that shows the target's subregions; the aliases of one bridge (same container,
 * different names) sharing a target; queuing a new section. A choice that would make a loop
 * (the target reaching the alias again) is never taken. One pass: linear in the text, plus the
 * loop checks, which only follow aliases already assigned.
 */
function resolveAliasTargets(
  regions: ImportedRegion[],
  groupRoots: number[],
  sectionRoots: number[],
): void {
  // Pre-order numbering of the containment forest: ancestry tests and subtree alias lists.
  const tin = new Int32Array(regions.length).fill(-1);
  const tout = new Int32Array(regions.length);
  let clock = 0;
  for (const r of regions) {
    if (r.container !== undefined || tin[r.id] >= 0) continue;
    const stack: [number, boolean][] = [[r.id, false]];
    while (stack.length > 0) {
      const [id, done] = stack.pop()!;
      if (done) {
        tout[id] = clock;
        continue;
      }
      if (tin[id] >= 0) continue;
      tin[id] = clock++;
      stack.push([id, true]);
      const children = regions[id].children;
      for (let i = children.length - 1; i >= 0; i--) stack.push([children[i], false]);
    }
  }
  const contains = (outer: number, inner: number) =>
    tin[outer] <= tin[inner] && tin[inner] < tout[outer];

  // The events of QEMU's printing walk: aliases met, and the start of each section's walk.
  const events: number[] = []; // region id of an alias, or -1 - section index
  const walk = (root: number): void => {
    const stack = [root];
    const seen = new Set<number>();
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const r = regions[id];
      if (r.alias) events.push(id);
      for (let i = r.children.length - 1; i >= 0; i--) stack.push(r.children[i]);
    }
  };
  for (const root of groupRoots) walk(root);
  sectionRoots.forEach((root, index) => {
    events.push(-1 - index);
    walk(root);
  });

  const sectionName = (s: number) => regions[sectionRoots[s]].name;
  const aliasesLeft = new Map<string, number>();
  const sectionsLeft = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string, d: number) => m.set(k, (m.get(k) ?? 0) + d);
  // A region printed in several blocks is met several times; only its first meeting counts.
  const firstMeeting = new Set<number>();
  for (const e of events) {
    if (e >= 0 && !firstMeeting.has(e)) {
      firstMeeting.add(e);
      bump(aliasesLeft, regions[e].alias!.targetName, 1);
    }
  }
  const done = new Set<number>();
  for (let s = 0; s < sectionRoots.length; s++) bump(sectionsLeft, sectionName(s), 1);

  const queuedByName = new Map<string, number[]>();
  /** Per section: `container\0aliasName` of the aliases assigned to it. */
  const assignedFrom: Set<string>[] = sectionRoots.map(() => new Set());
  const containersFrom: Set<number>[] = sectionRoots.map(() => new Set());
  /** Every alias by pre-order position, for "aliases inside a subtree" (unassigned: skipped). */
  const aliasesAt = regions
    .filter((r) => r.alias)
    .map((r) => ({ tin: tin[r.id], alias: r.id }))
    .sort((x, y) => x.tin - y.tin);

  // Loop check: does rendering `target` reach `alias`? Follows assigned aliases only.
  let loopBudget = 4_000_000;
  const makesLoop = (alias: number, target: number): boolean => {
    if (contains(target, alias)) return true;
    const seen = new Set<number>([target]);
    const todo = [target];
    while (todo.length > 0) {
      importWork.steps++;
      if (--loopBudget < 0) return true;
      const x = todo.pop()!;
      // Assigned aliases inside x's subtree: a binary search, then a scan.
      let lo = 0;
      let hi = aliasesAt.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (aliasesAt[mid].tin < tin[x]) lo = mid + 1;
        else hi = mid;
      }
      for (let k = lo; k < aliasesAt.length && aliasesAt[k].tin < tout[x]; k++) {
        importWork.steps++;
        if (--loopBudget < 0) return true;
        const next = regions[aliasesAt[k].alias].alias!.target;
        if (next < 0) continue;
        if (contains(next, alias)) return true;
        if (!seen.has(next)) {
          seen.add(next);
          todo.push(next);
        }
      }
    }
    return false;
  };
  // Does the alias's window [offset, offset + size) show an enabled subregion of section s?
  const windows = new Map<number, { starts: bigint[]; maxEnd: bigint[] }>();
  const windowShows = (alias: ImportedRegion, s: number): boolean => {
    if (alias.size <= 1n) return false;
    let w = windows.get(s);
    if (!w) {
      const kids = regions[sectionRoots[s]].children
        .map((c) => regions[c])
        .filter((c) => c.enabled)
        .sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : 0));
      const maxEnd: bigint[] = [];
      for (const k of kids) {
        const end = k.addr + k.size;
        maxEnd.push(
          maxEnd.length && maxEnd[maxEnd.length - 1] > end ? maxEnd[maxEnd.length - 1] : end,
        );
      }
      w = { starts: kids.map((k) => k.addr), maxEnd };
      windows.set(s, w);
    }
    const from = alias.alias!.offset;
    const to = from + alias.size;
    let lo = 0;
    let hi = w.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (w.starts[mid] < to) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && w.maxEnd[lo - 1] > from;
  };

  let queued = 0;
  const enqueue = (): void => {
    const name = sectionName(queued);
    const list = queuedByName.get(name);
    if (list) list.push(queued);
    else queuedByName.set(name, [queued]);
    bump(sectionsLeft, name, -1);
    queued++;
  };
  const assign = (id: number, s: number): void => {
    const r = regions[id];
    r.alias!.target = sectionRoots[s];
    assignedFrom[s].add(`${r.container ?? -1}\0${r.name}`);
    containersFrom[s].add(r.container ?? -1);
    if (s === queued) enqueue();
  };
  // Hostile texts can hold thousands of same-named sections: look at the latest few.
  const RECENT = 64;

  for (const e of events) {
    if (e < 0) {
      // A section's walk starts; a well-formed text has queued it already.
      while (queued <= -1 - e) enqueue();
      continue;
    }
    if (done.has(e)) continue;
    done.add(e);
    const r = regions[e];
    const name = r.alias!.targetName;
    const fresh =
      queued < sectionRoots.length &&
      sectionName(queued) === name &&
      r.type === regions[sectionRoots[queued]].type
        ? queued
        : -1;
    const all = queuedByName.get(name) ?? [];
    // Most recently queued first: a bridge's second window follows its first.
    const older = all
      .slice(Math.max(0, all.length - RECENT))
      .filter((s) => regions[sectionRoots[s]].type === r.type)
      .reverse();
    const forcedFresh = fresh >= 0 && (sectionsLeft.get(name) ?? 0) >= (aliasesLeft.get(name) ?? 0);
    bump(aliasesLeft, name, -1);
    const options = fresh >= 0 ? [...older, fresh] : older;
    const safe = new Map<number, boolean>();
    const isSafe = (s: number): boolean => {
      if (s === fresh) return true; // not walked yet: nothing assigned inside it
      let ok = safe.get(s);
      if (ok === undefined) {
        ok = !makesLoop(e, sectionRoots[s]);
        safe.set(s, ok);
      }
      return ok;
    };
    importWork.steps += options.length + 1;
    const pick = (test: (s: number) => boolean) =>
      options.find((s) => {
        importWork.steps++;
        return test(s) && isSafe(s);
      });
    const container = r.container ?? -1;
    const key = `${container}\0${r.name}`;
    // A bridge's aliases (same container, different names) share a target; among several
    // such candidates, and otherwise among all, a window that shows a candidate's subregions.
    const siblings = options.filter(
      (s) => s !== fresh && !assignedFrom[s].has(key) && containersFrom[s].has(container),
    );
    const showing = (list: number[]) =>
      list.some((s) => !windowShows(r, s))
        ? list.find((s) => windowShows(r, s) && isSafe(s))
        : undefined;
    const choice =
      (r.owner ? pick((s) => sameOwner(regions[sectionRoots[s]].owner, r.owner)) : undefined) ??
      (forcedFresh ? fresh : undefined) ??
      (siblings.length > 1 ? showing(siblings) : undefined) ??
      siblings.find(isSafe) ??
      showing(options) ??
      (fresh >= 0 ? fresh : undefined) ??
      pick(() => true) ??
      // An alias into its own container is legal when its window moves (rendering clips it:
      // `alias 1 @armsse-container` on mps2-an505); only taken when nothing else fits.
      options[0];
    if (choice !== undefined) {
      assign(e, choice);
      continue;
    }
    // Not a replay of QEMU's order (an edited text): any section of that name without a loop.
    const any = sectionRoots.findIndex((root, s) => sectionName(s) === name && !makesLoop(e, root));
    if (any < 0) {
      throw new MtreeSyntaxError(
        r.line,
        `a \`memory-region: ${name}\` section for the target of alias ${r.name} (one that does not lead back to the alias)`,
      );
    }
    regions[e].alias!.target = sectionRoots[any];
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
    empty: new Set(),
  };
}

/** Subregion list order: printed order, stably sorted by priority (higher first). */
function listOrder(machine: ImportedMachine, assumptions: ImportAssumptions, id: number): number[] {
  const given = assumptions.order.get(id);
  if (given) return given;
  const regions = machine.regions;
  const children = regions[id].children;
  // Usually sorted already (one priority): then the printed list itself, never changed.
  let sorted = true;
  for (let i = 1; i < children.length && sorted; i++) {
    sorted = regions[children[i - 1]].priority >= regions[children[i]].priority;
  }
  if (sorted) return children;
  return children.slice().sort((a, b) => regions[b].priority - regions[a].priority);
}

function instantiate(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
): { system: MemorySystem; regions: MemoryRegion[] } {
  const system = new MemorySystem({
    accelerator: assumptions.kvm ? kvmAccelerator(assumptions.kvm) : "qtest",
  });
  const live: MemoryRegion[] = [];
  const build = (id: number): MemoryRegion => {
    importWork.steps++;
    const r = machine.regions[id];
    const opts = { owner: r.owner, parent: r.parent };
    const size = assumptions.empty.has(id) ? 0n : r.size;
    let mr: MemoryRegion;
    if (r.alias) mr = system.alias(r.name, live[r.alias.target], r.alias.offset, size, opts);
    else if (r.type === "ram") mr = system.ram(r.name, size, opts);
    else if (r.type === "rom") mr = system.rom(r.name, size, opts);
    else if (r.type === "romd") mr = system.romDevice(r.name, size, {}, opts);
    else if (r.type === "ramd") mr = system.ramDevice(r.name, size, opts);
    else if (assumptions.renders.has(id)) mr = system.reservation(r.name, size, opts);
    else mr = system.container(r.name, size, opts);
    // Regions keep exactly the owner and parent the text gave.
    mr.parent = r.parent;
    live[id] = mr;
    return mr;
  };
  // An alias needs its target first: follow each chain iteratively (chains can be long).
  const create = (id: number): void => {
    const chain: number[] = [];
    const onChain = new Set<number>();
    let at = id;
    while (live[at] === undefined) {
      if (onChain.has(at)) {
        const r = machine.regions[at];
        throw new MtreeSyntaxError(r.line, `an alias chain that ends (alias ${r.name} loops)`);
      }
      onChain.add(at);
      chain.push(at);
      const alias = machine.regions[at].alias;
      if (!alias) break;
      at = alias.target;
    }
    for (let i = chain.length - 1; i >= 0; i--) build(chain[i]);
  };
  system.transaction(() => {
    for (const r of machine.regions) create(r.id);
    for (const r of machine.regions) {
      const mr = live[r.id];
      if (!r.enabled) mr.setEnabled(false);
      if (r.nonvolatile) mr.setNonvolatile(true);
      if (assumptions.readonly.has(r.id)) mr.setReadonly(true);
      if (r.container === undefined) mr.setAddress(r.addr);
      const order = listOrder(machine, assumptions, r.id);
      const placements = [];
      // Added last to first: each goes ahead of its equal-priority siblings.
      for (let i = order.length - 1; i >= 0; i--) {
        const child = machine.regions[order[i]];
        placements.push({ region: live[child.id], offset: child.addr, priority: child.priority });
      }
      mr.addSubregionsOverlap(placements);
    }
  });
  for (const i of assumptions.asOrder) {
    const as = machine.addressSpaces[i];
    system.addressSpace(live[as.root], as.name);
  }
  return { system, regions: live };
}

// ---------------------------------------------------------------------------------------------
// Inference from the tree text alone

/** Settles what the tree text leaves open from what QEMU's device models are known to create. */
function inferWithoutHint(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
): InferredFact[] {
  const facts: InferredFact[] = [];
  let guessedLeaves = 0;
  let guessedParents = 0;
  for (const r of machine.regions) {
    if (r.alias) {
      if (knownReadonlyAlias(r.name)) {
        assumptions.readonly.add(r.id);
        facts.push({
          kind: "readonly",
          subject: r.name,
          line: r.line,
          confidence: "known",
          detail: "PAM read-from-ROM windows are read-only aliases",
        });
      }
      continue;
    }
    if (r.type !== "i/o") continue;
    const { renders, known } = knownToRender(r.name, r.children.length > 0);
    if (renders) assumptions.renders.add(r.id);
    else assumptions.renders.delete(r.id);
    if (known) {
      facts.push({
        kind: renders ? "renders" : "container",
        subject: r.name,
        line: r.line,
        confidence: "known",
        detail: renders
          ? "fills the gaps between its subregions (MMIO or port I/O)"
          : "a pure container although it has no subregions",
      });
    } else if (r.children.length === 0) guessedLeaves++;
    else guessedParents++;
  }
  if (guessedLeaves > 0) {
    facts.push({
      kind: "renders",
      confidence: "guess",
      detail: `${guessedLeaves} other i/o regions without subregions taken as MMIO that renders itself`,
    });
  }
  if (guessedParents > 0) {
    facts.push({
      kind: "container",
      confidence: "guess",
      detail: `${guessedParents} other i/o regions with subregions taken as pure containers`,
    });
  }
  const nested = nestedSiblingsFirst(machine, assumptions);
  if (nested > 0) {
    facts.push({
      kind: "overlap-order",
      confidence: "guess",
      detail: `${nested} regions lying wholly inside an equal-priority sibling taken as added after it (so they show through)`,
    });
  }
  const machineDevices = machineDeviceOrder(machine.addressSpaces.map((as) => as.name));
  const rank = machine.addressSpaces.map((as) => {
    const root = machine.regions[as.root];
    return addressSpaceRank(as.name, root.owner, root.name, machineDevices);
  });
  // Stable: equal ranks keep the order of the text.
  assumptions.asOrder.sort((a, b) => compareRanks(rank[a], rank[b]));
  const moved = afterTheirBridges(machine, assumptions.asOrder);
  assumptions.asOrder = moved.order;
  if (moved.named > 0) {
    facts.push({
      kind: "address-space-order",
      confidence: "known",
      detail: `${moved.named} spaces a device creates after its own PCI function (ppc440 PCI-X pci-bm)`,
    });
  }
  if (moved.edges > 0) {
    facts.push({
      kind: "address-space-order",
      confidence: "known",
      detail: `${moved.edges} devices seen behind a PCI bridge (by -o owners) created after it`,
    });
  }
  facts.push({
    kind: "address-space-order",
    confidence: machine.regions.some((r) => r.owner) ? "known" : "guess",
    detail:
      "memory, I/O, then each CPU's spaces, then devices" +
      (machine.regions.some((r) => r.owner)
        ? " in QOM creation order (from -o owners)"
        : " in the order of the text (give -o text to order them)"),
  });
  facts.push({
    kind: "accelerator",
    confidence: "guess",
    detail:
      "TCG: the tree text does not say whether KVM was on (its flat text would end RAM lines in KVM)",
  });
  return facts;
}

/**
 * Equal-priority siblings at different starts print by start, which does not say which was
 * added last and so shows through where they overlap (softmmu/memory.c: a subregion goes ahead
 * of the equal-priority ones already there, and the first in the list is rendered first). When
 * one lies wholly inside the other, the inner one is taken as the later: added first, it would
 * be hidden entirely, and boards map a device over a larger ROM, RAM or window to make it
 * visible (the Mac's NVRAM inside the firmware ROM, an MSI-X BAR inside another BAR); not
 * inside an alias. Returns
 * how many regions moved. Bounded like the hinted search: 10^6 pairs, 256 moves.
 */
function nestedSiblingsFirst(machine: ImportedMachine, assumptions: ImportAssumptions): number {
  const regions = machine.regions;
  let checks = OVERLAP_CHECKS;
  let moves = OVERLAP_TRIALS;
  let moved = 0;
  for (const parent of regions) {
    const enabled = parent.children.map((c) => regions[c]).filter((c) => c.enabled);
    for (let i = 0; i < enabled.length; i++) {
      for (let j = i + 1; j < enabled.length; j++) {
        const a = enabled[i];
        const b = enabled[j];
        importWork.steps++;
        if (b.addr >= a.addr + a.size || --checks < 0) break;
        if (a.priority !== b.priority || a.addr === b.addr) continue;
        // A PCI bridge's window aliases are removed and added again at each window update
        // (hw/pci/pci_bridge.c, pci_bridge_update_mappings), so they are usually the newest.
        if (b.addr + b.size > a.addr + a.size || a.alias) continue;
        if (--moves < 0) return moved;
        const order = listOrder(machine, assumptions, parent.id).slice();
        const ia = order.indexOf(a.id);
        const ib = order.indexOf(b.id);
        if (ib < ia) continue;
        order.splice(ib, 1);
        order.splice(ia, 0, b.id);
        assumptions.order.set(parent.id, order);
        moved++;
      }
    }
  }
  return moved;
}

const ownerKey = (ref: QomObjectRef): string => `${ref.kind}\u0000${ref.key}\u0000${ref.value}`;

/**
 * Address spaces a device's realize creates after the PCI function it creates on its own bus:
 * hw/ppc/ppc440_pcix.c creates the `ppc4xx-host-bridge` function, then its bus-master space
 * `pci-bm` (its owner, the host, has the lower QOM index).
 */
const CREATED_AFTER: readonly (readonly [string, string])[] = [["pci-bm", "ppc4xx-host-bridge"]];

/**
 * Reorders address spaces so that every device seen on a PCI bridge's secondary bus comes after
 * that bridge: a device is realized on an existing bus (`bus=` must name a bridge created before
 * it), and its bus-master space is created in its realize (hw/pci/pci.c,
 * `do_pci_register_device`). The secondary bus's containers (`pci_bridge_pci`, `pci_bridge_io`,
 * hw/pci/pci_bridge.c) are owned by the bridge; a subregion with another owner in one of them
 * (a child bridge's windows, a BAR) belongs to a device on that bus. Otherwise the given order
 * is kept (a stable topological sort, the earliest ready space first); linear with a heap.
 * The same sort puts the spaces of `CREATED_AFTER` in their creation order.
 */
function afterTheirBridges(
  machine: ImportedMachine,
  order: number[],
): { order: number[]; edges: number; named: number } {
  const parents = new Map<string, Set<string>>();
  let edges = 0;
  for (const r of machine.regions) {
    if (r.alias || !r.owner || (r.name !== "pci_bridge_pci" && r.name !== "pci_bridge_io"))
      continue;
    const bridge = ownerKey(r.owner);
    for (const c of r.children) {
      const owner = machine.regions[c].owner;
      if (!owner) continue;
      const device = ownerKey(owner);
      if (device === bridge) continue;
      const set = parents.get(device) ?? new Set<string>();
      if (!set.has(bridge)) edges++;
      set.add(bridge);
      parents.set(device, set);
    }
  }
  // Spaces a device model creates after another space it creates first, by name.
  const names = new Set(machine.addressSpaces.map((as) => as.name));
  let namedEdges = 0;
  for (const [later, earlier] of CREATED_AFTER) {
    if (!names.has(later) || !names.has(earlier)) continue;
    parents.set(`\u0001${later}`, new Set([`\u0001${earlier}`]));
    namedEdges++;
  }
  if (edges + namedEdges === 0) return { order, edges, named: 0 };
  // Each space waits for every space of its device's bridges.
  const spacesOf = new Map<string, number[]>();
  const add = (key: string, position: number) => {
    const list = spacesOf.get(key);
    if (list) list.push(position);
    else spacesOf.set(key, [position]);
  };
  order.forEach((as, position) => {
    const space = machine.addressSpaces[as];
    const owner = machine.regions[space.root].owner;
    if (owner) add(ownerKey(owner), position);
    add(`\u0001${space.name}`, position);
  });
  // Nodes: the spaces (by position), then per device a gate "all its spaces placed" and a
  // gate "all its bridges' first gates passed": edges stay linear in spaces plus bridge links.
  const waiting: number[] = order.map(() => 0);
  const dependents: number[][] = order.map(() => []);
  const gates = new Map<string, { done: number; ready: number }>();
  const gate = (device: string) => {
    let g = gates.get(device);
    if (!g) {
      g = { done: waiting.length, ready: waiting.length + 1 };
      waiting.push(0, 0);
      dependents.push([], []);
      gates.set(device, g);
    }
    return g;
  };
  const link = (before: number, after: number) => {
    importWork.steps++;
    waiting[after]++;
    dependents[before].push(after);
  };
  for (const [device, bridges] of parents) {
    const ready = gate(device).ready;
    for (const bridge of bridges) link(gate(bridge).done, ready);
  }
  for (const [device, positions] of spacesOf) {
    const g = gates.get(device);
    if (!g) continue;
    for (const position of positions) {
      link(position, g.done);
      link(g.ready, position);
    }
  }
  const heap = new MinHeap();
  const result: number[] = [];
  const placed = order.map(() => false);
  // Gates pass as soon as they are ready; spaces wait in the heap for their turn.
  const pass: number[] = [];
  const becomesReady = (node: number) => {
    if (node < order.length) heap.push(node);
    else pass.push(node);
  };
  const release = (node: number) => {
    importWork.steps++;
    for (const next of dependents[node]) if (--waiting[next] === 0) becomesReady(next);
  };
  waiting.forEach((w, node) => {
    if (w === 0) becomesReady(node);
  });
  for (;;) {
    const g = pass.pop();
    if (g !== undefined) {
      release(g);
      continue;
    }
    const p = heap.pop();
    if (p === undefined) break;
    result.push(order[p]);
    placed[p] = true;
    release(p);
  }
  // A loop (only in inconsistent text) leaves spaces unplaced: they keep their order.
  placed.forEach((done, position) => {
    if (!done) result.push(order[position]);
  });
  return { order: result, edges, named: namedEdges };
}

/** A binary min-heap of numbers. */
class MinHeap {
  private readonly items: number[] = [];
  push(x: number): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (a[up] <= x) break;
      a[i] = a[up];
      i = up;
    }
    a[i] = x;
  }
  pop(): number | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1] < a[l] ? l + 1 : l;
        if (a[c] >= last) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

// ---------------------------------------------------------------------------------------------
// Inference from the flat hint

interface HintIndex {
  /** Hint blocks that list an address space with this name and root name. */
  blocksFor(as: AddressSpace): MtreeFlatView[];
  /** A block's position in the hint. */
  idOf(block: MtreeFlatView): number;
}

function indexHint(hint: MtreeFlatView[]): HintIndex {
  const byKey = new Map<string, MtreeFlatView[]>();
  for (const view of hint) {
    for (const a of view.addressSpaces) {
      const key = `${a.name}\0${a.root}`;
      const list = byKey.get(key);
      if (!list) byKey.set(key, [view]);
      else if (list[list.length - 1] !== view) list.push(view);
    }
  }
  const ids = new Map(hint.map((view, i) => [view, i]));
  return {
    blocksFor: (as) => byKey.get(`${as.name}\0${as.root.name}`) ?? [],
    idOf: (block) => ids.get(block) ?? -1,
  };
}

/** How many lines differ between what the model renders and what the hint says. */
function mismatch(system: MemorySystem, hint: HintIndex): number {
  let total = 0;
  // Address spaces share views and blocks: each (view, block) pair is compared once.
  const theirsOf = new Map<MtreeFlatView, Set<string>>();
  const mineOf = new Map<FlatView, Set<string>>();
  const diffOf = new Map<FlatView, Map<MtreeFlatView, number>>();
  for (const as of system.addressSpaces) {
    const blocks = hint.blocksFor(as);
    if (blocks.length === 0) continue;
    let mine = mineOf.get(as.view);
    if (!mine) {
      mine = new Set(flatRangeLines(as.view));
      mineOf.set(as.view, mine);
    }
    let diffs = diffOf.get(as.view);
    if (!diffs) {
      diffs = new Map();
      diffOf.set(as.view, diffs);
    }
    let best = Number.POSITIVE_INFINITY;
    for (const block of blocks) {
      let diff = diffs.get(block);
      if (diff === undefined) {
        let theirs = theirsOf.get(block);
        if (!theirs) {
          theirs = new Set(block.ranges.map((r) => r.text));
          theirsOf.set(block, theirs);
        }
        diff = 0;
        for (const l of mine) if (!theirs.has(l)) diff++;
        for (const l of theirs) if (!mine.has(l)) diff++;
        importWork.steps += mine.size + theirs.size;
        diffs.set(block, diff);
      }
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
  inferEmpty(machine, assumptions, index);
}

/** Most START-START aliases and containers tried at 0 bytes (each trial re-renders). */
const EMPTY_TRIALS = 64;

/**
 * Rule 6: an alias or container printed START-START is 0 bytes, not 1, when that brings the
 * rendering closer to the hint (QEMU 10.0's AMD-Vi IOAPIC space aliases a region before it has
 * a size, and its view prints `No rendered FlatView`). Only tried where the model still differs.
 */
function inferEmpty(
  machine: ImportedMachine,
  assumptions: ImportAssumptions,
  hint: HintIndex,
): void {
  const candidates = machine.regions.filter(
    (r) => r.size === 1n && (r.alias !== undefined || r.type === "i/o") && r.children.length === 0,
  );
  if (candidates.length === 0) return;
  let score = mismatch(instantiate(machine, assumptions).system, hint);
  for (const r of candidates.slice(0, EMPTY_TRIALS)) {
    if (score === 0) return;
    if (!r.alias && assumptions.renders.has(r.id)) continue;
    assumptions.empty.add(r.id);
    const trial = mismatch(instantiate(machine, assumptions).system, hint);
    if (trial < score) score = trial;
    else assumptions.empty.delete(r.id);
  }
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
  // [region, base, clip start, clip end] to visit, or [alias] to take off the path.
  type Visit = [MemoryRegion, bigint, bigint, bigint] | [MemoryRegion];
  const stack: Visit[] = [[root, 0n, 0n, 1n << 64n]];
  const onPath = new Set<MemoryRegion>();
  let steps = 0;
  while (stack.length > 0) {
    const visit = stack.pop()!;
    if (visit.length === 1) {
      onPath.delete(visit[0]);
      continue;
    }
    // Bounded like rendering: no alias inside itself, and a step budget.
    if (++steps > RENDER_STEP_LIMIT) break;
    importWork.steps++;
    const [mr, base, clipStart, clipEnd] = visit;
    if (!mr.enabled) continue;
    const pos = base + mr.addr;
    const start = pos > clipStart ? pos : clipStart;
    const end = pos + mr.size < clipEnd ? pos + mr.size : clipEnd;
    if (end <= start) continue;
    const id = idOf.get(mr);
    if (id !== undefined) {
      const set = out.get(id) ?? new Set<bigint>();
      set.add(wrap64(pos));
      out.set(id, set);
    }
    const target = mr.alias;
    if (target) {
      if (onPath.has(mr)) continue;
      onPath.add(mr);
      stack.push([mr]);
      stack.push([target, pos - target.addr - mr.aliasOffset, start, end]);
      continue;
    }
    for (const child of mr.subregions) stack.push([child, pos, start, end]);
  }
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
    // Many address spaces share a root and a block: each is looked at once per round.
    const keysOf = new Map<MtreeFlatView, Set<string>>();
    const rootsSeen = new Set<MemoryRegion>();
    const pairsSeen = new Set<string>();
    const viewIds = new Map<MemoryRegion, number>();
    const positionsOf = new Map<MemoryRegion, Map<number, Set<bigint>>>();
    for (const as of system.addressSpaces) {
      const blocks = hint.blocksFor(as);
      if (blocks.length === 0) continue;
      if (!rootsSeen.has(as.root)) {
        rootsSeen.add(as.root);
        // Judged: everything the address space reaches, whatever its root collapses to.
        for (const id of positionsIn(as.root, idOf).keys()) judged.add(id);
      }
      const root = flatViewRoot(as.root);
      if (!root) continue;
      if (!viewIds.has(root)) viewIds.set(root, viewIds.size);
      for (const b of blocks) {
        const pair = `${viewIds.get(root)}\0${hint.idOf(b)}`;
        if (pairsSeen.has(pair)) continue;
        pairsSeen.add(pair);
        let keys = keysOf.get(b);
        if (!keys) {
          keys = new Set<string>();
          for (const r of b.ranges)
            keys.add(`${r.name}\0${r.priority}\0${wrap64(r.start - r.offset)}`);
          keysOf.set(b, keys);
        }
        let positions = positionsOf.get(root);
        if (!positions) {
          positions = positionsIn(root, idOf);
          positionsOf.set(root, positions);
        }
        for (const [id, bases] of positions) {
          const r = machine.regions[id];
          if (r.alias || r.type !== "i/o") continue;
          for (const base of bases) {
            if (keys.has(`${r.name}\0${r.priority}\0${base}`)) next.add(id);
          }
        }
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
    const done = new Set<string>();
    const viewIds = new Map<MemoryRegion, number>();
    for (const as of system.addressSpaces) {
      const blocks = hint.blocksFor(as);
      const root = flatViewRoot(as.root);
      if (blocks.length !== 1 || !root) continue;
      if (!viewIds.has(root)) viewIds.set(root, viewIds.size);
      const pair = `${viewIds.get(root)}\0${hint.idOf(blocks[0])}`;
      if (done.has(pair)) continue;
      done.add(pair);
      // Both are sorted by start: walk them side by side.
      const lines = blocks[0].ranges;
      let k = 0;
      for (const piece of renderRanges(root, { merge: false })) {
        importWork.steps++;
        while (k < lines.length && lines[k].end < piece.start) k++;
        if (piece.readonly || !piece.via) continue;
        const line = lines[k];
        if (!line || line.start > piece.start) continue;
        if (line.type !== "rom" || line.name !== piece.mr.name) continue;
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

/** At most this many sibling pairs are looked at, and this many orders tried, per import. */
const OVERLAP_CHECKS = 1_000_000;
const OVERLAP_TRIALS = 256;

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
  // Each trial re-renders the machine: a hostile text could ask for one per pair.
  let trials = OVERLAP_TRIALS;
  let checks = OVERLAP_CHECKS;
  for (const parent of regions) {
    // Printed order is by start: a sibling starting past a region's end cannot overlap it.
    const enabled = parent.children.map((c) => regions[c]).filter((c) => c.enabled);
    for (let i = 0; i < enabled.length; i++) {
      for (let j = i + 1; j < enabled.length; j++) {
        const a = enabled[i];
        const b = enabled[j];
        importWork.steps++;
        if (b.addr >= a.addr + a.size || --checks < 0) break;
        if (a.priority !== b.priority || a.addr === b.addr || !overlaps(a, b)) continue;
        if (--trials < 0) return;
        score ??= mismatch(instantiate(machine, assumptions).system, hint);
        if (score === 0) return;
        const order = listOrder(machine, assumptions, parent.id);
        // The other insertion order: the later of the two moves just ahead of the earlier,
        // the others keep their order (a swap would also reorder what lies between them).
        const ia = order.indexOf(a.id);
        const ib = order.indexOf(b.id);
        const [first, second] = ia < ib ? [ia, ib] : [ib, ia];
        const swapped = order.slice();
        const moved = swapped.splice(second, 1)[0];
        swapped.splice(first, 0, moved);
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
  // Address spaces by name and root name, in their current order, each taken once.
  const byKey = new Map<string, number[]>();
  const heads = new Map<string, number>();
  const positionOf = new Map<number, number>();
  order.forEach((k, position) => {
    positionOf.set(k, position);
    const as = machine.addressSpaces[k];
    const key = `${as.name}\0${machine.regions[as.root].name}`;
    const list = byKey.get(key);
    if (list) list.push(k);
    else byKey.set(key, [k]);
  });
  for (const block of hint) {
    const members: number[] = [];
    for (const line of block.addressSpaces) {
      const key = `${line.name}\0${line.root}`;
      const head = heads.get(key) ?? 0;
      const k = byKey.get(key)?.[head];
      if (k === undefined) continue;
      heads.set(key, head + 1);
      members.push(k);
    }
    const positions = members.map((m) => positionOf.get(m)!).sort((x, y) => x - y);
    positions.forEach((p, i) => {
      order[p] = members[i];
      positionOf.set(members[i], p);
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
  const positionsByName = new Map<string, number[]>();
  assumptions.asOrder.forEach((k, position) => {
    const name = machine.addressSpaces[k].name;
    const list = positionsByName.get(name);
    if (list) list.push(position);
    else positionsByName.set(name, [position]);
  });
  for (const block of hint) {
    let count = 0;
    for (const r of block.ranges) count = Math.max(count, r.accelerators.length);
    if (count === 0) continue;
    seen = true;
    const blockNames = new Set(block.addressSpaces.map((a) => a.name));
    const positions = [...blockNames].flatMap((n) => positionsByName.get(n) ?? []);
    positions.sort((x, y) => x - y);
    for (const p of positions.slice(0, count)) {
      names.add(machine.addressSpaces[assumptions.asOrder[p]].name);
    }
  }
  if (seen) assumptions.kvm = names;
}

function sameSet<T>(a: Set<T>, b: Set<T>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
