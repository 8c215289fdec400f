/**
 * virtio-iommu under `qemu: "10.0"`: what changed between QEMU 7.2 and 10.0 that a guest or a
 * user sees (docs/semantics.md, "QEMU 10.0 versus 7.2"). Expected values come from the real
 * binaries (`-device virtio-iommu-pci,help`, `qom-get` of `aw-bits` and `granule` on q35,
 * pc-q35-9.0 and pc-q35-8.2 under 10.0.2, their refusals, and a Linux 6.12 guest's
 * `virtio_iommu_get_config` lines on each) and from QEMU 10.0's hw/virtio/virtio-iommu.c for
 * what needs an assigned device (the host's reserved ranges and page sizes), worked out here by
 * hand from the host's IOVA ranges.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ARM64_64K_HOST } from "../../src/host/arm64-64k-host.ts";
import type { HostPlatform } from "../../src/host/platform.ts";
import { X86_HOST } from "../../src/host/x86-host.ts";
import { Q35Machine } from "../../src/machine/q35.ts";
import type { QemuLine } from "../../src/machine/qemu-line.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { VIRTIO_IOMMU_FAULT_R } from "../../src/virtio-iommu/constants.ts";
import { VirtioIommu } from "../../src/virtio-iommu/virtio-iommu.ts";

const MiB = 1n << 20n;
const U64_MAX = (1n << 64n) - 1n;
const NIC = 0x10; // 00:02.0
const MSI = { start: 0xfee00000n, end: 0xfeefffffn };

function machine(
  qemu: QemuLine,
  opts: {
    machineType?: string;
    platform?: HostPlatform;
    viommu?: Record<string, string>;
    assigned?: boolean;
  } = {},
) {
  return new Q35Machine({
    qemu,
    memory: 64n * MiB,
    ...(opts.machineType ? { machineType: opts.machineType } : {}),
    ...(opts.platform ? { host: { platform: opts.platform } } : {}),
    devices: [
      { driver: "virtio-iommu-pci", properties: opts.viommu ?? {} },
      ...(opts.assigned
        ? [{ driver: "vfio-pci", id: "nic", properties: { host: "0000:01:00.0" } }]
        : []),
    ],
  });
}

/** The RESV_MEM properties of a PROBE reply, decoded by hand (virtio 1.2, 5.13.6.8.2). */
function resvMem(properties: Uint8Array): { subtype: number; start: bigint; end: bigint }[] {
  const view = new DataView(properties.buffer, properties.byteOffset, properties.byteLength);
  const out: { subtype: number; start: bigint; end: bigint }[] = [];
  for (let at = 0; at + 24 <= properties.length; at += 24) {
    if (view.getUint16(at, true) !== 1) break;
    assert.equal(view.getUint16(at + 2, true), 20);
    out.push({
      subtype: view.getUint8(at + 4),
      start: view.getBigUint64(at + 8, true),
      end: view.getBigUint64(at + 16, true),
    });
  }
  return out;
}

