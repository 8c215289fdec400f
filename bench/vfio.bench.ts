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

/** Heap and typed-array bytes in use (entry tables keep their leaves outside the JS heap). */
function usedBytes(): number {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/**
 * The hot-plug behind a 1 TiB guest mapped one to one (2^24 valid TCEs of 64 KiB), paired with a
 * plain loop copying 2^24 64-bit entries from one typed array into a new one (the host's mirror
 * is new memory too); and the memory the guest table, its host mirror and the ioctl log add.
 */
export function hotplug2e24Benchmarks(runs = 3): BenchResult[] {
  const N = 2 ** 24;
  const source = new BigUint64Array(N);
  for (let i = 0; i < N; i++) source[i] = (BigInt(i) << 16n) | 3n;
  let sink = 0n;
  const copyIntoNew = () => {
    const target = new BigUint64Array(N);
    for (let i = 0; i < N; i++) target[i] = source[i];
    sink ^= target[N - 1];
  };
  const reused = new BigUint64Array(N);
  const copyIntoReused = () => {
    for (let i = 0; i < N; i++) reused[i] = source[i];
  };
  copyIntoNew();
  copyIntoReused();
  // Memory first, on a process that has not held a 2^24 table yet.
  globalThis.gc?.();
  const before = usedBytes();
  const rssBefore = process.memoryUsage().rss;
  let m: PseriesMachine | undefined = machineMappedOneToOne(N);
  globalThis.gc?.();
  const guestOnly = usedBytes() - before;
  plug(m);
  globalThis.gc?.();
  const added = usedBytes() - before;
  const peakRss = process.resourceUsage().maxRSS * 1024 - rssBefore;
  const log = m.vfio!.io.log;
  const logNote = `${log.length} ioctls in ${log.rows} log rows`;
  m = undefined;
  const plugs: number[] = [];
  const copies: number[] = [];
  const ratios: number[] = [];
  const reusedCopies: number[] = [];
  const reusedRatios: number[] = [];
  for (let i = 0; i < runs; i++) {
    const machine = machineMappedOneToOne(N);
    const copyMs = timeMs(copyIntoNew);
    const reusedMs = timeMs(copyIntoReused);
    const plugMs = timeMs(() => plug(machine));
    plugs.push(plugMs);
    copies.push(copyMs);
    ratios.push(plugMs / copyMs);
    reusedCopies.push(reusedMs);
    reusedRatios.push(plugMs / reusedMs);
  }
  if (sink === 1n) console.log("");
  return [
    {
      name: "vfio.hotplug_2e24_seconds",
      value: median(plugs) / 1000,
      unit: "s",
      baseline: null,
      ratio: null,
      note: "hot-plug behind 2^24 valid TCEs (a 1 TiB guest mapped one to one in 64 KiB pages)",
    },
    {
      name: "vfio.hotplug_ratio_vs_typed_loop",
      value: median(ratios),
      unit: "ratio",
      baseline: median(copies),
      ratio: median(ratios),
      note: "that over copying 2^24 64-bit entries into a new typed array, pairs back to back",
    },
    {
      name: "vfio.hotplug_ratio_vs_typed_loop_reused",
      value: median(reusedRatios),
      unit: "ratio",
      baseline: median(reusedCopies),
      ratio: median(reusedRatios),
      note: "the same over copying into a typed array already touched (no page faults)",
    },
    {
      name: "vfio.hotplug_bytes_per_entry",
      value: added / N,
      unit: "bytes",
      baseline: guestOnly / N,
      ratio: null,
      note: `JS heap and typed arrays added by the guest table, its host mirror and the ioctl log (${logNote}); the baseline is the guest table alone; peak RSS added ${(peakRss / N).toFixed(1)} bytes per entry`,
    },
  ];
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
    ...hotplug2e24Benchmarks(),
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
