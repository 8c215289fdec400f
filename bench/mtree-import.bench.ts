/**
 * Importing `info mtree` text: the time for an input of twice the size over the time for the
 * input itself (about 2 means linear), for the generated hostile shapes of
 * test/memory/mtree-inputs.ts. The tests check the same by counting steps; this measures time.
 */
import { importMtree } from "../src/memory/mtree/import.ts";
import { formatMtree } from "../src/memory/mtree/print.ts";
import {
  aliasChain,
  deepTree,
  longAliasLine,
  manyGroups,
  manyRanges,
} from "../test/memory/mtree-inputs.ts";
import { type BenchResult, medianRatio, timeMs } from "./harness.ts";

const hex16 = (n: bigint) => n.toString(16).padStart(16, "0");

/**
 * An `info mtree -D` text of about `lines` lines, shaped like a machine's: RAM pieces under
 * `system`, each overlapped by a higher-priority alias into a shared RAM region and by a disabled
 * alias, MMIO containers with children and ROM, then the aliased region.
 */
export function machineMtree(lines: number): string {
  const out = [
    "address-space: memory",
    "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
  ];
  const groups = Math.max(1, Math.floor((lines - 8) / 7));
  for (let i = 0; i < groups; i++) {
    const base = BigInt(i) << 20n;
    const at = (offset: bigint, size: bigint) =>
      `${hex16(base + offset)}-${hex16(base + offset + size - 1n)}`;
    out.push(
      `    ${at(0n, 0x80000n)} (prio 0, ram): ram${i}`,
      `    ${at(0x40000n, 0x10000n)} (prio 1, ram): alias shadow${i} @shared ${hex16(BigInt(i % 16) << 16n)}-${hex16((BigInt(i % 16) << 16n) + 0xffffn)}`,
      `    ${at(0x60000n, 0x20000n)} (prio 2, i/o): alias hole${i} @shared 0000000000000000-000000000001ffff [disabled]`,
      `    ${at(0x80000n, 0x40000n)} (prio 0, i/o): mmio${i}`,
      `      ${hex16(0n)}-${hex16(0xfffn)} (prio 0, i/o): regs${i}`,
      `      ${hex16(0x1000n)}-${hex16(0x1fffn)} (prio 1, i/o): doorbell${i}`,
      `    ${at(0xc0000n, 0x1000n)} (prio 0, romd): rom${i}`,
    );
  }
  out.push(
    "",
    "memory-region: shared",
    "  0000000000000000-00000000000fffff (prio 0, ram): shared",
    "",
  );
  return `${out.join("\n")}\n`;
}

/** Seconds to import (and print flat) a generated `info mtree -D` text of 10^5 lines. */
export function mtree1e5Benchmark(): BenchResult {
  const text = machineMtree(100_000);
  const half = machineMtree(50_000);
  importAndPrint(half);
  const times = [0, 1, 2].map(() => timeMs(() => importAndPrint(text)));
  const { ratio } = medianRatio(
    () => importAndPrint(half),
    () => importAndPrint(text),
    3,
  );
  times.sort((a, b) => a - b);
  return {
    name: "mtree.import_1e5_lines_seconds",
    value: times[1] / 1000,
    unit: "s",
    baseline: null,
    ratio,
    note: `import and flat print of ${text.split("\n").length} lines of info mtree -D (aliases, overlaps, disabled regions); ratio: over 5*10^4 lines`,
  };
}

function importAndPrint(tree: string, flat?: string): void {
  const result = importMtree(tree, flat);
  formatMtree(result.system, { flat: true });
}

function doubling(name: string, size: number, make: (n: number) => () => void): BenchResult {
  const { ratio, baselineMs, subjectMs } = medianRatio(make(size), make(2 * size), 5);
  return {
    name,
    value: subjectMs,
    unit: "ms",
    baseline: baselineMs,
    ratio,
    note: `import of size ${2 * size} over size ${size}`,
  };
}

export function mtreeImportBenchmarks(): BenchResult[] {
  return [
    mtree1e5Benchmark(),
    doubling("mtree import depth x2", 500, (n) => {
      const t = deepTree(n);
      return () => importAndPrint(t);
    }),
    doubling("mtree import alias chain x2", 2000, (n) => {
      const t = aliasChain(n);
      return () => importAndPrint(t);
    }),
    doubling("mtree import AS groups x2", 2000, (n) => {
      const t = manyGroups(n);
      return () => importAndPrint(t);
    }),
    doubling("mtree import flat hint x2", 2000, (n) => {
      const { tree, flat } = manyRanges(n);
      return () => importAndPrint(tree, flat);
    }),
    doubling("mtree import alias line x2", 90_000, (n) => {
      const t = longAliasLine(n);
      return () => importAndPrint(t);
    }),
  ];
}