describe("configuration: granule and aw-bits (9.0)", () => {
  test("the guest reads a 39-bit input range on 10.0's q35 and the whole 64-bit space on 7.2", () => {
    // Recorded: Linux 6.12 on 10.0's q35 reads input range end=0x7fffffffff, on 7.2's
    // 0xffffffffffffffff; both page_size_mask=0xfffffffffffff000 (an x86 host's 4 KiB pages).
    const v10 = machine("10.0").virtioIommu!;
    assert.equal(v10.config.inputRange.end, 0x7fffffffffn);
    assert.equal(v10.config.pageSizeMask, 0xfffffffffffff000n);
    const v72 = machine("7.2").virtioIommu!;
    assert.equal(v72.config.inputRange.end, U64_MAX);
    assert.equal(v72.config.pageSizeMask, 0xfffffffffffff000n);
  });

  test("machine types up to pc-q35-8.2 keep 64 bits and a 4 KiB granule under 10.0; pc-q35-9.0 has 39 and the host's page", () => {
    // qom-get on 10.0.2: pc-q35-8.2 and 8.1 give aw-bits 64, granule 4k; pc-q35-9.0 and q35 39, host.
    const on64k = (machineType: string) =>
      machine("10.0", { machineType, platform: ARM64_64K_HOST }).virtioIommu!.config;
    assert.equal(on64k("pc-q35-8.2").inputRange.end, U64_MAX);
    assert.equal(on64k("pc-q35-8.2").pageSizeMask, 0xfffffffffffff000n);
    assert.equal(on64k("pc-q35-9.0").inputRange.end, 0x7fffffffffn);
    // granule=host on a 64 KiB host: qemu_real_host_page_mask().
    assert.equal(on64k("pc-q35-9.0").pageSizeMask, 0xffffffffffff0000n);
  });

  test("granule and aw-bits set on the command line; 7.2 has neither property", () => {
    const vi = machine("10.0", { viommu: { granule: "16k", "aw-bits": "48" } }).virtioIommu!;
    assert.equal(vi.config.pageSizeMask, 0xffffffffffffc000n);
    assert.equal(vi.config.inputRange.end, 0xffffffffffffn);
    assert.equal(vi.granule, 0x4000n);
    // The real binaries' refusals.
    assert.throws(
      () => machine("7.2", { viommu: { granule: "64k" } }),
      /^Q35DeviceError: Property 'virtio-iommu-pci\.granule' not found$/,
    );
    assert.throws(
      () => machine("7.2", { viommu: { "aw-bits": "48" } }),
      /^Q35DeviceError: Property 'virtio-iommu-pci\.aw-bits' not found$/,
    );
    assert.throws(
      () => machine("10.0", { viommu: { "aw-bits": "31" } }),
      /^Q35DeviceError: aw-bits must be within \[32,64\]$/,
    );
    assert.throws(
      () => machine("10.0", { viommu: { "aw-bits": "65" } }),
      /^Q35DeviceError: aw-bits must be within \[32,64\]$/,
    );
    assert.throws(
      () => machine("10.0", { viommu: { granule: "2k" } }),
      /^Q35DeviceError: Parameter 'granule' does not accept value '2k'$/,
    );
    assert.throws(
      () => machine("10.0", { viommu: { "len-reserved-regions": "1" } }),
      /^Q35DeviceError: Property 'virtio-iommu-pci\.len-reserved-regions' not found$/,
    );
  });
});

