/**
 * sPAPR benchmarks: H_PUT_TCE_INDIRECT throughput with and without a registered notifier (the
 * VFIO case adds one per window), and the heap a sparse 2^40-byte window costs.
 */
import { POWER9_HOST } from "../src/host/platform.ts";
import { PseriesMachine } from "../src/machine/pseries.ts";
import { hPutTceIndirect, hStuffTce } from "../src/spapr/hcalls.ts";
import { rtasCall } from "../src/spapr/rtas.ts";
import { type BenchResult, medianMs } from "./harness.ts";

const BUID = [0x8000000, 0x20000000];

function ddwMachine(windowShift: number, pageShift: number, withVfio = false) {
  const m = new PseriesMachine({
    memory: 1n << 32n,
    host: withVfio ? { platform: POWER9_HOST, backend: "spapr-tce-v2" } : undefined,
    devices: withVfio ? [{ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" }] : [],
  });
  rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, pageShift, windowShift], 4);
  return m;
}

/** H_PUT_TCE_INDIRECT entries per second into a 2^32-byte window of 64 KiB pages. */
function indirectRate(withVfio: boolean): number {
  const m = ddwMachine(32, 16, withVfio);
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

/** Median ms to fill, then clear, `npages` entries of a 2^43-byte window of 4 KiB pages. */
function stuffMs(npages: bigint): number {
  const m = ddwMachine(43, 12);
  return medianMs(() => {
    hStuffTce(m, 0x80000001n, 0x800000000000000n, 0x10003n, npages);
    hStuffTce(m, 0x80000001n, 0x800000000000000n, 0n, npages);
  }, 9);
}

export function spaprBenchmarks(): BenchResult[] {
  const stuffSmall = stuffMs(1n << 10n);
  const stuffWhole = stuffMs(1n << 31n);
  const plain = indirectRate(false);
  const withDevice = indirectRate(true);
  global.gc?.();
  global.gc?.();
  // Entry tables keep their leaves in typed arrays, outside the JS heap: count both.
  const used = () => {
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return heapUsed + arrayBuffers;
  };
  const before = used();
  const m = ddwMachine(40, 16);
  const table = m.findTable(0x80000001n)!;
  for (let i = 0; i < 1000; i++) table.putTce(0x800000000000000n + (BigInt(i) << 28n), 0x10003n);
  global.gc?.();
  const heapMiB = (used() - before) / 2 ** 20;
  return [
    {
      name: "hcall.indirect_vfio_entries_per_s",
      value: withDevice,
      unit: "entries/s",
      baseline: null,
      ratio: null,
      note: "H_PUT_TCE_INDIRECT entries per second with a vfio-pci device attached",
    },
    {
      name: "hcall.indirect_entries_per_s_no_device",
      value: plain,
      unit: "entries/s",
      baseline: null,
      ratio: null,
    },
    {
      name: "hcall.vfio_overhead_ratio",
      value: plain / withDevice,
      unit: "ratio",
      baseline: plain,
      ratio: plain / withDevice,
      note: "entries per second without a device over with one",
    },
    {
      name: "hcall.stuff_2^31_over_2^10_ratio",
      value: stuffWhole / stuffSmall,
      unit: "ratio",
      baseline: stuffSmall,
      ratio: stuffWhole / stuffSmall,
      note: "H_STUFF_TCE fill and clear of 2^31 entries over 2^10 (a range is one run: about 1)",
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
