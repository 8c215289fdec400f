/**
 * What changed between two memory maps (two `info mtree` dumps, or two live attachments): which
 * regions appeared, vanished or moved, and which flat ranges changed in which address space.
 */
import { hex16 } from "../int.ts";
import type { ImportResult } from "./import.ts";
import { flatRangeLines } from "./print.ts";

/** A region as the diff names it. */
export interface RegionChange {
  /** Names from its root down, e.g. `pci@800000020000000.iommu-root / tce-root-80000001 / tce-iommu-80000001`. */
  readonly path: string;
  readonly before?: string;
  readonly after?: string;
}

/** The difference between two maps. */
export interface MtreeDiff {
  readonly regions: {
    readonly appeared: RegionChange[];
    readonly vanished: RegionChange[];
    readonly moved: RegionChange[];
  };
  readonly flat: {
    readonly addressSpace: string;
    readonly added: string[];
    readonly removed: string[];
  }[];
}

function regionIndex(result: ImportResult): Map<string, string> {
  const { regions } = result.machine;
  const out = new Map<string, string>();
  // Paths memoised top down, without recursion: trees can nest thousands of levels deep.
  const paths = new Map<number, string>();
  const pathOf = (id: number): string => {
    const up: number[] = [];
    let at: number | undefined = id;
    while (at !== undefined && !paths.has(at)) {
      up.push(at);
      at = regions[at].container;
    }
    let prefix = at === undefined ? undefined : paths.get(at);
    for (let i = up.length - 1; i >= 0; i--) {
      const name = regions[up[i]].name;
      prefix = prefix === undefined ? name : `${prefix} / ${name}`;
      paths.set(up[i], prefix);
    }
    return paths.get(id)!;
  };
  for (const r of regions) {
    let path = pathOf(r.id);
    for (let n = 2; out.has(path); n++) path = `${pathOf(r.id)} #${n}`;
    const alias = r.alias ? ` alias @${regions[r.alias.target].name}+${hex16(r.alias.offset)}` : "";
    // As `info mtree` prints a region: first and last address (a 2^64-byte region ends at
    // ffffffffffffffff; its size alone would wrap to 0 in 16 digits).
    out.set(
      path,
      `${hex16(r.addr)}-${hex16(r.addr + r.size - 1n)} (prio ${r.priority}, ${r.type})${alias}${r.enabled ? "" : " disabled"}`,
    );
  }
  return out;
}

function flatIndex(result: ImportResult): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const as of result.system.addressSpaces) {
    let name = as.name;
    for (let n = 2; out.has(name); n++) name = `${as.name} #${n}`;
    out.set(name, new Set(flatRangeLines(as.view).map((l) => l.trim())));
  }
  return out;
}

/** Compares two rebuilt models. */
export function diffMtree(a: ImportResult, b: ImportResult): MtreeDiff {
  const ra = regionIndex(a);
  const rb = regionIndex(b);
  const appeared: RegionChange[] = [];
  const vanished: RegionChange[] = [];
  const moved: RegionChange[] = [];
  for (const [path, after] of rb) {
    const before = ra.get(path);
    if (before === undefined) appeared.push({ path, after });
    else if (before !== after) moved.push({ path, before, after });
  }
  for (const [path, before] of ra) if (!rb.has(path)) vanished.push({ path, before });
  const fa = flatIndex(a);
  const fb = flatIndex(b);
  const flat: MtreeDiff["flat"] = [];
  for (const name of new Set([...fa.keys(), ...fb.keys()])) {
    const x = fa.get(name) ?? new Set<string>();
    const y = fb.get(name) ?? new Set<string>();
    const added = [...y].filter((l) => !x.has(l));
    const removed = [...x].filter((l) => !y.has(l));
    if (added.length || removed.length) flat.push({ addressSpace: name, added, removed });
  }
  return { regions: { appeared, vanished, moved }, flat };
}

/** The diff as text: `+` appeared, `-` vanished, `~` moved; then flat ranges per address space. */
export function formatMtreeDiff(d: MtreeDiff): string {
  const out: string[] = [];
  for (const r of d.regions.appeared) out.push(`+ ${r.path}: ${r.after}`);
  for (const r of d.regions.vanished) out.push(`- ${r.path}: ${r.before}`);
  for (const r of d.regions.moved) out.push(`~ ${r.path}: ${r.before} -> ${r.after}`);
  for (const f of d.flat) {
    out.push(`address-space ${f.addressSpace}:`);
    for (const l of f.removed) out.push(`  - ${l}`);
    for (const l of f.added) out.push(`  + ${l}`);
  }
  return out.length ? `${out.join("\n")}\n` : "no differences\n";
}
