/**
 * virtio-iommu-pci on q35 as QEMU 7.2 models it: each request's status codes and the exact
 * conditions that produce them, the request bytes, translation with permissions and faults,
 * reserved regions, bypass (boot-bypass, config.bypass, bypass domains) switching each function
 * between the IOMMU region and the `system` alias, MAP/UNMAP notifications in aligned pieces,
 * replay, and the page-size mask VFIO narrows.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { IommuNotifierFlag } from "../../src/iommu/notifier.ts";
import { Q35Machine } from "../../src/machine/q35.ts";
import type { IommuTlbEntry } from "../../src/memory/iommu-types.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { QtestSession } from "../../src/qtest/protocol.ts";
import {
  VIRTIO_IOMMU_S as S,
  VIRTIO_IOMMU_FAULT_F,
  VIRTIO_IOMMU_FAULT_R,
  VIRTIO_IOMMU_T,
} from "../../src/virtio-iommu/constants.ts";
import { alignedPow2Mask, parseReservedRegion } from "../../src/virtio-iommu/virtio-iommu.ts";

const MiB = 1n << 20n;
const EDU = 0x10; // 00:02.0
const NIC = 0x18; // 00:03.0

function machine(props: Record<string, string> = {}) {
  const m = new Q35Machine({
    memory: 256n * MiB,
    devices: [
      { driver: "virtio-iommu-pci", properties: props },
      { driver: "edu" },
      { driver: "e1000e" },
    ],
  });
  return { m, vi: m.virtioIommu! };
}

/** The function's DMA address space (what its bus master alias points at). */
const dmaAs = (m: Q35Machine, devfn: number) => m.virtioIommu!.addressSpaceOf(0, devfn).as;

