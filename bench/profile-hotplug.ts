/**
 * The 10^6-entry hot-plug alone, several times, for a profiler:
 *   node --expose-gc --cpu-prof --import tsx bench/profile-hotplug.ts [runs]
 * prints each hot-plug's time; the profile lands in the current directory.
 */
import { timeMs } from "./harness.ts";
import { machineWithEntries, plug } from "./vfio.bench.ts";

const runs = Number(process.argv[2] ?? 4);
for (let i = 0; i < runs; i++) {
  const m = machineWithEntries(40, 16, 1_000_000);
  const ms = timeMs(() => plug(m));
  console.log(`hot-plug behind 10^6 entries: ${ms.toFixed(0)} ms`);
}
