/**
 * The size of a real POWER guest: 1 TiB mapped one to one in a DDW of 64 KiB pages, 2^24 valid
 * TCEs written 512 at a time (H_PUT_TCE_INDIRECT) before a vfio-pci device is hot-plugged, then
 * unplugged. Not timed (bench/hotplug-2e24.ts times it): this proves that the hot-plug at that
 * size stays within the default materialised-entry limit, makes one MAP_DMA per TCE, and leaves
 * the host as the shadow, isolation and accounting invariants say, checked series by series.
 * About 0.5 GB and a few seconds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { POWER9_HOST } from "../../src/host/platform.ts";
import type { SpaprTceContainer } from "../../src/host/spapr-tce.ts";
import { PseriesMachine } from "../../src/machine/pseries.ts";
import { hPutTceIndirect } from "../../src/spapr/hcalls.ts";
import { rtasCall } from "../../src/spapr/rtas.ts";
import { checkAccounting } from "../../src/vfio/checks.ts";

const N = 2 ** 24;
const PAGE = 1n << 16n;
const LIOBN = 0x80000001n;

test("a 2^24-entry hot-plug mirrors every TCE with one MAP_DMA each, and the unplug takes them all back", () => {
  const m = new PseriesMachine({
    memory: 1n << 40n,
    host: { platform: POWER9_HOST, backend: "spapr-tce-v2" },
  });
  assert.deepEqual(
    rtasCall(m, "ibm,create-pe-dma-window", [0, 0x8000000, 0x20000000, 16, 40], 4).slice(0, 2),
    [0, Number(LIOBN)],
  );
  const table = m.findTable(LIOBN)!;
  const tces = Array.from({ length: 512 }, () => 0n);
  for (let k = 0; k < N; k += 512) {
    for (let i = 0; i < 512; i++) tces[i] = (BigInt(k + i) << 16n) | 3n;
    const ret = hPutTceIndirect(m, LIOBN, table.busOffset + (BigInt(k) << 16n), { tces });
    assert.equal(ret.written, 512);
  }
  assert.equal(table.validEntryCount, N);

  const vfio = m.vfio!;
  const logBefore = vfio.io.log.length;
  m.plug({ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" });
  const log = vfio.io.log;
  const container = vfio.containers[0];
  const kernel = container.kernel as SpaprTceContainer;

  // One MAP_DMA per TCE, in bus order, each readable as it was called.
  const maps: number[] = [];
  for (let i = logBefore; i < log.length && maps.length < 2; i++)
    if (log.at(i)!.ioctl === "MAP_DMA") maps.push(i);
  const firstMap = maps[0];
  assert.equal(log.length - firstMap, N, "the MAP_DMAs are the last N calls");
  const ram = kernel.entrySeries()[0].hva;
  for (const k of [0, 1, 511, 512, 4097, N / 2 + 3, N - 2, N - 1]) {
    assert.deepEqual(log.at(firstMap + k), {
      seq: firstMap + k,
      ioctl: "MAP_DMA",
      args: {
        iova: table.busOffset + BigInt(k) * PAGE,
        size: PAGE,
        vaddr: ram + BigInt(k) * PAGE,
        flags: 3,
      },
      ret: 0,
    });
  }
  assert.ok(log.rows < 64, `the log keeps ${log.rows} rows for ${log.length} calls`);

  // Shadow: the host maps exactly the guest's valid TCEs, each to the host address of its page.
  const guest = table.validSeries();
  const host = kernel.entrySeries();
  assert.deepEqual(
    host.map((e) => ({
      iova: e.iova,
      hva: e.hva - ram,
      perm: e.perm,
      count: e.count,
      step: e.step,
    })),
    guest.map((g) => ({
      iova: table.busOffset + BigInt(g.index) * PAGE,
      hva: g.tce & ~3n,
      perm: "rw",
      count: g.count,
      step: g.step,
    })),
  );
  assert.equal(
    host.reduce((n, e) => n + e.count, 0),
    N,
  );
  // Isolation: every page inside guest RAM and inside a host window.
  const [window] = kernel.windows().filter((w) => w.start === table.busOffset);
  for (const e of host) {
    assert.ok(e.hva >= ram && e.hva + BigInt(e.count) * PAGE <= ram + (1n << 40n));
    assert.ok(
      e.iova >= window.start && e.iova + BigInt(e.count) * PAGE <= window.start + window.size,
    );
  }
  // Accounting: the pinned memory counts every mapped page; locked memory is what state implies.
  assert.deepEqual(
    vfio.process.preregistered.map((r) => r.mapped),
    [N],
  );
  assert.ok(checkAccounting(vfio).ok);

  m.unplug("hostdev0");
  assert.deepEqual(vfio.containers, []);
  assert.equal(kernel.entrySeries().length, 0);
  assert.equal(vfio.process.preregistered.length, 0);
  assert.equal(vfio.process.lockedPages, 0n);
  assert.ok(checkAccounting(vfio).ok);
  assert.equal(table.validEntryCount, N, "the guest's table is the guest's: unplug leaves it");
});
