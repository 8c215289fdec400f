/**
 * vfio-pci behind virtio-iommu on q35 onto a type1 host: in bypass the host maps guest RAM as
 * is; the guest's ATTACH switches the function to the IOMMU region, VFIO tells the virtio-iommu
 * the host's page sizes and registers for MAP/UNMAP; each MAP and UNMAP then reaches the host
 * IOMMU, and DETACH unmaps everything.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GUEST_RAM_HVA } from "../../src/host/platform.ts";
import { X86_HOST } from "../../src/host/x86-host.ts";
import { Q35Machine } from "../../src/machine/q35.ts";

const MiB = 1n << 20n;
const NIC = 0x10; // 00:02.0

function hostMaps(m: Q35Machine): string[] {
  const kernel = m.vfio!.containers[0].kernel;
  return [...kernel.io.log]
    .filter((r) => r.ioctl === "MAP_DMA" || r.ioctl === "UNMAP_DMA")
    .map((r) => {
      const a = r.args as { iova: bigint; size: bigint; vaddr?: bigint };
      const where = a.vaddr === undefined ? "" : ` -> 0x${(a.vaddr - GUEST_RAM_HVA).toString(16)}`;
      return `${r.ioctl} 0x${a.iova.toString(16)}+0x${a.size.toString(16)}${where} = ${r.ret}`;
    });
}

function assigned(props: Record<string, string> = {}) {
  return new Q35Machine({
    memory: 256n * MiB,
    host: { platform: X86_HOST },
    devices: [
      { driver: "virtio-iommu-pci", properties: props },
      { driver: "vfio-pci", id: "nic", properties: { host: "0000:01:00.0" } },
    ],
  });
}

test("the assigned function's address space is created at its realize, before the others'", () => {
  const m = assigned();
  assert.deepEqual(
    [...m.virtioIommu!.devices.values()].map((d) => d.root.name),
    [
      "virtio-iommu-memory-region-0-16",
      "virtio-iommu-memory-region-1-0",
      "virtio-iommu-memory-region-2-8",
      "virtio-iommu-memory-region-3-248",
      "virtio-iommu-memory-region-4-250",
      "virtio-iommu-memory-region-5-251",
    ],
  );
});

test("in bypass the host maps guest RAM at its guest-physical address", () => {
  const m = assigned();
  m.cpuMemory.write(0x123000n, Uint8Array.of(1, 2, 3, 4));
  assert.deepEqual(m.assignedDma("nic", 0x123000n, 4)?.data, Uint8Array.of(1, 2, 3, 4));
});

test("ATTACH moves the host to the guest's mappings: MAP and UNMAP follow, DETACH clears", () => {
  const m = assigned();
  const vi = m.virtioIommu!;
  m.cpuMemory.write(0x200000n, Uint8Array.of(9, 8, 7, 6));
  const before = hostMaps(m).length;
  assert.equal(vi.attach(1, NIC), 0);
  // RAM unmapped; the IOMMU region replays an empty domain.
  assert.ok(
    hostMaps(m)
      .slice(before)
      .every((l) => l.startsWith("UNMAP_DMA")),
  );
  assert.deepEqual(m.reports, [
    "warning: virtio-iommu page mask 0xfffffffffffff000 does not match 0x40201000",
  ]);
  assert.equal(m.assignedDma("nic", 0x200000n, 4)?.status, "permission-fault");
  assert.equal(vi.map(1, 0xfffff000n, 0xffffffffn, 0x200000n, 3), 0);
  assert.equal(hostMaps(m).at(-1), "MAP_DMA 0xfffff000+0x1000 -> 0x200000 = 0");
  assert.deepEqual(m.assignedDma("nic", 0xfffff000n, 4)?.data, Uint8Array.of(9, 8, 7, 6));
  // A 12 KiB mapping arrives as the aligned pieces 4 KiB and 8 KiB.
  vi.map(1, 0x1000n, 0x3fffn, 0x300000n, 1);
  assert.deepEqual(hostMaps(m).slice(-2), [
    "MAP_DMA 0x1000+0x1000 -> 0x300000 = 0",
    "MAP_DMA 0x2000+0x2000 -> 0x301000 = 0",
  ]);
  assert.equal(m.assignedDma("nic", 0x1000n, 4, new Uint8Array(4))?.status, "permission-fault");
  vi.unmap(1, 0xfffff000n, 0xffffffffn);
  assert.equal(hostMaps(m).at(-1), "UNMAP_DMA 0xfffff000+0x1000 = 0");
  const beforeDetach = hostMaps(m).length;
  vi.detach(1, NIC);
  const detached = hostMaps(m).slice(beforeDetach);
  assert.deepEqual(detached.slice(0, 2), [
    "UNMAP_DMA 0x1000+0x1000 = 0",
    "UNMAP_DMA 0x2000+0x2000 = 0",
  ]);
  // Back in bypass: RAM mapped as is again.
  assert.deepEqual(m.assignedDma("nic", 0x200000n, 4)?.data, Uint8Array.of(9, 8, 7, 6));
});

test("an ATTACH from bypass to a domain with mappings maps them twice: replay, then ATTACH's own", () => {
  const m = assigned();
  const vi = m.virtioIommu!;
  vi.attach(4, 0x00); // the host bridge, as Linux attaches it
  vi.map(4, 0x10000n, 0x1ffffn, 0x400000n, 3);
  const before = hostMaps(m).length;
  vi.attach(4, NIC);
  // The switch to the IOMMU region makes VFIO replay the domain (the endpoint is already in it);
  // then virtio_iommu_attach notifies every mapping again, which the host refuses (EEXIST) and
  // QEMU logs: the mapping is there all the same.
  assert.deepEqual(
    hostMaps(m)
      .slice(before)
      .filter((l) => l.startsWith("MAP_DMA")),
    ["MAP_DMA 0x10000+0x10000 -> 0x400000 = 0", "MAP_DMA 0x10000+0x10000 -> 0x400000 = -17"],
  );
  assert.match(
    m.vfio!.events.reports.at(-1)!,
    /vfio_dma_map\(.*0x10000, 0x10000, .*\) = -17 \(File exists\)/,
  );
  m.cpuMemory.write(0x400000n, Uint8Array.of(5));
  assert.deepEqual(m.assignedDma("nic", 0x10000n, 1)?.data, Uint8Array.of(5));
});
