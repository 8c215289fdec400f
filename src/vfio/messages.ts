/**
 * Every message the VFIO side can print or fail with, beside the format string QEMU 7.2 or 10.0
 * prints it with, so that each rendered message can be checked against QEMU's own format (see
 * test/vfio/messages.test.ts, which also finds each format in the real binaries when they are
 * installed). Hex values follow QEMU: `0x` only where the format has it.
 */

import { strerror } from "../host/errno.ts";
import type { QemuLine } from "../qemu/version.ts";

/** How QEMU emits a message. */
export type QemuVia =
  /** error_report: one line on stderr. */
  | "error_report"
  /** warn_report: one line on stderr, after "warning: ". */
  | "warn_report"
  /** error_setg: the message of an error that travels up a chain. */
  | "error_setg"
  /** error_setg_errno: the same, with ": " and strerror(errno) appended. */
  | "error_setg_errno"
  /** error_prepend / error_propagate_prepend: a prefix put before an error's message. */
  | "error_prepend"
  /** hw_error: QEMU prints the message and aborts. */
  | "hw_error";

/** One message: where QEMU prints it, its format string (C source text) and how iova renders it. */
export interface QemuMessage<A extends readonly unknown[] = readonly never[]> {
  /** The QEMU function that prints it, with its file. */
  readonly source: string;
  /** The QEMU lines whose binaries print it; both when absent. */
  readonly qemu?: readonly QemuLine[];
  readonly via: QemuVia;
  /**
   * QEMU's format, as written in its C source: string literals and the PRIx64, HWADDR_PRIx and
   * PRIxPTR macros between them. `%m` takes an errno argument here, so that it can be checked.
   */
  readonly format: string;
  /** The message text, from the format's arguments in order (and the errno, last, for `_errno`). */
  readonly render: (...args: A) => string;
}

const x = (v: bigint | number) => v.toString(16);
const withErrno = (message: string, errno: number) => `${message}: ${strerror(errno)}`;

function message<A extends readonly unknown[]>(m: QemuMessage<A>): QemuMessage<A> {
  return m;
}

