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
import { type BenchResult, medianRatio } from "./harness.ts";

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