describe("the host's reserved regions (9.1, set_iommu_device)", () => {
  test("PROBE of an assigned function on a 64 KiB arm64 host lists the host's holes around the MSI window", () => {
    // The host's usable ranges: [0, 0x7ffffff] and [0x8100000, 2^48 - 1] (its MSI doorbell
    // reserved, a 48-bit aperture). Their complement, RESERVED (0), with q35's MSI window (1).
    const m = machine("10.0", { platform: ARM64_64K_HOST, assigned: true });
    const vi = m.virtioIommu!;
    const probe = vi.probe(NIC);
    assert.equal(probe.status, 0);
    assert.deepEqual(resvMem(probe.properties), [
      { subtype: 0, start: 0x8000000n, end: 0x80fffffn },
      { subtype: 1, ...MSI },
      { subtype: 0, start: 1n << 48n, end: U64_MAX },
    ]);
    // A function with no assigned device keeps the machine's window only; so does 7.2.
    assert.deepEqual(resvMem(vi.probe(0).properties), [{ subtype: 1, ...MSI }]);
    const old = machine("7.2", { platform: ARM64_64K_HOST, assigned: true }).virtioIommu!;
    assert.deepEqual(resvMem(old.probe(NIC).properties), [{ subtype: 1, ...MSI }]);
  });

  test("on an x86 host the host's MSI hole lies under q35's window, which wins: MSI, then above 2^48", () => {
    const vi = machine("10.0", { platform: X86_HOST, assigned: true }).virtioIommu!;
    // The guest also reads the host's page sizes (4 KiB, 2 MiB, 1 GiB): 0xfffffffffffff000 &
    // 0x40201000, taken at realize even though the function boots in bypass (7.2 keeps
    // 0xfffffffffffff000 then).
    assert.equal(vi.config.pageSizeMask, 0x40201000n);
    assert.equal(
      machine("7.2", { platform: X86_HOST, assigned: true }).virtioIommu!.config.pageSizeMask,
      0xfffffffffffff000n,
    );
    assert.deepEqual(resvMem(vi.probe(NIC).properties), [
      { subtype: 1, ...MSI },
      { subtype: 0, start: 1n << 48n, end: U64_MAX },
    ]);
  });

  test("DMA of an attached function into a host hole faults on 10.0 and is translated on 7.2", () => {
    const dma = (qemu: QemuLine) => {
      const m = machine(qemu, { platform: ARM64_64K_HOST, assigned: true, viommu: {} });
      const vi = m.virtioIommu!;
      assert.equal(vi.attach(1, NIC), 0);
      assert.equal(vi.map(1, 0x8000000n, 0x800ffffn, 0x200000n, 3), 0);
      vi.addressSpaceOf(0, NIC).as.read(0x8000000n, 4);
      return vi.faults;
    };
    assert.deepEqual(dma("10.0"), [
      { reason: VIRTIO_IOMMU_FAULT_R.MAPPING, flags: 0x100, endpoint: NIC, address: 0x8000000n },
    ]);
    assert.deepEqual(dma("7.2"), []);
  });

  test("hot-unplug gives the function back the machine's regions only, and a re-plug there sets the host's again", () => {
    const m = machine("10.0", { platform: ARM64_64K_HOST, assigned: true });
    const vi = m.virtioIommu!;
    assert.equal(resvMem(vi.probe(NIC).properties).length, 3);
    m.unplug("nic");
    assert.deepEqual(resvMem(vi.probe(NIC).properties), [{ subtype: 1, ...MSI }]);
    m.plug({ driver: "vfio-pci", id: "nic2", slot: 2, properties: { host: "0000:01:00.0" } });
    assert.equal(resvMem(vi.probe(NIC).properties).length, 3);
  });

  test("a second host IOMMU device for the same function is refused", () => {
    const m = machine("10.0");
    const vi = m.virtioIommu!;
    vi.addressSpaceOf(0, NIC);
    const hiod = {
      name: "0000:01:00.0",
      iovaRanges: [{ start: 0n, last: 0xfffffn }],
      pageSizeMask: 0x1000n,
    };
    const own = { bus: 0, devfn: NIC };
    assert.equal(vi.setIommuDevice(own, own, hiod), undefined);
    assert.equal(vi.setIommuDevice(own, own, hiod), "Host IOMMU device already exists");
  });

  /** q35 with virtio-iommu and a root port (a PCIe-to-PCI bridge below it when used), on an arm64 64 KiB host. */
  function bridged(qemu: QemuLine, assigned: { id: string; bus: string; host: string }[]) {
    return new Q35Machine({
      qemu,
      memory: 64n * MiB,
      host: { platform: ARM64_64K_HOST },
      devices: [
        { driver: "virtio-iommu-pci", properties: {} },
        { driver: "pcie-root-port", id: "rp1", slot: 3 },
        ...(assigned.some((d) => d.bus === "pb1")
          ? [{ driver: "pcie-pci-bridge", id: "pb1", bus: "rp1" }]
          : []),
        ...assigned.map((d, i) => ({
          driver: "vfio-pci",
          id: d.id,
          bus: d.bus,
          slot: d.bus === "rp1" ? 0 : i + 1,
          properties: { host: d.host },
        })),
      ],
    });
  }

  test("two assigned functions behind one PCIe-to-PCI bridge share a requester: 10.0 refuses the second (aliased BDF), 7.2 plugs both", () => {
    // 10.0's virtio_iommu_set_iommu_device keys host IOMMU devices by the function's own bus and
    // devfn, but puts the host's ranges on the requester's space (the bridge's alias), which the
    // first device already holds: virtio_iommu_set_host_iova_ranges refuses the second.
    const two = [
      { id: "a", bus: "pb1", host: "0000:01:00.0" },
      { id: "b", bus: "pb1", host: "0000:02:00.0" },
    ];
    assert.doesNotThrow(() => bridged("7.2", two));
    assert.throws(
      () => bridged("10.0", two),
      (e: Error) =>
        e.message ===
        "vfio 0000:02:00.0: Failed to set vIOMMU: virtio_iommu_set_host_iova_ranges virtio-iommu does not support aliased BDF",
    );
    // One device there is accepted, and its ranges are on the requester's space (pb1's 00.0).
    const one = bridged("10.0", [two[0]]);
    const pb1 = one.buses.get("pb1")!;
    assert.equal(one.virtioIommu!.addressSpaceOf(pb1, 0).resvRegions.length, 3);
  });

  test("an assigned function cold-plugged behind a root port (bus not yet numbered) gets the host's ranges in its own space, not 00.0's", () => {
    // Before firmware numbers the buses the root port's secondary bus is 0 too; QEMU finds the
    // space by bus object, so 00.0 (the host bridge) keeps the machine's window only.
    const m = bridged("10.0", [{ id: "a", bus: "rp1", host: "0000:01:00.0" }]);
    const vi = m.virtioIommu!;
    assert.equal(vi.addressSpaceOf(m.buses.get("rp1")!, 0).resvRegions.length, 3);
    assert.deepEqual(
      vi.addressSpaceOf(0, 0).resvRegions.map((r) => [r.low, r.high, r.type]),
      [[MSI.start, MSI.end, 1]],
    );
    // Unplugging it gives its space back the machine's window alone.
    m.unplug("a");
    assert.equal(vi.addressSpaceOf(m.buses.get("rp1")!, 0).resvRegions.length, 1);
  });
});

