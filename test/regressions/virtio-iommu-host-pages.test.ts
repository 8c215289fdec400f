/**
 * QEMU 7.2's known problems with a host whose page size exceeds virtio-iommu's granule
 * (docs/known-bugs.md V1-V3), reproduced on the model: q35 with virtio-iommu-pci and a vfio-pci
 * function onto a type1 host with 64 KiB pages (the arm64 hosts where these were reported; the
 * virtio-iommu and VFIO code paths are the same on every machine). Each test is named after the
 * bug and checks QEMU 7.2's messages and outcome, and the configuration that avoids it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ARM64_64K_HOST } from "../../src/host/arm64-64k-host.ts";
import { X86_HOST } from "../../src/host/x86-host.ts";
import { Q35Machine } from "../../src/machine/q35.ts";
import { VFIO_MESSAGES } from "../../src/vfio/messages.ts";

// 64 MiB keeps guest RAM below the arm64 host's reserved MSI window at 0x8000000.
const MiB = 1n << 20n;
const NIC = 0x10; // 00:02.0, the assigned function
const INCOMPATIBLE =
  "virtio-iommu page mask 0xfffffffffffff000 is incompatible with mask 0x20010000";
const FATAL = "vfio: DMA mapping failed, unable to continue";

function coldPlugged(bootBypass: "on" | "off", platform = ARM64_64K_HOST) {
  return new Q35Machine({
    memory: 64n * MiB,
    host: { platform },
    devices: [
      { driver: "virtio-iommu-pci", properties: { "boot-bypass": bootBypass } },
      { driver: "vfio-pci", id: "nic", properties: { host: "0000:01:00.0" } },
    ],
  });
}

test("V1: the guest's ATTACH of a cold-plugged assigned device on a 64 KiB host aborts QEMU", () => {
  const m = coldPlugged("on");
  // Boots: in bypass VFIO maps RAM and never sees the IOMMU region.
  assert.deepEqual(m.vfio!.events.aborts, []);
  assert.equal(m.virtioIommu!.config.pageSizeMask, 0xfffffffffffff000n);
  // Linux attaches the endpoint to its DMA domain: VFIO's region_add meets a frozen 4 KiB mask.
  m.virtioIommu!.attach(1, NIC);
  assert.deepEqual(m.vfio!.events.reports, [INCOMPATIBLE]);
  assert.deepEqual(m.vfio!.events.aborts, [FATAL]);
});

test("V1: a 4 KiB host, or boot-bypass=off on the 64 KiB one, does not hit it", () => {
  const x86 = coldPlugged("on", X86_HOST);
  x86.virtioIommu!.attach(1, NIC);
  assert.deepEqual(x86.vfio!.events.aborts, []);
  // boot-bypass=off: the IOMMU region is in VFIO's view at realize, before machine-ready, so
  // the mask narrows to the host's and the guest reads a 64 KiB granule.
  const off = coldPlugged("off");
  assert.equal(off.virtioIommu!.config.pageSizeMask, 0x20010000n);
  assert.equal(off.virtioIommu!.granule, 0x10000n);
  off.virtioIommu!.attach(1, NIC);
  assert.deepEqual(off.vfio!.events.aborts, []);
});

test("V2: a hot-plugged assigned device on a 64 KiB host is refused, or aborts QEMU at ATTACH", () => {
  const plug = (bootBypass: "on" | "off") => {
    const m = new Q35Machine({
      memory: 64n * MiB,
      host: { platform: ARM64_64K_HOST },
      devices: [{ driver: "virtio-iommu-pci", properties: { "boot-bypass": bootBypass } }],
    });
    return {
      m,
      plug: () =>
        m.plug({ driver: "vfio-pci", id: "nic", slot: 2, properties: { host: "0000:01:00.0" } }),
    };
  };
  const off = plug("off");
  assert.throws(
    off.plug,
    new RegExp(
      `^Q35DeviceError: vfio 0000:01:00.0: failed to setup container for group 1: memory listener initialization failed: Region virtio-iommu-memory-region-5-16: ${INCOMPATIBLE.replace(/\./g, "\\.")}$`,
    ),
  );
  const on = plug("on");
  on.plug();
  on.m.virtioIommu!.attach(1, NIC);
  assert.deepEqual(on.m.vfio!.events.aborts, [FATAL]);
});

test("V3: a MAP finer than the host's page passes virtio-iommu and fails at the host", () => {
  const m = coldPlugged("off");
  const vi = m.virtioIommu!;
  vi.attach(1, NIC);
  // The granule is 64 KiB, but 7.2 does not check a MAP's alignment (the specification asks
  // for RANGE): a 4 KiB mapping is accepted and the host refuses it.
  assert.equal(vi.map(1, 0x1000n, 0x1fffn, 0x200000n, 3), 0);
  assert.match(
    m.vfio!.events.reports.at(-1)!,
    /^vfio_dma_map\(.*, 0x1000, 0x1000, .*\) = -22 \(Invalid argument\)$/,
  );
  // Emulated DMA through it lands on the wrong page: translate answers a 64 KiB entry (the
  // granule) and the memory core keeps the address's offset within it: 0x200000 | 0x1000.
  m.cpuMemory.write(0x200000n, Uint8Array.of(3));
  m.cpuMemory.write(0x201000n, Uint8Array.of(4));
  assert.deepEqual(vi.addressSpaceOf(0, NIC).as.read(0x1000n, 1).data, Uint8Array.of(4));
  assert.equal(m.assignedDma("nic", 0x1000n, 1)?.status, "permission-fault");
  // Granule-sized: both work.
  assert.equal(vi.map(1, 0x10000n, 0x1ffffn, 0x200000n, 3), 0);
  assert.deepEqual(m.assignedDma("nic", 0x10000n, 1)?.data, Uint8Array.of(3));
});

test("virtio-iommu's refusal is the text of VFIO's message table", () => {
  const m = coldPlugged("on");
  m.virtioIommu!.attach(1, NIC);
  assert.equal(
    m.vfio!.events.reports[0],
    VFIO_MESSAGES.guestIommuPageMaskIncompatible.render(0xfffffffffffff000n, 0x20010000n),
  );
});
