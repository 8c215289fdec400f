/**
 * `info mtree` in QEMU 7.2's exact text: the tree (`-D` shows disabled regions, `-o` owners) and
 * the flat views (`-f`). Lines end in LF; QEMU's monitor adds CR. Block order is QEMU's hash order
 * there; here address-space groups and flat views come in address-space creation order.
 */
import type { AddressSpace } from "../address-space.ts";
import { utf8Compare } from "../bytes.ts";
import type { FlatRange, FlatView } from "../flat-view.ts";
import { hex16, wrap64 } from "../int.ts";
import type { MemorySystem } from "../memory-system.ts";
import type { MemoryRegion, QomObjectRef } from "../region.ts";

/** The flags of `info mtree`. */
export interface MtreeOptions {
  /** `-f`: flat views instead of the tree. */
  readonly flat?: boolean;
  /** `-o`: owners. */
  readonly owners?: boolean;
  /** `-D`: disabled regions too (tree mode only). */
  readonly disabled?: boolean;
}

/** Prints `info mtree` for every address space of `system`. */
export function formatMtree(system: MemorySystem, options: MtreeOptions = {}): string {
  return options.flat ? formatFlatViews(system, options) : formatTree(system, options);
}

/** `{dev id=x}` / `{obj path=/p}` / `{dev type=t}`. */
export function formatObjectRef(ref: QomObjectRef): string {
  return `{${ref.kind} ${ref.key}=${ref.value}}`;
}

function sameRef(a: QomObjectRef | undefined, b: QomObjectRef | undefined): boolean {
  return !!a && !!b && a.kind === b.kind && a.key === b.key && a.value === b.value;
}

/** The `-o` suffix of a region line. */
export function ownerSuffix(mr: MemoryRegion): string {
  const { owner, parent } = mr;
  if (!owner && !parent) return " orphan";
  let out = owner ? ` owner:${formatObjectRef(owner)}` : "";
  if (parent && !sameRef(parent, owner)) out += ` parent:${formatObjectRef(parent)}`;
  return out;
}

/** Groups items by a key, keeping first-appearance order. */
function groupBy<K, V>(items: readonly V[], key: (v: V) => K): [K, V[]][] {
  const groups = new Map<K, V[]>();
  for (const item of items) {
    const k = key(item);
    const g = groups.get(k);
    if (g) g.push(item);
    else groups.set(k, [item]);
  }
  return [...groups];
}

function formatTree(system: MemorySystem, options: MtreeOptions): string {
  const out: string[] = [];
  const aliasQueue: MemoryRegion[] = [];
  const queued = new Set<MemoryRegion>();
  const printer = new TreePrinter(out, options, (target) => {
    if (!queued.has(target)) {
      queued.add(target);
      aliasQueue.push(target);
    }
  });
  for (const [root, spaces] of groupBy(system.addressSpaces, (as) => as.root)) {
    const names = spaces.map((as) => as.name).sort(utf8Compare);
    for (const name of names) out.push(`address-space: ${name}\n`);
    printer.print(root, 1, 0n);
    out.push("\n");
  }
  for (let i = 0; i < aliasQueue.length; i++) {
    const mr = aliasQueue[i];
    out.push(`memory-region: ${mr.name}\n`);
    printer.print(mr, 1, 0n);
    out.push("\n");
  }
  return out.join("");
}

class TreePrinter {
  constructor(
    private readonly out: string[],
    private readonly options: MtreeOptions,
    private readonly queueAliasTarget: (target: MemoryRegion) => void,
  ) {}

  /** Final alias targets already looked up (a long alias chain is followed once). */
  readonly #resolved = new Map<MemoryRegion, MemoryRegion>();