describe("request status codes", () => {
  test("ATTACH: an unknown flag is INVAL, a requester id with no address space NOENT", () => {
    const { vi } = machine();
    assert.equal(vi.attach(1, EDU, 2), S.INVAL);
    assert.equal(vi.attach(1, 0x99), S.NOENT);
    assert.equal(vi.attach(1, EDU), S.OK);
  });

  test("ATTACH to a domain of the other bypass kind is INVAL and leaves the endpoint detached", () => {
    const { vi } = machine();
    assert.equal(vi.attach(1, EDU), S.OK);
    assert.equal(vi.attach(2, NIC, 1), S.OK);
    assert.equal(vi.attach(2, EDU), S.INVAL);
    assert.equal(vi.endpoints.get(EDU)?.domain, undefined);
    // Its old domain lost its last endpoint and went away.
    assert.equal(vi.domains.has(1), false);
  });

  test("DETACH: NOENT for an endpoint never attached, INVAL for the wrong domain", () => {
    const { vi } = machine();
    assert.equal(vi.detach(1, EDU), S.NOENT);
    vi.attach(1, EDU);
    assert.equal(vi.detach(2, EDU), S.INVAL);
    assert.equal(vi.detach(1, EDU), S.OK);
    assert.equal(vi.detach(1, EDU), S.INVAL);
    assert.equal(vi.domains.size, 0);
  });

  test("MAP: INVAL for unknown flags, a bypass domain or an overlap; NOENT for no domain", () => {
    const { vi } = machine();
    assert.equal(vi.map(1, 0x1000n, 0x1fffn, 0x100000n, 3), S.NOENT);
    vi.attach(1, EDU);
    vi.attach(2, NIC, 1);
    assert.equal(vi.map(1, 0x1000n, 0x1fffn, 0x100000n, 8), S.INVAL);
    assert.equal(vi.map(2, 0x1000n, 0x1fffn, 0x100000n, 3), S.INVAL);
    assert.equal(vi.map(1, 0x1000n, 0x2fffn, 0x100000n, 3), S.OK);
    assert.equal(vi.map(1, 0x2fffn, 0x3fffn, 0x200000n, 3), S.INVAL);
    assert.equal(vi.map(1, 0x3000n, 0x3fffn, 0x200000n, 3), S.OK);
    // 7.2 checks neither alignment nor the input range.
    assert.equal(vi.map(1, 0x4001n, 0x4002n, 0x300000n, 1), S.OK);
  });

  test("UNMAP: RANGE when a mapping straddles an end, keeping what went before it", () => {
    const { vi } = machine();
    vi.attach(1, EDU);
    vi.map(1, 0x1000n, 0x1fffn, 0x100000n, 3);
    vi.map(1, 0x2000n, 0x3fffn, 0x200000n, 3);
    assert.equal(vi.unmap(1, 0x1000n, 0x2fffn), S.RANGE);
    assert.deepEqual(
      vi.domains.get(1)!.mappings.map((x) => x.low),
      [0x2000n],
    );
    assert.equal(vi.unmap(1, 0x0n, 0xffffn), S.OK);
    assert.equal(vi.domains.get(1)!.mappings.length, 0);
    assert.equal(vi.unmap(1, 0x0n, 0xffffn), S.OK, "nothing to unmap is OK");
    assert.equal(vi.unmap(7, 0x0n, 0xffffn), S.NOENT);
    vi.attach(2, NIC, 1);
    assert.equal(vi.unmap(2, 0x0n, 0xffffn), S.INVAL);
  });

  test("PROBE: NOENT without an address space; q35 reports the MSI window as RESV_MEM MSI", () => {
    const { vi } = machine();
    assert.equal(vi.probe(0x99).status, S.NOENT);
    const r = vi.probe(EDU);
    assert.equal(r.status, S.OK);
    const v = new DataView(r.properties.buffer);
    assert.deepEqual(
      [v.getUint16(0, true), v.getUint16(2, true), v.getUint8(4)],
      [1, 20, 1],
      "type RESV_MEM, length 20, subtype MSI",
    );
    assert.equal(v.getBigUint64(8, true), 0xfee00000n);
    assert.equal(v.getBigUint64(16, true), 0xfeefffffn);
    assert.ok(r.properties.subarray(24).every((b) => b === 0));
  });

  test("the request bytes: unknown type UNSUPP, short payload INVAL, no room for the tail refused", () => {
    const { vi } = machine();
    const attach = new Uint8Array(20);
    attach[0] = VIRTIO_IOMMU_T.attach;
    new DataView(attach.buffer).setUint32(4, 5, true);
    new DataView(attach.buffer).setUint32(8, EDU, true);
    assert.deepEqual(vi.request(attach, 4), Uint8Array.of(S.OK, 0, 0, 0));
    assert.equal(vi.endpoints.get(EDU)?.domain, 5);
    assert.deepEqual(vi.request(Uint8Array.of(9, 0, 0, 0), 4)?.[0], S.UNSUPP);
    assert.deepEqual(vi.request(attach.subarray(0, 19), 4)?.[0], S.INVAL);
    const probe = new Uint8Array(72);
    probe[0] = VIRTIO_IOMMU_T.probe;
    new DataView(probe.buffer).setUint32(4, EDU, true);
    const reply = vi.request(probe, 516)!;
    assert.equal(reply.length, 516);
    assert.equal(reply[512], S.OK);
    assert.equal(vi.request(probe.subarray(0, 71), 516)![512], S.INVAL);
    assert.equal(vi.request(attach, 3), undefined);
  });

  test("7.2 never answers IOERR, DEVERR, FAULT or NOMEM, whatever the request", () => {
    const { vi } = machine();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 80 }),
        fc.integer({ min: 0, max: 5 }),
        (bytes, type) => {
          bytes[0] = type;
          const reply = vi.request(bytes, 516);
          assert.ok(reply);
          const status = bytes[0] === VIRTIO_IOMMU_T.probe ? reply[512] : reply[0];
          assert.ok(
            ![S.IOERR, S.DEVERR, S.FAULT, S.NOMEM].includes(status as 1 | 3 | 7 | 8),
            `status ${status}`,
          );
        },
      ),
      { seed: 18, numRuns: 300 },
    );
  });
});

