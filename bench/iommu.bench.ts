/**
 * IOMMU-layer benchmarks: 1 MiB of device DMA through 64 KiB IOMMU pages against Buffer.copy of
 * the same bytes, and replay of 10^4 entries in a 2^40-byte region against a 2^30-byte one.
 */
import { dmaRead, dmaWrite } from "../src/iommu/dma.ts";
import { PageTableIommu } from "../src/iommu/page-table-iommu.ts";
import { MemorySystem } from "../src/memory/memory-system.ts";
import { type BenchResult, medianMs } from "./harness.ts";

const MiB = 1 << 20;

function dmaMachine() {
  const m = new MemorySystem();
  const system = m.container("system", (1n << 64n) - 1n);
  system.addSubregion(m.ram("ram", 1n << 30n), 0n);
  const memory = m.addressSpace(system, "memory");
  const table = new PageTableIommu(m, "tce", 1n << 32n, memory, 16);
  // Pages scattered through RAM, as a guest's would be.
  for (let i = 0; i < MiB >> 16; i++)
    table.map(BigInt(i) << 16n, BigInt((i * 7919) % 16384) << 16n, 3);
  return m.addressSpace(table.iommu.region, "device");
}

export function iommuBenchmarks(): BenchResult[] {
  const device = dmaMachine();
  const src = Buffer.alloc(MiB, 0xab);
  const dst = Buffer.alloc(MiB);
  const data = new Uint8Array(MiB).fill(0xcd);
  dmaWrite(device, 0n, data);
  const copy = medianMs(() => src.copy(dst), 15);
  const write = medianMs(() => dmaWrite(device, 0n, data), 9);
  const into = new Uint8Array(MiB);
  const read = medianMs(() => dmaRead(device, 0n, into), 9);
  const mibPerS = (ms: number) => 1000 / ms;
  const results: BenchResult[] = [
    {
      name: "dma.write_mib_per_s",
      value: mibPerS(write),
      unit: "MiB/s",
      baseline: mibPerS(copy),
      ratio: copy / write,
    },
    {
      name: "dma.read_mib_per_s",
      value: mibPerS(read),
      unit: "MiB/s",
      baseline: mibPerS(copy),
      ratio: copy / read,
    },
    {
      name: "dma.bandwidth_ratio_vs_copy",
      value: copy / Math.max(read, write),
      unit: "ratio",
      baseline: mibPerS(copy),
      ratio: copy / Math.max(read, write),
      note: "slower of DMA read and write, as a fraction of Buffer.copy's speed",
    },
  ];

  const replayMs = (size: bigint) => {
    const m = new MemorySystem();
    const system = m.container("system", (1n << 64n) - 1n);
    const memory = m.addressSpace(system, "memory");
    const table = new PageTableIommu(m, "tce", size, memory, 16);
    const stride = (size / 10_000n) & ~0xffffn;
    for (let i = 0n; i < 10_000n; i++) table.map(i * stride, i << 16n, 3);
    let sink = 0;
    const notifier = {
      flags: 3,
      start: 0n,
      end: size - 1n,
      iommuIdx: 0,
      notify: () => void sink++,
    };
    return medianMs(() => table.iommu.replay(notifier), 9);
  };
  const small = replayMs(1n << 30n);
  const large = replayMs(1n << 40n);
  results.push({
    name: "replay.window_size_ratio",
    value: large / small,
    unit: "ratio",
    baseline: small,
    ratio: large / small,
    note: "replay of 10^4 entries: 2^40-byte region over 2^30-byte region",
  });
  return results;
}
