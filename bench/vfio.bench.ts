/**
 * VFIO benchmarks: hot-plugging a vfio-pci device behind a guest window holding 10^6 valid entries
 * (each replayed into the host IOMMU), per entry against inserting 10^6 entries into a plain Map;
 * and the same 10^5 entries replayed from a 2^30-byte and a 2^40-byte window.
 */
import { POWER9_HOST } from "../src/host/platform.ts";
import { PseriesMachine } from "../src/machine/pseries.ts";
import { rtasCall } from "../src/spapr/rtas.ts";
import { type BenchResult, median, timeMs } from "./harness.ts";

const BUID = [0x8000000, 0x20000000];

export function machineWithEntries(
  windowShift: number,
  pageShift: number,
  entries: number,
): PseriesMachine {
  const m = new PseriesMachine({
    memory: 16n << 30n,
    host: { platform: POWER9_HOST, backend: "spapr-tce-v2" },
  });
  rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, pageShift, windowShift], 4);
  const table = m.findTable(0x80000001n)!;
  const ramPages = (16n << 30n) >> BigInt(pageShift);
  const stride = BigInt(table.nbTable) / BigInt(entries);
  for (let k = 0n; k < BigInt(entries); k++) {
    const gpa = (k % ramPages) << BigInt(pageShift);
    table.putTce(table.busOffset + ((k * stride) << BigInt(pageShift)), gpa | 3n);
  }
  return m;
}

/**
 * A guest of `1 << memoryShift` bytes whose DDW (a 2^40-byte window of 64 KiB pages) holds
 * `entries` valid TCEs from its start mapping guest pages one to one (wrapping over RAM), written
 * 512 at a time as Linux's H_PUT_TCE_INDIRECT does, before any device is plugged.
 */
export function machineMappedOneToOne(entries: number, memoryShift = 40): PseriesMachine {
  const m = new PseriesMachine({
    memory: 1n << BigInt(memoryShift),
    host: { platform: POWER9_HOST, backend: "spapr-tce-v2" },
  });
  rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, 16, 40], 4);
  const table = m.findTable(0x80000001n)!;
  const ramPages = 2 ** (memoryShift - 16);
  for (let k = 0; k < entries; k += 512) {
    const gpa = BigInt(k % ramPages) << 16n;
    const n = Math.min(512, entries - k, ramPages - (k % ramPages));
    table.putTceSeries(table.busOffset + (BigInt(k) << 16n), gpa | 3n, n, 1n << 16n);
  }
  return m;
}

export const plug = (m: PseriesMachine) =>
  m.plug({ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" });

function hotplugMs(windowShift: number, pageShift: number, entries: number, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const m = machineWithEntries(windowShift, pageShift, entries);
    times.push(timeMs(() => plug(m)));
  }
  return median(times);
}

export function vfioBenchmarks(): BenchResult[] {
  // Hot-plug behind 10^5 entries first: it also warms the path up for the 10^6 runs.
  const small = hotplugMs(30, 12, 100_000, 3);
  const large = hotplugMs(40, 12, 100_000, 3);

  // Each 10^6 hot-plug is paired with a Map insertion of as many entries measured just before
  // it, on a machine in the same state; the ratio is the median of the pairs' ratios.
  const N = 1_000_000;
  const insertIntoMap = () => {
    const map = new Map<number, { hva: bigint; perm: string }>();
    for (let i = 0; i < N; i++) map.set(i * 7, { hva: BigInt(i), perm: "rw" });
  };
  insertIntoMap();
  const hotplugs: number[] = [];
  const maps: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < 5; i++) {
    const m = machineWithEntries(40, 16, N);
    const mapMs = timeMs(insertIntoMap);
    const hotplug = timeMs(() => plug(m));
    hotplugs.push(hotplug);
    maps.push(mapMs);
    ratios.push(hotplug / mapMs);
  }
  return [
    {
      name: "vfio.hotplug_1e6_seconds",
      value: median(hotplugs) / 1000,
      unit: "s",
      baseline: null,
      ratio: null,
      note: "hot-plug behind a 2^40-byte window holding 10^6 valid entries",
    },
    {
      name: "vfio.hotplug_ratio_vs_map",
      value: median(ratios),
      unit: "ratio",
      baseline: median(maps),
      ratio: median(ratios),
      note: "that, per entry, over inserting 10^6 entries into a Map",
    },
    {
      name: "vfio.hotplug_window_size_ratio",
      value: large / small,
      unit: "ratio",
      baseline: small,
      ratio: large / small,
      note: "hot-plug behind 10^5 entries: 2^40-byte window over 2^30-byte window",
    },
  ];
}