describe("translation, bypass and faults", () => {
  test("boot-bypass: before ATTACH a function's DMA reaches RAM at its own address", () => {
    const { m } = machine();
    m.cpuMemory.write(0x5000n, Uint8Array.of(1, 2, 3));
    assert.deepEqual(dmaAs(m, EDU).read(0x5000n, 3).data, Uint8Array.of(1, 2, 3));
  });

  test("after ATTACH and MAP the DMA goes where the guest mapped it, and faults elsewhere", () => {
    const { m, vi } = machine();
    m.cpuMemory.write(0x200000n, Uint8Array.of(7, 7));
    vi.attach(1, EDU);
    vi.map(1, 0x10000n, 0x10fffn, 0x200000n, 1);
    assert.deepEqual(dmaAs(m, EDU).read(0x10000n, 2).data, Uint8Array.of(7, 7));
    assert.notEqual(dmaAs(m, EDU).read(0x30000n, 2).result, 0);
    assert.deepEqual(vi.faults.at(-1), {
      reason: VIRTIO_IOMMU_FAULT_R.MAPPING,
      flags: VIRTIO_IOMMU_FAULT_F.ADDRESS,
      endpoint: EDU,
      address: 0x30000n,
    });
    // A write to a read-only mapping: a MAPPING fault with the WRITE flag.
    assert.notEqual(dmaAs(m, EDU).write(0x10000n, Uint8Array.of(1)), 0);
    assert.equal(
      vi.faults.at(-1)!.flags,
      VIRTIO_IOMMU_FAULT_F.WRITE | VIRTIO_IOMMU_FAULT_F.ADDRESS,
    );
    // Another function stays in bypass.
    assert.deepEqual(dmaAs(m, NIC).read(0x200000n, 2).data, Uint8Array.of(7, 7));
  });

  test("the MSI window passes untranslated for an attached function", () => {
    const { vi } = machine();
    vi.attach(1, EDU);
    const entry = vi.addressSpaceOf(0, EDU).iommu.translate(0xfee00004n, 2, 0);
    assert.deepEqual([entry.translatedAddr, entry.perm], [0xfee00004n, 2]);
    assert.equal(vi.faults.length, 0);
  });

  test("7.2 looks up [addr, addr+1]: the byte before a mapping translates into it", () => {
    const { vi } = machine();
    vi.attach(1, EDU);
    vi.map(1, 0x2000n, 0x2fffn, 0x400000n, 3);
    const entry = vi.addressSpaceOf(0, EDU).iommu.translate(0x1fffn, 1, 0);
    assert.deepEqual([entry.translatedAddr, entry.perm], [0x3fffffn, 1]);
  });

  test("boot-bypass=off: DMA of an unknown endpoint faults UNKNOWN, of a detached one DOMAIN", () => {
    const { m, vi } = machine({ "boot-bypass": "off" });
    assert.notEqual(dmaAs(m, EDU).read(0x5000n, 1).result, 0);
    assert.equal(vi.faults.at(-1)!.reason, VIRTIO_IOMMU_FAULT_R.UNKNOWN);
    vi.attach(1, EDU);
    vi.detach(1, EDU);
    assert.notEqual(dmaAs(m, EDU).read(0x5000n, 1).result, 0);
    assert.equal(vi.faults.at(-1)!.reason, VIRTIO_IOMMU_FAULT_R.DOMAIN);
    // The IOMMU region is the enabled one from the start.
    const region = "(prio 0, i/o): virtio-iommu-memory-region-2-16";
    assert.ok(
      formatMtree(m.memory, {}).includes(
        `${region}\n    0000000000000000-ffffffffffffffff ${region}\n`,
      ),
    );
  });

  test("a bypass domain lets DMA through; config.bypass 0 then 1 switches every function", () => {
    const { m, vi } = machine({ "boot-bypass": "off" });
    m.cpuMemory.write(0x6000n, Uint8Array.of(4));
    vi.attach(3, EDU, 1);
    assert.deepEqual(dmaAs(m, EDU).read(0x6000n, 1).data, Uint8Array.of(4));
    assert.equal(vi.setConfigBypass(1), undefined);
    assert.deepEqual(dmaAs(m, NIC).read(0x6000n, 1).data, Uint8Array.of(4));
    assert.equal(vi.setConfigBypass(2), "invalid config.bypass value '2'");
    m.reset();
    assert.equal(vi.config.bypass, false, "system reset restores boot-bypass");
    assert.equal(vi.domains.size, 0, "device reset drops the domains");
  });

  test("reserved-regions items parse as low:high:type and a type other than 0 or 1 is refused", () => {
    assert.deepEqual(parseReservedRegion("0xfee00000:0xfeefffff:1"), {
      low: 0xfee00000n,
      high: 0xfeefffffn,
      type: 1,
    });
    assert.throws(() => parseReservedRegion("0x1000:0x1fff:2"), /invalid type/);
    assert.throws(() => parseReservedRegion("0x1000-0x1fff"), /low:high:type/);
  });

  test("q35 refuses a second vIOMMU, a user len-reserved-regions, and hot-plug", () => {
    assert.throws(
      () => new Q35Machine({ intelIommu: {}, devices: [{ driver: "virtio-iommu-pci" }] }),
      /QEMU does not support multiple vIOMMUs for x86 yet\./,
    );
    assert.throws(
      () =>
        new Q35Machine({
          devices: [{ driver: "virtio-iommu-pci", properties: { "len-reserved-regions": "1" } }],
        }),
      /may only be set once/,
    );
    assert.throws(
      () => machine().m.plug({ driver: "virtio-iommu-pci" }),
      /does not support hotplugging/,
    );
  });
});