describe("page sizes from the assigned device (9.1) and known bugs V1-V3", () => {
  test("10.0 on a 64 KiB host: the mask is narrowed at realize and ATTACH after boot neither refuses nor aborts (V1 gone)", () => {
    const m = machine("10.0", { platform: ARM64_64K_HOST, assigned: true });
    const vi = m.virtioIommu!;
    // 0xffffffffffff0000 (the host's page) & the container's 0x20010000.
    assert.equal(vi.config.pageSizeMask, 0x20010000n);
    assert.equal(vi.attach(1, NIC), 0);
    assert.deepEqual(m.vfio!.events.aborts, []);
    assert.deepEqual(m.vfio!.events.reports, []);
  });

  test("10.0 on a 64 KiB host: a hot-plugged assigned device is accepted, boot-bypass on or off (V2 gone)", () => {
    for (const bootBypass of ["on", "off"]) {
      const m = machine("10.0", {
        platform: ARM64_64K_HOST,
        viommu: { "boot-bypass": bootBypass },
      });
      m.plug({ driver: "vfio-pci", id: "nic", slot: 2, properties: { host: "0000:01:00.0" } });
      // The granule is frozen at 64 KiB, one of the host's sizes: the mask stays as it was.
      assert.equal(m.virtioIommu!.config.pageSizeMask, 0xffffffffffff0000n);
      assert.equal(m.virtioIommu!.attach(1, NIC), 0);
      assert.deepEqual(m.vfio!.events.aborts, []);
      // VFIO's listener no longer hands the page sizes over: 7.2's "does not match" warning for
      // a different mask with the same granule is gone.
      assert.deepEqual(m.reports, []);
    }
  });

  test("10.0 with a 4 KiB granule (pc-q35-8.2) on a 64 KiB host refuses a hot-plugged device at realize", () => {
    const m = machine("10.0", { platform: ARM64_64K_HOST, machineType: "pc-q35-8.2" });
    assert.throws(
      () =>
        m.plug({ driver: "vfio-pci", id: "nic", slot: 2, properties: { host: "0000:01:00.0" } }),
      /^Q35DeviceError: vfio 0000:01:00\.0: Failed to set vIOMMU: 0000:01:00\.0: virtio-iommu does not support frozen granule 0x1000$/,
    );
    // Cold-plugged, the same device narrows the mask before machine-done.
    const cold = machine("10.0", {
      platform: ARM64_64K_HOST,
      machineType: "pc-q35-8.2",
      assigned: true,
    });
    assert.equal(cold.virtioIommu!.config.pageSizeMask, 0x20010000n);
  });

  test("10.0 refuses an assigned device whose host page sizes have none in common with the mask", () => {
    const only4k: HostPlatform = { ...X86_HOST, pgsizes: 0x1000n };
    assert.throws(
      () => machine("10.0", { platform: only4k, viommu: { granule: "64k" }, assigned: true }),
      /^Q35DeviceError: vfio 0000:01:00\.0: Failed to set vIOMMU: 0000:01:00\.0: virtio-iommu reports a page size mask 0x1000 incompatible with currently supported mask 0xffffffffffff0000$/,
    );
  });

  test("V3 stays under 10.0: a MAP finer than the granule is accepted and the host refuses it", () => {
    const m = machine("10.0", { platform: ARM64_64K_HOST, assigned: true });
    const vi = m.virtioIommu!;
    assert.equal(vi.attach(1, NIC), 0);
    assert.equal(vi.map(1, 0x1000n, 0x1fffn, 0x200000n, 3), 0);
    assert.match(
      m.vfio!.events.reports.at(-1)!,
      /^vfio_container_dma_map\(.*, 0x1000, 0x1000, .*\) = -22 \(Invalid argument\)$/,
    );
  });
});

