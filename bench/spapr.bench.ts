/**
 * sPAPR benchmarks: H_PUT_TCE_INDIRECT throughput with and without a registered notifier (the
 * VFIO case adds one per window), and the heap a sparse 2^40-byte window costs.
 */
import { PseriesMachine } from "../src/machine/pseries.ts";
import { hPutTceIndirect } from "../src/spapr/hcalls.ts";
import { rtasCall } from "../src/spapr/rtas.ts";
import { type BenchResult, medianMs } from "./harness.ts";

const BUID = [0x8000000, 0x20000000];

function ddwMachine(windowShift: number, pageShift: number) {
  const m = new PseriesMachine({ memory: 1n << 32n });
  rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, pageShift, windowShift], 4);
  return m;
}

function indirectRate(withNotifier: boolean): number {
  const m = ddwMachine(40, 16);
  const table = m.findTable(0x80000001n)!;
  let sink = 0;
  if (withNotifier) {
    table.iommu.registerNotifier({
      flags: 3,
      start: 0n,
      end: table.windowSize - 1n,
      iommuIdx: 0,
      notify: () => void sink++,
    });
  }
  const list = new Uint8Array(4096);
  const view = new DataView(list.buffer);
  for (let k = 0; k < 512; k++) view.setBigUint64(k * 8, (BigInt(k) << 16n) | 3n, false);
  m.cpuMemory.write(0x1000000n, list);
  const calls = 64;
  const ms = medianMs(() => {
    for (let c = 0; c < calls; c++) {
      hPutTceIndirect(m, 0x80000001n, 0x800000000000000n + (BigInt(c) << 25n), {
        address: 0x1000000n,
        npages: 512n,
      });
    }
  }, 9);
  return (calls * 512 * 1000) / ms;
}

export function spaprBenchmarks(): BenchResult[] {
  const plain = indirectRate(false);
  const listened = indirectRate(true);
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const m = ddwMachine(40, 16);
  const table = m.findTable(0x80000001n)!;
  for (let i = 0; i < 1000; i++) table.putTce(0x800000000000000n + (BigInt(i) << 28n), 0x10003n);
  global.gc?.();
  const heapMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  return [
    {
      name: "hcall.indirect_entries_per_s_no_notifier",
      value: plain,
      unit: "entries/s",
      baseline: null,
      ratio: null,
    },
    {
      name: "hcall.indirect_entries_per_s_notifier",
      value: listened,
      unit: "entries/s",
      baseline: plain,
      ratio: plain / listened,
    },
    {
      name: "tce.sparse_heap_mib",
      value: heapMiB,
      unit: "MiB",
      baseline: null,
      ratio: null,
      note: "heap added by a machine with a 2^40-byte, 64 KiB-page window holding 10^3 entries",
    },
  ];
}