/** The messages, by what they say. */
export const VFIO_MESSAGES = {
  setIommuFailed: message({
    source: "hw/vfio/common.c vfio_init_container",
    via: "error_setg_errno",
    format: `"Failed to set iommu for container"`,
    render: (errno: number) => withErrno("Failed to set iommu for container", errno),
  }),
  type1GetInfoFailed: message({
    source: "hw/vfio/common.c vfio_connect_container",
    via: "error_setg_errno",
    format: `"Failed to get VFIO IOMMU info"`,
    render: (errno: number) => withErrno("Failed to get VFIO IOMMU info", errno),
  }),
  enableFailed: message({
    source: "hw/vfio/common.c vfio_connect_container",
    via: "error_setg_errno",
    format: `"failed to enable container"`,
    render: (errno: number) => withErrno("failed to enable container", errno),
  }),
  spaprGetInfoFailed: message({
    source: "hw/vfio/common.c vfio_connect_container",
    via: "error_setg_errno",
    format: `"VFIO_IOMMU_SPAPR_TCE_GET_INFO failed"`,
    render: (errno: number) => withErrno("VFIO_IOMMU_SPAPR_TCE_GET_INFO failed", errno),
  }),
  removeExistingWindowFailed: message({
    source: "hw/vfio/common.c vfio_connect_container",
    via: "error_setg_errno",
    format: `"failed to remove existing window"`,
    render: (errno: number) => withErrno("failed to remove existing window", errno),
  }),
  ramListenerFailed: message({
    source: "hw/vfio/common.c vfio_connect_container",
    via: "error_prepend",
    format: `"RAM memory listener initialization failed: "`,
    render: () => "RAM memory listener initialization failed: ",
  }),
  listenerFailed: message({
    source: "hw/vfio/common.c vfio_connect_container",
    via: "error_prepend",
    format: `"memory listener initialization failed: "`,
    render: () => "memory listener initialization failed: ",
  }),
  groupSetupFailed: message({
    source: "hw/vfio/common.c vfio_get_group",
    via: "error_prepend",
    format: `"failed to setup container for group %d: "`,
    render: (group: number) => `failed to setup container for group ${group}: `,
  }),
  devicePrefix: message({
    source: "hw/vfio/pci.c vfio_realize (VFIO_MSG_PREFIX)",
    via: "error_prepend",
    format: `"vfio %s: "`,
    render: (host: string) => `vfio ${host}: `,
  }),
  deviceAlreadyAttached: message({
    source: "hw/vfio/pci.c vfio_realize",
    via: "error_setg",
    format: `"device is already attached"`,
    render: () => "device is already attached",
  }),
  regionPrefix: message({
    source: "hw/vfio/common.c vfio_listener_region_add",
    via: "error_prepend",
    format: `"Region %s: "`,
    render: (region: string) => `Region ${region}: `,
  }),
  hostWindowsOverlap: message({
    source: "hw/vfio/common.c vfio_host_win_add",
    via: "hw_error",
    format: `"%s: Overlapped IOMMU are not enabled"`,
    render: (func: string) => `${func}: Overlapped IOMMU are not enabled`,
  }),
  unalignedRegion: message({
    source: "hw/vfio/common.c vfio_listener_region_add, vfio_listener_region_del",
    via: "error_report",
    format: `"%s received unaligned region %s iova=0x%"PRIx64" offset_within_region=0x%"PRIx64" qemu_real_host_page_size=0x%"PRIxPTR`,
    render: (func: string, region: string, iova: bigint, offset: bigint, pageSize: bigint) =>
      `${func} received unaligned region ${region} iova=0x${x(iova)} offset_within_region=0x${x(offset)} qemu_real_host_page_size=0x${x(pageSize)}`,
  }),
  sectionOverlapsHostWindow: message({
    source: "hw/vfio/common.c vfio_listener_region_add",
    via: "error_setg",
    format: `"region [0x%"PRIx64",0x%"PRIx64"] overlaps with existing" "host DMA window [0x%"PRIx64",0x%"PRIx64"]"`,
    render: (first: bigint, last: bigint, min: bigint, max: bigint) =>
      `region [0x${x(first)},0x${x(last)}] overlaps with existinghost DMA window [0x${x(min)},0x${x(max)}]`,
  }),
  createSpaprWindowFailed: message({
    source: "hw/vfio/common.c vfio_listener_region_add",
    via: "error_setg_errno",
    format: `"Failed to create SPAPR window"`,
    render: (errno: number) => withErrno("Failed to create SPAPR window", errno),
  }),
  cannotMapRegion: message({
    source: "hw/vfio/common.c vfio_listener_region_add",
    via: "error_setg",
    format: `"Container %p can't map guest IOVA region" " 0x%"HWADDR_PRIx"..0x%"HWADDR_PRIx`,
    render: (container: string, iova: bigint, end: bigint) =>
      `Container ${container} can't map guest IOVA region 0x${x(iova)}..0x${x(end)}`,
  }),
  dmaMapFailed: message({
    source: "hw/vfio/common.c vfio_listener_region_add, vfio_iommu_map_notify",
    qemu: ["7.2"],
    via: "error_report",
    format: `"vfio_dma_map(%p, 0x%"HWADDR_PRIx", " "0x%"HWADDR_PRIx", %p) = %d (%m)"`,
    render: (
      container: string,
      iova: bigint,
      size: bigint,
      vaddr: bigint,
      ret: number,
      errno: number,
    ) =>
      `vfio_dma_map(${container}, 0x${x(iova)}, 0x${x(size)}, 0x${x(vaddr)}) = ${ret} (${strerror(errno)})`,
  }),
  guestIommuPageMaskIncompatible: message({
    // The guest IOMMU's refusal of the host's page sizes, printed by VFIO's region_add. The text
    // is virtio-iommu's (src/virtio-iommu renders it the same; it cannot import this layer).
    source: "hw/virtio/virtio-iommu.c virtio_iommu_set_page_size_mask",
    // 10.0 words its granule checks differently (the granule property, frozen granules).
    qemu: ["7.2"],
    via: "error_setg",
    format: `"virtio-iommu page mask 0x%"PRIx64" is incompatible with mask 0x%"PRIx64`,
    render: (current: bigint, requested: bigint) =>
      `virtio-iommu page mask 0x${x(current)} is incompatible with mask 0x${x(requested)}`,
  }),
  dmaMappingFatal: message({
    source: "hw/vfio/common.c vfio_listener_region_add",
    via: "hw_error",
    format: `"vfio: DMA mapping failed, unable to continue"`,
    render: () => "vfio: DMA mapping failed, unable to continue",
  }),
  dmaUnmapFailed: message({
    source: "hw/vfio/common.c vfio_listener_region_del, vfio_iommu_map_notify",
    qemu: ["7.2"],
    via: "error_report",
    format: `"vfio_dma_unmap(%p, 0x%"HWADDR_PRIx", " "0x%"HWADDR_PRIx") = %d (%m)"`,
    render: (container: string, iova: bigint, size: bigint, ret: number, errno: number) =>
      `vfio_dma_unmap(${container}, 0x${x(iova)}, 0x${x(size)}) = ${ret} (${strerror(errno)})`,
  }),
  hostPageSizeUnsupported: message({
    source: "hw/vfio/spapr.c vfio_spapr_create_window",
    via: "error_report",
    format: `"Host doesn't support page size 0x%"PRIx64", the supported mask is 0x%lx"`,
    render: (pageSize: bigint, mask: bigint) =>
      `Host doesn't support page size 0x${x(pageSize)}, the supported mask is 0x${x(mask)}`,
  }),
  createWindowIoctlFailed: message({
    source: "hw/vfio/spapr.c vfio_spapr_create_window",
    via: "error_report",
    format: `"Failed to create a window, ret = %d (%m)"`,
    render: (ret: number, errno: number) =>
      `Failed to create a window, ret = ${ret} (${strerror(errno)})`,
  }),
  windowStartRefused: message({
    source: "hw/vfio/spapr.c vfio_spapr_create_window",
    via: "error_report",
    format: `"Host doesn't support DMA window at %"HWADDR_PRIx", must be %"PRIx64`,
    render: (wanted: bigint, given: bigint) =>
      `Host doesn't support DMA window at ${x(wanted)}, must be ${x(given)}`,
  }),
  removeWindowFailed: message({
    source: "hw/vfio/spapr.c vfio_spapr_remove_window",
    via: "error_report",
    format: `"Failed to remove window at %"PRIx64`,
    render: (start: bigint) => `Failed to remove window at ${x(start)}`,
  }),
  missingWindow: message({
    source: "hw/vfio/common.c vfio_listener_region_del",
    via: "hw_error",
    format: `"%s: Cannot delete missing window at %"HWADDR_PRIx`,
    render: (func: string, start: bigint) => `${func}: Cannot delete missing window at ${x(start)}`,
  }),
  wrongTargetAs: message({
    source: "hw/vfio/common.c vfio_iommu_map_notify",
    via: "error_report",
    format: `"Wrong target AS \\"%s\\", only system memory is allowed"`,
    render: (name: string) => `Wrong target AS "${name}", only system memory is allowed`,
  }),
  nonMemoryArea: message({
    source: "hw/vfio/common.c vfio_get_xlat_addr",
    via: "error_report",
    format: `"iommu map to non memory area %"HWADDR_PRIx""`,
    render: (xlat: bigint) => `iommu map to non memory area ${x(xlat)}`,
  }),
  granularityIncompatible: message({
    source: "hw/vfio/common.c vfio_get_xlat_addr",
    via: "error_report",
    format: `"iommu has granularity incompatible with target AS"`,
    render: () => "iommu has granularity incompatible with target AS",
  }),
  mapDmaIoctlFailed: message({
    source: "hw/vfio/common.c vfio_dma_map",
    qemu: ["7.2"],
    via: "error_report",
    format: `"VFIO_MAP_DMA failed: %s"`,
    render: (error: string) => `VFIO_MAP_DMA failed: ${error}`,
  }),
  unmapDmaIoctlFailed: message({
    source: "hw/vfio/common.c vfio_dma_unmap",
    qemu: ["7.2"],
    via: "error_report",
    format: `"VFIO_UNMAP_DMA failed: %s"`,
    render: (error: string) => `VFIO_UNMAP_DMA failed: ${error}`,
  }),
  preregUnalignedRegion: message({
    source: "hw/vfio/spapr.c vfio_prereg_listener_region_add, vfio_prereg_listener_region_del",
    via: "error_report",
    format: `"%s received unaligned region"`,
    render: (func: string) => `${func} received unaligned region`,
  }),
  memoryRegisteringFailed: message({
    source: "hw/vfio/spapr.c vfio_prereg_listener_region_add",
    via: "error_setg_errno",
    format: `"Memory registering failed"`,
    render: (errno: number) => withErrno("Memory registering failed", errno),
  }),
  memoryRegisteringFatal: message({
    source: "hw/vfio/spapr.c vfio_prereg_listener_region_add",
    via: "hw_error",
    format: `"vfio: Memory registering failed, unable to continue"`,
    render: () => "vfio: Memory registering failed, unable to continue",
  }),
  containerDmaMapFailed: message({
    source: "hw/vfio/common.c vfio_listener_region_add, vfio_iommu_map_notify (10.0)",
    qemu: ["10.0"],
    via: "error_report",
    format: `"vfio_container_dma_map(%p, 0x%"HWADDR_PRIx", " "0x%"HWADDR_PRIx", %p) = %d (%s)"`,
    render: (
      container: string,
      iova: bigint,
      size: bigint,
      vaddr: bigint,
      ret: number,
      error: string,
    ) =>
      `vfio_container_dma_map(${container}, 0x${x(iova)}, 0x${x(size)}, 0x${x(vaddr)}) = ${ret} (${error})`,
  }),
  containerDmaUnmapFailed: message({
    source: "hw/vfio/common.c vfio_listener_region_del, vfio_iommu_map_notify (10.0)",
    qemu: ["10.0"],
    via: "error_report",
    format: `"vfio_container_dma_unmap(%p, 0x%"HWADDR_PRIx", " "0x%"HWADDR_PRIx") = %d (%s)"`,
    render: (container: string, iova: bigint, size: bigint, ret: number, error: string) =>
      `vfio_container_dma_unmap(${container}, 0x${x(iova)}, 0x${x(size)}) = ${ret} (${error})`,
  }),
  ioasMapFault: message({
    source: "backends/iommufd.c iommufd_backend_map_dma (10.0)",
    qemu: ["10.0"],
    via: "warn_report",
    format: `"IOMMU_IOAS_MAP failed: %m, PCI BAR?"`,
    render: (errno: number) => `warning: IOMMU_IOAS_MAP failed: ${strerror(errno)}, PCI BAR?`,
  }),
  allocIoasFailed: message({
    source: "backends/iommufd.c iommufd_backend_alloc_ioas (10.0)",
    qemu: ["10.0"],
    via: "error_setg_errno",
    format: `"Failed to allocate ioas"`,
    render: (errno: number) => withErrno("Failed to allocate ioas", errno),
  }),
  allocHwptFailed: message({
    source: "backends/iommufd.c iommufd_backend_alloc_hwpt (10.0)",
    qemu: ["10.0"],
    via: "error_setg_errno",
    format: `"Failed to allocate hwpt"`,
    render: (errno: number) => withErrno("Failed to allocate hwpt", errno),
  }),
  bindFailed: message({
    source: "hw/vfio/iommufd.c iommufd_cdev_connect_and_bind (10.0)",
    qemu: ["10.0"],
    via: "error_setg_errno",
    format: `"error bind device fd=%d to iommufd=%d"`,
    render: (deviceFd: number, iommufd: number, errno: number) =>
      withErrno(`error bind device fd=${deviceFd} to iommufd=${iommufd}`, errno),
  }),
  attachFailed: message({
    source: "hw/vfio/iommufd.c iommufd_cdev_attach_ioas_hwpt (10.0)",
    qemu: ["10.0"],
    via: "error_setg_errno",
    format: `"[iommufd=%d] error attach %s (%d) to id=%d"`,
    render: (iommufd: number, name: string, deviceFd: number, id: number, errno: number) =>
      withErrno(`[iommufd=${iommufd}] error attach ${name} (${deviceFd}) to id=${id}`, errno),
  }),
  iovaRangesFailed: message({
    source:
      "hw/vfio/iommufd.c iommufd_cdev_get_info_iova_range (10.0, reported by warn_report_err)",
    qemu: ["10.0"],
    via: "error_setg_errno",
    format: `"Cannot get IOVA ranges"`,
    render: (errno: number) => withErrno("Cannot get IOVA ranges", errno),
  }),
  setVIommuFailed: message({
    source: "hw/vfio/pci.c vfio_pci_realize (10.0)",
    qemu: ["10.0"],
    via: "error_prepend",
    format: `"Failed to set vIOMMU: "`,
    render: () => "Failed to set vIOMMU: ",
  }),
  hostAwBitsTooSmall: message({
    source: "hw/i386/intel_iommu.c vtd_check_hiod (10.0)",
    qemu: ["10.0"],
    via: "error_setg",
    format: `"aw-bits %d > host aw-bits %d"`,
    render: (aw: number, hostAw: number) => `aw-bits ${aw} > host aw-bits ${hostAw}`,
  }),
} as const;

/** Messages iova adds where QEMU 7.2 prints nothing (it crashes or cannot get there). */
export const IOVA_MESSAGES = {
  nullTargetAs: () =>
    "vfio_iommu_map_notify: the entry's target_as is NULL (QEMU 7.2 crashes reading its name)",
} as const;