  /** The type word, following alias chains once per print. */
  typeName(mr: MemoryRegion): string {
    if (!mr.alias) return mr.typeName;
    const chain: MemoryRegion[] = [];
    let end: MemoryRegion = mr;
    for (;;) {
      const known = this.#resolved.get(end);
      if (known) {
        end = known;
        break;
      }
      const next = end.alias;
      if (!next) break;
      chain.push(end);
      end = next;
    }
    for (const a of chain) this.#resolved.set(a, end);
    return end.typeName;
  }

  /** Prints `root`'s tree depth first with an explicit stack (trees can nest thousands deep). */
  print(root: MemoryRegion, rootLevel: number, rootBase: bigint): void {
    const stack: [MemoryRegion, number, bigint][] = [[root, rootLevel, rootBase]];
    while (stack.length > 0) {
      const [mr, level, base] = stack.pop()!;
      const start = wrap64(base + mr.addr);
      const end = wrap64(start + (mr.size === 0n ? 0n : mr.size - 1n));
      if (start < base || end < start) this.out.push("[DETECTED OVERFLOW!] ");
      const target = mr.alias;
      if (target) this.queueAliasTarget(target);
      if (mr.enabled || this.options.disabled) {
        let body = mr.name;
        if (target) {
          const aStart = mr.aliasOffset;
          const aEnd = aStart + (mr.size === 0n ? 0n : mr.size - 1n);
          body = `alias ${mr.name} @${target.name} ${hex16(aStart)}-${hex16(aEnd)}`;
        }
        const nv = mr.nonvolatile ? "nv-" : "";
        const disabled = mr.enabled ? "" : " [disabled]";
        const owner = this.options.owners ? ownerSuffix(mr) : "";
        this.out.push(
          `${"  ".repeat(level)}${hex16(start)}-${hex16(end)} (prio ${mr.priority}, ${nv}${this.typeName(mr)}): ${body}${disabled}${owner}\n`,
        );
      }
      const children = mr.subregions.slice();
      children.sort((a, b) =>
        a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : b.priority - a.priority,
      );
      for (let i = children.length - 1; i >= 0; i--) stack.push([children[i], level + 1, start]);
    }
  }
}

function formatFlatViews(system: MemorySystem, options: MtreeOptions): string {
  const out: string[] = [];
  const groups = groupBy(system.addressSpaces, (as) => as.view);
  groups.forEach(([view, spaces], n) => {
    out.push(`FlatView #${n}\n`);
    for (const as of spaces) {
      const alias = as.root.alias ? `, alias ${as.root.alias.name}` : "";
      out.push(` AS "${as.name}", root: ${as.root.name}${alias}\n`);
    }
    out.push(` Root memory region: ${view.root ? view.root.name : "(none)"}\n`);
    if (view.ranges.length === 0) {
      out.push("  No rendered FlatView\n\n");
      return;
    }
    for (const fr of view.ranges) out.push(formatFlatRange(system, fr, spaces, options));
    out.push("\n");
  });
  return out.join("");
}

/** A view's range lines as `info mtree -f` prints them, without owners or accelerators. */
export function flatRangeLines(view: FlatView): string[] {
  return view.ranges.map((fr) => formatFlatRange(undefined, fr, [], {}).slice(0, -1));
}

function formatFlatRange(
  system: MemorySystem | undefined,
  fr: FlatRange,
  spaces: readonly AddressSpace[],
  options: MtreeOptions,
): string {
  const mr = fr.mr;
  const type = fr.readonly ? "rom" : mr.typeName;
  const nv = fr.nonvolatile ? "nv-" : "";
  const offset = fr.offsetInRegion !== 0n ? ` @${hex16(fr.offsetInRegion)}` : "";
  const owner = options.owners ? ownerSuffix(mr) : "";
  let accel = "";
  const accelerator = system?.accelerator;
  if (accelerator) {
    for (const as of spaces) if (accelerator.holdsRange(as, fr)) accel += ` ${accelerator.name}`;
  }
  return `  ${hex16(fr.start)}-${hex16(fr.end - 1n)} (prio ${mr.priority}, ${nv}${type}): ${mr.name}${offset}${owner}${accel}\n`;
}
