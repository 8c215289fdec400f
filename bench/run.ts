/**
 * `npm run bench`: runs every benchmark and prints a table, or with `--json` one object
 * `{"results": [{name, value, unit, baseline, ratio}]}`.
 */
import { fuzzBenchmarks } from "./fuzz.bench.ts";
import type { BenchResult } from "./harness.ts";
import { iommuBenchmarks } from "./iommu.bench.ts";
import { memoryBenchmarks } from "./memory.bench.ts";
import { mtreeImportBenchmarks } from "./mtree-import.bench.ts";
import { scenarioBenchmarks } from "./scenario.bench.ts";
import { spaprBenchmarks } from "./spapr.bench.ts";
import { traceBenchmarks } from "./trace.bench.ts";
import { vfioBenchmarks } from "./vfio.bench.ts";

const suites: [string, () => BenchResult[] | Promise<BenchResult[]>][] = [
  ["memory", memoryBenchmarks],
  ["mtree", mtreeImportBenchmarks],
  ["iommu", iommuBenchmarks],
  ["spapr", spaprBenchmarks],
  ["vfio", vfioBenchmarks],
  ["scenario", scenarioBenchmarks],
  ["trace", () => traceBenchmarks()],
  ["fuzz", () => fuzzBenchmarks()],
];

const json = process.argv.includes("--json");
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const results: BenchResult[] = [];
for (const [name, run] of suites) {
  if (only && name !== only) continue;
  results.push(...(await run()));
}
if (json) {
  console.log(JSON.stringify({ results }, null, 2));
} else {
  const fmt = (v: number | null) =>
    v === null ? "" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
  console.log(
    ["name".padEnd(38), "value".padStart(12), "unit".padEnd(10), "ratio".padStart(8)].join(" "),
  );
  for (const r of results) {
    console.log(
      [
        r.name.padEnd(38),
        fmt(r.value).padStart(12),
        r.unit.padEnd(10),
        fmt(r.ratio).padStart(8),
      ].join(" "),
    );
  }
}