describe("notifications, replay and the page-size mask", () => {
  const record = (m: Q35Machine, devfn: number) => {
    const events: string[] = [];
    const iommu = m.virtioIommu!.addressSpaceOf(0, devfn).iommu;
    iommu.registerNotifier({
      flags: IommuNotifierFlag.iotlbEvents,
      start: 0n,
      end: (1n << 64n) - 1n,
      iommuIdx: 0,
      notify: (e: IommuTlbEntry) =>
        events.push(
          `${e.perm ? "MAP" : "UNMAP"} 0x${e.iova.toString(16)}/0x${(e.addrMask + 1n).toString(16)}${e.perm ? ` -> 0x${e.translatedAddr.toString(16)}` : ""}`,
        ),
    });
    return events;
  };

  test("MAP is notified in aligned power-of-two pieces, UNMAP likewise, DETACH unmaps all", () => {
    const { m, vi } = machine();
    vi.attach(1, EDU);
    const events = record(m, EDU);
    vi.map(1, 0x1000n, 0x4fffn, 0x100000n, 3);
    assert.deepEqual(events.splice(0), [
      "MAP 0x1000/0x1000 -> 0x100000",
      "MAP 0x2000/0x2000 -> 0x101000",
      "MAP 0x4000/0x1000 -> 0x103000",
    ]);
    vi.map(1, 0x8000n, 0x8fffn, 0x200000n, 4 | 3);
    assert.deepEqual(events.splice(0), [], "an MMIO mapping is not notified");
    vi.unmap(1, 0x1000n, 0x4fffn);
    assert.deepEqual(events.splice(0), [
      "UNMAP 0x1000/0x1000",
      "UNMAP 0x2000/0x2000",
      "UNMAP 0x4000/0x1000",
    ]);
    vi.detach(1, EDU);
    assert.deepEqual(events.splice(0), ["UNMAP 0x8000/0x1000"]);
  });

  test("a notifier registered after the mappings gets them on replay; ATTACH replays too", () => {
    const { m, vi } = machine();
    vi.attach(1, EDU);
    vi.map(1, 0x0n, 0xfffn, 0x300000n, 1);
    const iommu = vi.addressSpaceOf(0, NIC).iommu;
    const events = record(m, NIC);
    iommu.replay(iommu.notifiers[0]);
    assert.deepEqual(events.splice(0), [], "NIC is in no domain: nothing to replay");
    vi.attach(1, NIC);
    assert.deepEqual(events.splice(0), ["MAP 0x0/0x1000 -> 0x300000"]);
    iommu.replay(iommu.notifiers[0]);
    assert.deepEqual(events.splice(0), ["MAP 0x0/0x1000 -> 0x300000"]);
  });

  test("aligned pieces cover the range exactly, each aligned to its power-of-two size and maximal", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.bigInt({ min: 0n, max: (1n << 20n) - 1n }),
        (start, len) => {
          const end = start + len > (1n << 64n) - 1n ? (1n << 64n) - 1n : start + len;
          let at = start;
          let pieces = 0;
          while (at <= end) {
            const mask = alignedPow2Mask(at, end);
            assert.equal(mask & (mask + 1n), 0n, "a power of two");
            assert.equal(at & mask, 0n, "aligned");
            assert.ok(at + mask <= end, "inside");
            // Maximal: doubling breaks alignment or passes the end.
            const bigger = mask * 2n + 1n;
            assert.ok((at & bigger) !== 0n || at + bigger > end);
            pieces++;
            if (at + mask === (1n << 64n) - 1n) break;
            at += mask + 1n;
          }
          assert.ok(pieces <= 128);
        },
      ),
      { seed: 18, numRuns: 500 },
    );
  });

  test("page-size mask: narrowed before machine-ready, frozen after (granule must match)", () => {
    const { vi } = machine();
    const name = "virtio-iommu-memory-region-0-0";
    vi.machineReady = false;
    assert.equal(vi.setPageSizeMask(name, 0x40201000n), undefined);
    assert.equal(vi.config.pageSizeMask, 0x40201000n);
    assert.equal(
      vi.setPageSizeMask(name, 0x800n),
      "virtio-iommu page mask 0x40201000 is incompatible with mask 0x800",
    );
    vi.machineReady = true;
    assert.equal(
      vi.setPageSizeMask(name, 0x20010000n),
      "virtio-iommu page mask 0x40201000 is incompatible with mask 0x20010000",
    );
    assert.equal(vi.setPageSizeMask(name, 0x1000n), undefined, "same granule: accepted");
    assert.equal(vi.config.pageSizeMask, 0x40201000n);
  });
});

