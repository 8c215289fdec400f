/**
 * vfio-pci on q35 onto a type1 host: without an IOMMU all guest RAM is mapped at its guest
 * address; behind intel-iommu with caching mode the host IOMMU follows the guest's second-level
 * tables through MAP/UNMAP notifications (replay when translation turns on, page-selective
 * invalidations after), and the assigned device's DMA goes where the guest mapped it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GUEST_RAM_HVA } from "../../src/host/platform.ts";
import { X86_HOST } from "../../src/host/x86-host.ts";
import { Q35Machine } from "../../src/machine/q35.ts";

const VTD = 0xfed90000n;
const MiB = 1n << 20n;

function writeq(m: Q35Machine, addr: bigint, value: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  m.cpuMemory.write(addr, b);
}
function writel(m: Q35Machine, addr: bigint, value: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  m.cpuMemory.write(addr, b);
}
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

test("without an IOMMU the assigned device sees guest RAM at its guest-physical address", () => {
  const m = new Q35Machine({
    memory: 256n * MiB,
    host: { platform: X86_HOST },
    devices: [{ driver: "vfio-pci", id: "nic", properties: { host: "0000:01:00.0" } }],
  });
  m.cpuMemory.write(0x123000n, new Uint8Array([1, 2, 3, 4]));
  const r = m.assignedDma("nic", 0x123000n, 4);
  assert.deepEqual(r, { status: "ok", data: new Uint8Array([1, 2, 3, 4]) });
  assert.deepEqual(m.assignedDma("nic", 0x20000000n, 4)?.status, "permission-fault");
});

test("behind intel-iommu with caching mode the host mirrors the guest's tables", () => {
  const m = new Q35Machine({
    memory: 256n * MiB,
    host: { platform: X86_HOST },
    intelIommu: { cachingMode: true },
    devices: [{ driver: "vfio-pci", id: "nic", slot: 3, properties: { host: "0000:01:00.0" } }],
  });
  // Translation off: RAM is mapped as is.
  m.cpuMemory.write(0x200000n, new Uint8Array([9, 8, 7, 6]));
  assert.deepEqual(m.assignedDma("nic", 0x200000n, 4)?.data, new Uint8Array([9, 8, 7, 6]));
  // Tables for 00:03.0 (devfn 0x18): iova 0x100000 -> 0x200000.
  writeq(m, 0x10000n, 0x11001n);
  writeq(m, 0x11180n, 0x12001n);
  writeq(m, 0x11188n, 0x101n);
  writeq(m, 0x12000n, 0x13003n);
  writeq(m, 0x13000n, 0x14003n);
  writeq(m, 0x14800n, 0x200003n);
  writeq(m, VTD + 0x20n, 0x10000n);
  writel(m, VTD + 0x18n, 0x40000000);
  const before = hostMaps(m).length;
  writel(m, VTD + 0x18n, 0x80000000);
  const after = hostMaps(m).slice(before);
  // RAM unmapped; each IOMMU section (below and above the interrupt window) replays: UNMAP of
  // its range in aligned blocks up to 2^39, and the one present page mapped.
  assert.deepEqual(after.slice(0, 5), [
    "UNMAP_DMA 0x0+0xc0000 = 0",
    "UNMAP_DMA 0xc0000+0x20000 = 0",
    "UNMAP_DMA 0xe0000+0x20000 = 0",
    "UNMAP_DMA 0x100000+0xff00000 = 0",
    "UNMAP_DMA 0xfffc0000+0x40000 = 0",
  ]);
  assert.deepEqual(
    after.filter((l) => l.startsWith("MAP_DMA")),
    ["MAP_DMA 0x100000+0x1000 -> 0x200000 = 0"],
  );
  assert.equal(after.at(-1), "UNMAP_DMA 0x4000000000+0x4000000000 = 0");
  assert.deepEqual(m.assignedDma("nic", 0x100000n, 4)?.data, new Uint8Array([9, 8, 7, 6]));
  assert.equal(m.assignedDma("nic", 0x200000n, 4)?.status, "permission-fault");
  // A new page and a page-selective invalidation: MAP.
  writeq(m, 0x14808n, 0x201001n);
  writeq(m, VTD + 0xf0n, 0x101000n);
  writeq(m, VTD + 0xf8n, 0xb000000100000000n);
  assert.equal(hostMaps(m).at(-1), "MAP_DMA 0x101000+0x1000 -> 0x201000 = 0");
  // Read-only: a device write faults on the host too.
  assert.equal(m.assignedDma("nic", 0x101000n, 4, new Uint8Array(4))?.status, "permission-fault");
  // Cleared and invalidated: UNMAP.
  writeq(m, 0x14800n, 0n);
  writeq(m, VTD + 0xf0n, 0x100000n);
  writeq(m, VTD + 0xf8n, 0xb000000100000000n);
  assert.equal(hostMaps(m).at(-1), "UNMAP_DMA 0x100000+0x1000 = 0");
  assert.equal(m.assignedDma("nic", 0x100000n, 4)?.status, "permission-fault");
});

test("hot-plugging vfio-pci behind intel-iommu without caching mode is refused as QEMU 7.2 refuses it", () => {
  const m = new Q35Machine({ host: { platform: X86_HOST }, intelIommu: {} });
  assert.throws(
    () => m.plug({ driver: "vfio-pci", properties: { host: "0000:01:00.0" } }),
    /^Q35DeviceError: Device assignment is not allowed without enabling caching-mode=on for Intel IOMMU\.$/,
  );
});

test("the 2016 prefix bug changes nothing on q35: VT-d's region starts at bus address 0", () => {
  const run = (vfioBehaviour: "qemu-7.2" | "qemu-2016-prefix") => {
    const m = new Q35Machine({
      memory: 256n * MiB,
      host: { platform: X86_HOST },
      intelIommu: { cachingMode: true },
      vfioBehaviour,
      devices: [{ driver: "vfio-pci", id: "nic", slot: 3, properties: { host: "0000:01:00.0" } }],
    });
    writeq(m, 0x10000n, 0x11001n);
    writeq(m, 0x11180n, 0x12001n);
    writeq(m, 0x11188n, 0x101n);
    writeq(m, 0x12000n, 0x13003n);
    writeq(m, 0x13000n, 0x14003n);
    writeq(m, 0x14800n, 0x200003n);
    writeq(m, 0x14ff8n, 0x3ff000n | 3n);
    writeq(m, VTD + 0x20n, 0x10000n);
    writel(m, VTD + 0x18n, 0x40000000);
    writel(m, VTD + 0x18n, 0x80000000);
    const entries = m.vfio!.containers[0].kernel.entries();
    return {
      ioctls: hostMaps(m),
      mapped: entries.map(
        (e) => `0x${e.iova.toString(16)} -> 0x${(e.hva - GUEST_RAM_HVA).toString(16)} ${e.perm}`,
      ),
      dma: [m.assignedDma("nic", 0x100000n, 8)?.status, m.assignedDma("nic", 0x1ff000n, 8)?.status],
    };
  };
  const fixed = run("qemu-7.2");
  const legacy = run("qemu-2016-prefix");
  // The same host mappings at the same bus addresses, and the device's DMA works in both.
  assert.deepEqual(legacy.mapped, fixed.mapped);
  assert.deepEqual(fixed.mapped, ["0x100000 -> 0x200000 rw", "0x1ff000 -> 0x3ff000 rw"]);
  assert.deepEqual(legacy.dma, ["ok", "ok"]);
  assert.deepEqual(fixed.dma, ["ok", "ok"]);
  // Only the way there differs: 2016's notifiers had no range, so each of the two IOMMU sections
  // (below and above the interrupt window) hears every event and the replay runs twice.
  assert.notDeepEqual(legacy.ioctls, fixed.ioctls);
});

test("a vfio-pci hot-plugged while translation is on gets the guest's mappings by replay", () => {
  const m = new Q35Machine({
    memory: 256n * MiB,
    host: { platform: X86_HOST },
    intelIommu: { cachingMode: true },
  });
  // Tables for 00:03.0 before the device exists, then translation on.
  writeq(m, 0x10000n, 0x11001n);
  writeq(m, 0x11180n, 0x12001n);
  writeq(m, 0x11188n, 0x101n);
  writeq(m, 0x12000n, 0x13003n);
  writeq(m, 0x13000n, 0x14003n);
  writeq(m, 0x14800n, 0x200003n);
  writeq(m, VTD + 0x20n, 0x10000n);
  writel(m, VTD + 0x18n, 0x40000000);
  writel(m, VTD + 0x18n, 0x80000000);
  m.plug({ driver: "vfio-pci", id: "nic", slot: 3, properties: { host: "0000:01:00.0" } });
  assert.ok(m.intelIommu!.addressSpaceOf(0, 0x18).translating);
  assert.deepEqual(
    hostMaps(m).filter((l) => l.startsWith("MAP_DMA")),
    ["MAP_DMA 0x100000+0x1000 -> 0x200000 = 0"],
  );
  m.cpuMemory.write(0x200000n, new Uint8Array([5, 6]));
  assert.deepEqual(m.assignedDma("nic", 0x100000n, 2)?.data, new Uint8Array([5, 6]));
});

test("vfio-pci behind amd-iommu fails as in QEMU 7.2: AMD-Vi refuses MAP notifiers", () => {
  assert.throws(
    () =>
      new Q35Machine({
        host: { platform: X86_HOST },
        amdIommu: true,
        devices: [{ driver: "vfio-pci", slot: 3, properties: { host: "0000:01:00.0" } }],
      }),
    (e: Error) =>
      e.message ===
      "vfio 0000:01:00.0: failed to setup container for group 1: memory listener initialization failed: Region amd_iommu: device 00.03.0 requires iommu notifier which is not currently supported",
  );
});

test("touching amd-iommu's registers ends the machine: they are not modelled", () => {
  const m = new Q35Machine({ amdIommu: true });
  m.cpuMemory.read(0xfed80000n, 4);
  assert.match(m.aborted ?? "", /amd-iommu: its registers are not modelled by iova/);
});
