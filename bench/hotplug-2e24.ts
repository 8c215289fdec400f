/**
 * The 2^24-entry hot-plug benchmarks alone (`vfio.hotplug_2e24_seconds`, its ratio over a typed
 * loop, bytes per entry), or under a profiler:
 *   node --expose-gc [--cpu-prof] --import tsx bench/hotplug-2e24.ts [runs]
 */
import { hotplug2e24Benchmarks } from "./vfio.bench.ts";

for (const r of hotplug2e24Benchmarks(Number(process.argv[2] ?? 3))) {
  console.log(
    `${r.name} ${r.value.toFixed(3)} ${r.unit} (baseline ${r.baseline?.toFixed(3)}) ${r.note}`,
  );
}