describe("an emulated device's DMA through virtio-iommu", () => {
  test("edu's DMA engine copies through the guest's mappings and faults outside them", () => {
    const { m, vi } = machine();
    const s = new QtestSession(m);
    const run = (...lines: string[]) => {
      for (const l of lines) assert.deepEqual(s.execute(l), { reply: "OK" }, l);
    };
    // edu at 00:02.0: BAR0 at 0xfe000000, memory decoding and bus mastering on.
    run(
      "outl 0xcf8 0x80001010",
      "outl 0xcfc 0xfe000000",
      "outl 0xcf8 0x80001004",
      "outw 0xcfc 0x6",
    );
    m.cpuMemory.write(0x300000n, Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
    vi.attach(1, EDU);
    vi.map(1, 0x1000n, 0x1fffn, 0x300000n, 1);
    vi.map(1, 0x2000n, 0x2fffn, 0x310000n, 2);
    // RAM -> edu buffer from IOVA 0x1000, then edu buffer -> RAM at IOVA 0x2000.
    run("writeq 0xfe000080 0x1000", "writeq 0xfe000088 0x40000", "writeq 0xfe000090 0x4");
    run("writeq 0xfe000098 0x1");
    s.passTime();
    run("writeq 0xfe000080 0x40000", "writeq 0xfe000088 0x2000", "writeq 0xfe000098 0x3");
    s.passTime();
    assert.deepEqual(m.cpuMemory.read(0x310000n, 4).data, Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
    assert.deepEqual(vi.faults, []);
    // A write through the read-only mapping: refused, a MAPPING fault with the WRITE flag.
    run("writeq 0xfe000088 0x1000", "writeq 0xfe000098 0x3");
    s.passTime();
    assert.deepEqual(vi.faults, [
      {
        reason: VIRTIO_IOMMU_FAULT_R.MAPPING,
        flags: VIRTIO_IOMMU_FAULT_F.WRITE | VIRTIO_IOMMU_FAULT_F.ADDRESS,
        endpoint: EDU,
        address: 0x1000n,
      },
    ]);
  });
});