describe("requests", () => {
  test("after DETACH the endpoint is gone on 10.0 (a fault of an unknown endpoint), kept on 7.2 (in no domain)", () => {
    const detached = (qemu: QemuLine) => {
      const m = machine(qemu, { viommu: { "boot-bypass": "off" } });
      const vi = m.virtioIommu!;
      const events: string[] = [];
      vi.onTrace = (e) => events.push(e);
      assert.equal(vi.attach(1, 0), 0);
      assert.equal(vi.detach(1, 0), 0);
      vi.addressSpaceOf(0, 0).as.read(0x1000n, 4);
      return { events, fault: vi.faults.at(-1)?.reason, endpoints: [...vi.endpoints.keys()] };
    };
    const v10 = detached("10.0");
    assert.equal(v10.fault, VIRTIO_IOMMU_FAULT_R.UNKNOWN);
    assert.deepEqual(v10.endpoints, []);
    assert.ok(v10.events.includes("virtio_iommu_put_endpoint"));
    const v72 = detached("7.2");
    assert.equal(v72.fault, VIRTIO_IOMMU_FAULT_R.DOMAIN);
    assert.deepEqual(v72.endpoints, [0]);
    assert.ok(!v72.events.includes("virtio_iommu_put_endpoint"));
  });

  test("the IOTLB entry's size comes from all 64 bits of the mask on 10.0, from the low 32 on 7.2", () => {
    // A host whose smallest IOMMU page is 8 GiB (no low 32 bits): 7.2's ctz32 stops at 32.
    const entryMask = (qemu: QemuLine) => {
      const vi = new VirtioIommu(
        ...(() => {
          const m = machine(qemu);
          return [
            m.memory,
            m.memoryAs,
            m.sysmem,
            { kind: "dev", key: "path", value: "/v" },
          ] as const;
        })(),
        { qemu, bootBypass: false },
      );
      vi.config.pageSizeMask = 0x200000000n;
      vi.addressSpaceOf(0, 0);
      assert.equal(vi.attach(1, 0), 0);
      assert.equal(vi.map(1, 0n, 0x1ffffffffn, 0n, 3), 0);
      return vi.addressSpaceOf(0, 0).iommu.translate(0x1000n, 1, 0).addrMask;
    };
    assert.equal(entryMask("10.0"), 0x1ffffffffn);
    assert.equal(entryMask("7.2"), 0xffffffffn);
  });
});

