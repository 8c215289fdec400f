/**
 * VFIO benchmarks: hot-plugging a vfio-pci device behind a guest window holding 10^6 valid entries
 * (each replayed into the host IOMMU), per entry against inserting 10^6 entries into a plain Map;
 * and the same 10^5 entries replayed from a 2^30-byte and a 2^40-byte window.
 */
import { POWER9_HOST } from "../src/host/platform.ts";
import { PseriesMachine } from "../src/machine/pseries.ts";
import { rtasCall } from "../src/spapr/rtas.ts";
import { type BenchResult, medianMs } from "./harness.ts";

const BUID = [0x8000000, 0x20000000];

function machineWithEntries(
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

function hotplugMs(windowShift: number, pageShift: number, entries: number, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const m = machineWithEntries(windowShift, pageShift, entries);
    const t0 = performance.now();
    m.plug({ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" });
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

export function vfioBenchmarks(): BenchResult[] {
  const N = 1_000_000;
  const hotplug = hotplugMs(40, 16, N, 3);
  const mapMs = medianMs(() => {
    const map = new Map<number, { hva: bigint; perm: string }>();
    for (let i = 0; i < N; i++) map.set(i * 7, { hva: BigInt(i), perm: "rw" });
  }, 5);
  const small = hotplugMs(30, 12, 100_000, 3);
  const large = hotplugMs(40, 12, 100_000, 3);
  return [
    {
      name: "vfio.hotplug_1e6_seconds",
      value: hotplug / 1000,
      unit: "s",
      baseline: null,
      ratio: null,
      note: "hot-plug behind a 2^40-byte window holding 10^6 valid entries",
    },
    {
      name: "vfio.hotplug_ratio_vs_map",
      value: hotplug / mapMs,
      unit: "ratio",
      baseline: mapMs,
      ratio: hotplug / mapMs,
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
