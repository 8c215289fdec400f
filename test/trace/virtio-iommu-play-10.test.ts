/**
 * The same real Linux guest as virtio-iommu-play.test.ts (Debian's backports kernel 6.12 on q35
 * with virtio-iommu-pci, an e1000e and an NVMe disk, `iommu.strict=1`), booted under QEMU 10.0.2
 * (bookworm-backports, run through scripts/qemu-10.sh) with /work/shared/real-guest/x86/capture.sh;
 * its trace, console and `info mtree` are in data/x86-virtio-iommu-10/; the same with
 * `iommu.passthrough=1` in data/x86-virtio-iommu-passthrough-10/, and the first lines of a boot on
 * `-M pc-q35-8.2` (its compat properties: aw-bits 64, granule 4k) in
 * data/x86-virtio-iommu-10-pc-q35-8.2/. Played on a q35 machine
 * with `qemu: "10.0"`, every device-side event comes out of the model the same and in the same
 * order, and the configuration the driver read (39-bit input range, 4 KiB granule frozen at
 * machine-done) is the model's.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { playVirtioIommuLog } from "../../src/trace/virtio-iommu-play.ts";
import {
  modelVirtioIommuSpaces,
  recordedMachine,
  virtioIommuSpaces,
} from "./virtio-iommu-recording.ts";

const dir = join(import.meta.dirname, "data", "x86-virtio-iommu-10");
const log = readFileSync(join(dir, "trace.log"), "utf8");

test("the QEMU 10.0 guest's virtio-iommu trace plays through iova under 10.0 with no difference", () => {
  // What 10.0 printed that 7.2 does not: the 39-bit input range, the unsigned domain range, the
  // granule frozen at machine-done, and the device reset's new event name.
  assert.match(
    log,
    /input range end=0x7fffffffff domain range start=0 domain range end=4294967295 /,
  );
  assert.match(log, /^virtio_iommu_freeze_granule granule set to 0x1000$/m);
  assert.match(log, /^virtio_iommu_device_reset_exit reset!$/m);
  const play = playVirtioIommuLog(log, recordedMachine("10.0"));
  assert.deepEqual(play.differences, []);
  assert.deepEqual(play.unknown, new Map());
  // The actions, as many as the log has lines of each (grep -c).
  assert.deepEqual(play.played, {
    virtio_iommu_system_reset: 1,
    virtio_iommu_device_reset_exit: 1,
    virtio_iommu_probe: 3,
    virtio_iommu_attach: 3,
    virtio_iommu_map: 663,
    virtio_iommu_unmap: 111,
    virtio_iommu_translate: 1546,
  });
  // Counted in the log: endpoints and domains (3 + 3), switches (17, of which 7 at realize are
  // before the first reset), 400 UNMAP-done, 1388 translations, 3 reserved regions.
  assert.equal(play.compared, 6 + 10 + 400 + 1388 + 3);
});

test("a 10.0 machine of type pc-q35-8.2 (aw-bits 64) differs from the recording at the first configuration read", () => {
  const play = playVirtioIommuLog(log, recordedMachine("10.0", "pc-q35-8.2"));
  assert.ok(play.differenceCount >= 1);
  assert.match(play.differences[0].log, /^virtio_iommu_get_config .*input range end=0x7fffffffff /);
  assert.match(play.differences[0].model, /input range end=0xffffffffffffffff /);
});

test("each function's address space is QEMU 10.0's before the driver loads and after the log is played", () => {
  const m = recordedMachine("10.0");
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  assert.deepEqual(modelVirtioIommuSpaces(m), virtioIommuSpaces(read("mtree-pre-modules.txt")));
  playVirtioIommuLog(log, m);
  const after = modelVirtioIommuSpaces(m);
  assert.deepEqual(after, virtioIommuSpaces(read("mtree.txt")));
  assert.equal(after.filter((b) => !b.includes("alias system")).length, 3);
});

test("with iommu.passthrough=1 under 10.0 Linux attaches bypass domains, and the play agrees", () => {
  const pt = join(import.meta.dirname, "data", "x86-virtio-iommu-passthrough-10");
  const m = recordedMachine("10.0");
  const play = playVirtioIommuLog(readFileSync(join(pt, "trace.log"), "utf8"), m);
  assert.deepEqual(play.differences, []);
  // Endpoints and domains (3 + 3), switches after the first reset (17 - 7), 3 reserved regions.
  assert.equal(play.compared, 6 + 10 + 3);
  assert.deepEqual(
    [...m.virtioIommu!.domains.values()].map((d) => [d.id, d.bypass]),
    [
      [0, true],
      [1, true],
      [2, true],
    ],
  );
  assert.deepEqual(
    modelVirtioIommuSpaces(m),
    virtioIommuSpaces(readFileSync(join(pt, "mtree.txt"), "utf8")),
  );
});

test("the same guest on 10.0's pc-q35-8.2 reads a 64-bit input range, and a pc-q35-8.2 model plays it", () => {
  // The first 400 lines of that boot's trace (the whole log is like the q35 one's).
  const head = readFileSync(
    join(import.meta.dirname, "data", "x86-virtio-iommu-10-pc-q35-8.2", "trace-head.log"),
    "utf8",
  );
  assert.match(
    head,
    /^virtio_iommu_get_config page_size_mask=0xfffffffffffff000 input range start=0x0 input range end=0xffffffffffffffff /m,
  );
  assert.deepEqual(playVirtioIommuLog(head, recordedMachine("10.0", "pc-q35-8.2")).differences, []);
  const onQ35 = playVirtioIommuLog(head, recordedMachine("10.0", "q35"));
  assert.match(onQ35.differences[0].model, /input range end=0x7fffffffff /);
});

test("the driver's reset at probe resets the device on 7.2 and not on 10.0 (the recorded logs)", () => {
  const resets = (text: string) =>
    text.split("\n").filter((l) => /^virtio_iommu_device_reset(_exit)? reset!$/.test(l)).length;
  const log72 = readFileSync(
    join(import.meta.dirname, "data", "x86-virtio-iommu", "trace.log"),
    "utf8",
  );
  // 7.2: the system reset's, then the driver's (after its device_status 0 writes); 10.0: one.
  assert.equal(resets(log72), 2);
  assert.equal(resets(log), 1);
  const m = recordedMachine("10.0");
  const vi = m.virtioIommu!;
  const events: string[] = [];
  vi.onTrace = (e) => events.push(e);
  vi.virtioReset();
  assert.deepEqual(events, []);
});