describe('a PROBE whose reply buffer is too small (9.1, "virtio-iommu: add error check before assert")', () => {
  // Recorded: QEMU's own reproducer (issue 2359) driven over qtest on both binaries. 7.2 stops
  // with "virtio_iommu_handle_command: Assertion `sz == output_size' failed."; 10.0 with
  // `-d guest_errors` prints "virtio_iommu_handle_command: wrote 4 bytes to command responsebut
  // response size is 516" and goes on.
  const probe = new Uint8Array(4 + 4 + 64);
  probe[0] = 5; // VIRTIO_IOMMU_T_PROBE
  probe[4] = 8; // endpoint 00:01.0, the virtio-iommu-pci function itself

  test("7.2 fails its assertion and stops", () => {
    const m = machine("7.2");
    assert.equal(m.virtioIommu!.request(probe, 4), undefined);
    assert.equal(m.aborted, "virtio_iommu_handle_command: Assertion `sz == output_size' failed.");
  });

  test("10.0 answers DEVERR in the 4-byte tail and logs a guest error", () => {
    const m = machine("10.0");
    const logged: string[] = [];
    const vi = new VirtioIommu(
      m.memory,
      m.memoryAs,
      m.sysmem,
      { kind: "dev", key: "path", value: "/v" },
      {
        qemu: "10.0",
        onGuestError: (line) => logged.push(line),
        onAbort: (line) => logged.push(`abort: ${line}`),
      },
    );
    vi.addressSpaceOf(0, 8);
    assert.deepEqual(vi.request(probe, 4), Uint8Array.of(3, 0, 0, 0)); // VIRTIO_IOMMU_S_DEVERR
    assert.deepEqual(logged, [
      "virtio_iommu_handle_command: wrote 4 bytes to command responsebut response size is 516",
    ]);
    // A buffer of 516 bytes gets the whole reply, status OK.
    assert.equal(vi.request(probe, 516)?.[512], 0);
  });
});

describe('the driver\'s virtio reset (10.0, "hw/virtio/virtio-iommu: Migrate to 3-phase reset")', () => {
  test("7.2 frees every domain and endpoint; 10.0 keeps them, so a MAP over an old mapping is refused", () => {
    // Recorded: Linux's driver resets the device at probe (device_status 0). 7.2's log has a
    // device reset there (its second); 10.0's has only the system reset's (see
    // test/trace/virtio-iommu-play-10.test.ts).
    const afterReset = (qemu: QemuLine) => {
      const vi = machine(qemu, { viommu: { "boot-bypass": "off" } }).virtioIommu!;
      assert.equal(vi.attach(1, 0), 0);
      assert.equal(vi.map(1, 0x1000n, 0x1fffn, 0x200000n, 3), 0);
      vi.virtioReset();
      return { vi, domains: [...vi.domains.keys()], endpoints: [...vi.endpoints.keys()] };
    };
    const v72 = afterReset("7.2");
    assert.deepEqual([v72.domains, v72.endpoints], [[], []]);
    assert.equal(v72.vi.attach(1, 0), 0);
    assert.equal(v72.vi.map(1, 0x1000n, 0x1fffn, 0x300000n, 3), 0);
    const v10 = afterReset("10.0");
    assert.deepEqual([v10.domains, v10.endpoints], [[1], [0]]);
    assert.equal(v10.vi.map(1, 0x1000n, 0x1fffn, 0x300000n, 3), 4); // VIRTIO_IOMMU_S_INVAL
    // The function is still attached and translates through the old mapping.
    v10.vi.addressSpaceOf(0, 0).as.read(0x1000n, 1);
    assert.deepEqual(v10.vi.faults, []);
  });
});

describe("scenarios", () => {
  const scenario = (qemu: QemuLine) => `name: granule
qemu: "${qemu}"
machine:
  type: q35
  memory: 64M
  devices:
    - { driver: virtio-iommu-pci, granule: 16k, aw-bits: 48 }
steps:
  - virtio_iommu: { attach: { domain: 1, endpoint: "00:01.0" } }
`;

  test("a scenario's granule and aw-bits reach 10.0's virtio-iommu; under 7.2 QEMU refuses the property", () => {
    const v10 = runScenario(loadScenario(scenario("10.0"), "granule.yaml")).report;
    assert.equal(v10.ok, true);
    assert.equal(v10.guest.virtio_iommu?.granule, "0x4000");
    const v72 = runScenario(loadScenario(scenario("7.2"), "granule.yaml")).report;
    assert.equal(v72.ok, false);
    // The first of the two on the command line (-device virtio-iommu-pci,aw-bits=48,granule=16k).
    assert.match(String(v72.error), /Property 'virtio-iommu-pci\.aw-bits' not found$/);
  });
});
