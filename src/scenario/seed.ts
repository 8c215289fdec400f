/**
 * The built-in scenario `iova run` plays when given none: a POWER guest with an emulated XHCI
 * controller does what a real Linux guest does with its DMA windows.
 */

/** Where the built-in scenario says it came from in messages. */
export const SEED_SOURCE = "<built-in seed>";

/** The built-in scenario's text. */
export const SEED_SCENARIO = `# yaml-language-server: $schema=../schema/scenario.schema.json
# The seed: a pseries guest with 4 GiB and a qemu-xhci has two DMA windows, the default one at
# bus address 0 and a 64-bit one at 0x800000000000000 (16 MiB pages, all RAM mapped one to one,
# as Linux does); then a vfio-pci device is hot-plugged and the existing mappings are replayed into
# the host IOMMU. Both devices then DMA to the same buffer. Under qemu-7.2 every guest mapping is
# mirrored at its absolute bus address; under qemu-2016-prefix the replayed ones land at the
# wrong addresses (region-relative, without the window's offset) and the shadow check fails.
name: seed-hotplug-after-ddw
machine:
  type: pseries
  memory: 4G
  devices:
    - { id: usb0, driver: qemu-xhci, bus: 0, slot: 0 }
steps:
  - rtas: ibm,write-pci-config
    device: usb0
    reg: 0x04
    size: 2
    value: 0x6
  - rtas: ibm,query-pe-dma-window
    device: usb0
    nret: 6
    expect: { rets: [0x0, 0x1, 0x20, 0x0, 0x107, 0x0] }
  - rtas: ibm,create-pe-dma-window
    device: usb0
    page_shift: 24
    window_shift: 32
    expect: { status: 0, liobn: 0x80000001, start: 0x800000000000000 }
  - cpu: { write: 0x7f000000, data: "${Array.from({ length: 256 }, (_, k) => (BigInt(k) * 0x1000000n + 3n).toString(16).padStart(16, "0")).join("")}" }
  - hcall: H_PUT_TCE_INDIRECT
    args: { liobn: 0x80000001, ioba: 0x800000000000000, tce_list: 0x7f000000, npages: 256 }
    expect: { ret: H_SUCCESS }
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x0, tce: 0x12345003 }
    expect: { ret: H_SUCCESS }
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x5000, tce: 0x7fe5a001 }
    expect: { ret: H_SUCCESS }
  - dma: { device: usb0, write: 0x800000012345000, data: "c0ffee" }
  - dma: { device: usb0, read: 0x0, length: 3 }
    expect: { data: "c0ffee" }
  - dma: { device: usb0, write: 0x5000, data: "00" }
    expect: { fault: true }
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0", bus: 0, slot: 1 }
    expect: { ok: true }
  # Both devices write and read the same buffer at 0x20000000 through the 64-bit window.
  - dma: { device: hostdev0, write: 0x800000020000000, data: "5eed0001" }
  - dma: { device: usb0, read: 0x800000020000000, length: 4 }
    expect: { data: "5eed0001" }
  - dma: { device: usb0, write: 0x800000020000004, data: "5eed0002" }
  - dma: { device: hostdev0, read: 0x800000020000000, length: 8 }
    expect: { data: "5eed00015eed0002" }
  - check: shadow
  - expect_mtree: { contains: "0800000000000000-08000000ffffffff (prio 0, i/o): tce-iommu-80000001" }
`;
