/**
 * A real Linux guest (Debian 12's backports kernel 6.12, the first Debian kernel on x86 with
 * CONFIG_VIRTIO_IOMMU and CONFIG_ACPI_VIOT) booted under QEMU 7.2 TCG on q35 with virtio-iommu-pci,
 * an e1000e (ping) and an NVMe disk (dd), `iommu.strict=1`; QEMU's `virtio_iommu_*` trace is in
 * data/x86-virtio-iommu/ with its command line and console (recorded with
 * /work/shared/real-guest/x86/capture.sh). Played through iova, every device-side event QEMU
 * logged comes out of the model the same and in the same order, and the mappings left at the end
 * are the ones QEMU's own MAP and UNMAP-done events leave.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { TRACE_EVENTS } from "../../src/trace/events.ts";
import { TraceReader } from "../../src/trace/reader.ts";
import { playVirtioIommuLog } from "../../src/trace/virtio-iommu-play.ts";
import {
  modelVirtioIommuSpaces,
  recordedMachine,
  virtioIommuSpaces,
} from "./virtio-iommu-recording.ts";

const dir = join(import.meta.dirname, "data", "x86-virtio-iommu");
const log = readFileSync(join(dir, "trace.log"), "utf8");

/** The mappings QEMU's own events leave: MAP adds, UNMAP-done removes (read here, not by iova). */
function mappingsFromLog(text: string): Map<number, string[]> {
  const out = new Map<number, Map<string, string>>();
  for (const line of text.split("\n")) {
    const m =
      /^virtio_iommu_(map|unmap_done) domain=(\d+) virt_start=(0x[0-9a-f]+) virt_end=(0x[0-9a-f]+)(?: phys_start=(0x[0-9a-f]+) flags=(\d+))?$/.exec(
        line,
      );
    if (!m) continue;
    const domain = Number(m[2]);
    const d = out.get(domain) ?? new Map<string, string>();
    out.set(domain, d);
    const key = `${m[3]}-${m[4]}`;
    if (m[1] === "map") d.set(key, `${key} -> ${m[5]} flags ${m[6]}`);
    else assert.ok(d.delete(key), `UNMAP-done of ${key}, never mapped`);
  }
  return new Map(
    [...out].filter(([, v]) => v.size > 0).map(([k, v]) => [k, [...v.values()].sort()]),
  );
}

test("every line of the recorded log is a virtio-iommu event the table reads", () => {
  const names = new Map<string, number>();
  const reader = new TraceReader(TRACE_EVENTS, (r) =>
    names.set(r.name, (names.get(r.name) ?? 0) + 1),
  );
  reader.push(log);
  reader.end();
  assert.deepEqual([...reader.unknown], []);
  assert.equal(
    [...names.values()].reduce((a, b) => a + b, 0),
    4036,
  );
});

test("the recorded guest's virtio-iommu trace plays through iova with no difference", () => {
  const m = recordedMachine();
  const play = playVirtioIommuLog(log, m);
  assert.deepEqual(play.differences, []);
  assert.deepEqual(play.played, {
    virtio_iommu_system_reset: 1,
    virtio_iommu_device_reset: 2,
    virtio_iommu_probe: 3,
    virtio_iommu_attach: 3,
    virtio_iommu_map: 650,
    virtio_iommu_unmap: 108,
    virtio_iommu_translate: 1471,
  });
  // Endpoints and domains (3 + 3), switches (7 at reset, 3 at ATTACH), 386 UNMAP-done, 1348
  // translations, 3 reserved regions.
  assert.equal(play.compared, 6 + 10 + 386 + 1348 + 3);
});

test("the mappings iova ends with are those QEMU's MAP and UNMAP-done events leave", () => {
  const m = recordedMachine();
  const play = playVirtioIommuLog(log, m);
  const model = new Map(
    [...play.mappings]
      .filter(([, list]) => list.length > 0)
      .map(([domain, list]) => [
        domain,
        list
          .map(
            (x) =>
              `0x${x.low.toString(16)}-0x${x.high.toString(16)} -> 0x${x.phys.toString(16)} flags ${x.flags}`,
          )
          .sort(),
      ]),
  );
  const expected = mappingsFromLog(log);
  assert.deepEqual(model, expected);
  // Linux hands out IOVAs from the top of the 32-bit space down: something is still mapped.
  assert.ok([...expected.values()].some((l) => l.length > 0));
});

test("a translation QEMU sent elsewhere, or an UNMAP that removed something else, is a difference", () => {
  const original = "virtio_iommu_translate_out 0xffffe000 -> 0x1818d000 for sid=24";
  assert.ok(log.includes(original));
  // String.replace with a string replaces the first occurrence only.
  const tampered = log.replace(original, original.replace("0x1818d000", "0x1818e000"));
  const play = playVirtioIommuLog(tampered, recordedMachine());
  assert.equal(play.differenceCount, 1);
  assert.deepEqual(
    { log: play.differences[0].log, model: play.differences[0].model },
    {
      log: "virtio_iommu_translate_out 0xffffe000 -> 0x1818e000 for sid=24",
      model: "virtio_iommu_translate_out 0xffffe000 -> 0x1818d000 for sid=24",
    },
  );
  const done = log.indexOf("virtio_iommu_unmap_done ");
  const dropped = log.slice(0, done) + log.slice(log.indexOf("\n", done) + 1);
  const play2 = playVirtioIommuLog(dropped, recordedMachine());
  assert.ok(play2.differenceCount >= 1);
  assert.match(
    play2.differences[0].model,
    /^virtio_iommu_unmap_done domain=2 virt_start=0xffffd000/,
  );
});

test("each function's address space is QEMU's before the driver loads and after the log is played", () => {
  const m = recordedMachine();
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  assert.deepEqual(modelVirtioIommuSpaces(m), virtioIommuSpaces(read("mtree-pre-modules.txt")));
  playVirtioIommuLog(log, m);
  const after = modelVirtioIommuSpaces(m);
  assert.deepEqual(after, virtioIommuSpaces(read("mtree.txt")));
  // The attached ones (host bridge, e1000e, NVMe) now show their IOMMU region.
  assert.equal(after.filter((b) => !b.includes("alias system")).length, 3);
});

test("with iommu.passthrough=1 Linux attaches bypass domains: the switches show the untraced flag", () => {
  const pt = join(import.meta.dirname, "data", "x86-virtio-iommu-passthrough");
  const m = recordedMachine();
  const play = playVirtioIommuLog(readFileSync(join(pt, "trace.log"), "utf8"), m);
  assert.deepEqual(play.differences, []);
  assert.equal(play.played.virtio_iommu_attach, 3);
  assert.deepEqual(
    [...m.virtioIommu!.domains.values()].map((d) => [d.id, d.bypass]),
    [
      [0, true],
      [1, true],
      [2, true],
    ],
  );
  // Bypass domains: every function's address space shows the `system` alias, as QEMU's does.
  assert.deepEqual(
    modelVirtioIommuSpaces(m),
    virtioIommuSpaces(readFileSync(join(pt, "mtree.txt"), "utf8")),
  );
});
