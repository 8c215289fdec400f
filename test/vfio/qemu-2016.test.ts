/**
 * The 2016 behaviour (the tree before QEMU commit d78c19b5cf) as the machine's own switch: live
 * H_PUT_TCE notifies absolute bus addresses, replay region-relative ones walked at the container's
 * granularity, VFIO adds no offset; window creation is 7.2's.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { foldRepeats, repeatLine } from "../../src/host/fold.ts";
import { POWER9_HOST } from "../../src/host/platform.ts";
import { PseriesMachine } from "../../src/machine/pseries.ts";
import { hPutTce } from "../../src/spapr/hcalls.ts";
import { rtasCall } from "../../src/spapr/rtas.ts";

const BUID = [0x8000000, 0x20000000];
const DDW = 0x800000000000000n;

function machine(behaviour: "qemu-7.2" | "qemu-2016-prefix") {
  // pseries-2.7: 64 KiB DDW pages, as in the 2016 thread.
  const m = new PseriesMachine({
    machineType: "pseries-2.7",
    memory: 1n << 30n,
    behaviour,
    host: { platform: POWER9_HOST, backend: "spapr-tce-v2" },
  });
  assert.deepEqual(
    rtasCall(m, "ibm,create-pe-dma-window", [0, ...BUID, 16, 30], 4).slice(0, 2),
    [0, 0x80000001],
  );
  return m;
}

function maps(m: PseriesMachine, from: number) {
  return m
    .vfio!.io.log.slice(from)
    .filter((r) => r.ioctl === "MAP_DMA")
    .map((r) => `${(r.args.iova as bigint).toString(16)}+${(r.args.size as bigint).toString(16)}`);
}

describe("qemu-2016-prefix, on a PseriesMachine built directly", () => {
  test("replay walks at the container's 4 KiB: one 64 KiB TCE gives 16 identical MAP_DMAs, region-relative", () => {
    const m = machine("qemu-2016-prefix");
    assert.equal(hPutTce(m, 0x80000001n, DDW + 0x30000n, 0x30003n).ret, 0);
    m.plug({ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" });
    // Region-relative 0x30000 and no VFIO offset: it lands in the host's default window.
    assert.deepEqual(maps(m, 0), Array(16).fill("30000+10000"));
  });

  test("a live H_PUT_TCE is notified with its absolute bus address, which VFIO maps as it is", () => {
    const m = machine("qemu-2016-prefix");
    m.plug({ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" });
    const from = m.vfio!.io.log.length;
    const notified: bigint[] = [];
    m.findTable(0x80000001n)!.iommu.onNotify = (_idx, ev) => notified.push(ev.entry.iova);
    assert.equal(hPutTce(m, 0x80000001n, DDW + 0x30000n, 0x30003n).ret, 0);
    assert.deepEqual(notified, [DDW + 0x30000n]);
    assert.deepEqual(maps(m, from), ["800000000030000+10000"]);
  });

  test("qemu-7.2 replays each valid entry once, at its bus address", () => {
    const m = machine("qemu-7.2");
    assert.equal(hPutTce(m, 0x80000001n, DDW + 0x30000n, 0x30003n).ret, 0);
    m.plug({ id: "hostdev0", driver: "vfio-pci", host: "0001:01:00.0" });
    assert.deepEqual(maps(m, 0), ["800000000030000+10000"]);
    assert.equal(m.behaviour, "qemu-7.2");
  });
});

describe("the report folds what the 2016 replay repeats", () => {
  test("blocks of up to four lines repeated right after themselves are said once", () => {
    assert.deepEqual(foldRepeats(["a", "a", "a", "b"]), ["a", repeatLine(1, 2), "b"]);
    assert.deepEqual(foldRepeats(["x", "y", "x", "y", "x", "y", "x"]), [
      "x",
      "y",
      repeatLine(2, 2),
      "x",
    ]);
    assert.deepEqual(foldRepeats(["a", "b", "c"]), ["a", "b", "c"]);
  });
});
