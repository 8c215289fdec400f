/**
 * The virtio-iommu device's numbers (virtio specification 1.2, section 5.13, as QEMU 7.2's
 * `standard-headers/linux/virtio_iommu.h` has them): request types, status codes, flags, fault
 * reasons and probe properties.
 */

/** Request types (`VIRTIO_IOMMU_T_*`). */
export const VIRTIO_IOMMU_T = {
  attach: 1,
  detach: 2,
  map: 3,
  unmap: 4,
  probe: 5,
} as const;

/** Status codes a request's tail carries (`VIRTIO_IOMMU_S_*`). */
export const VIRTIO_IOMMU_S = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
  DEVERR: 3,
  INVAL: 4,
  RANGE: 5,
  NOENT: 6,
  FAULT: 7,
  NOMEM: 8,
} as const;

/** A status code's name. */
export type VirtioIommuStatusName = keyof typeof VIRTIO_IOMMU_S;

/** The name of a status code (`OK`, `INVAL`, ...). */
export function statusName(status: number): VirtioIommuStatusName {
  const found = (Object.keys(VIRTIO_IOMMU_S) as VirtioIommuStatusName[]).find(
    (k) => VIRTIO_IOMMU_S[k] === status,
  );
  if (!found) throw new RangeError(`virtio-iommu status ${status} does not exist`);
  return found;
}

/** ATTACH's only flag: the domain lets DMA through untranslated. */
export const VIRTIO_IOMMU_ATTACH_F_BYPASS = 1;

/** MAP flags. */
export const VIRTIO_IOMMU_MAP_F = { READ: 1, WRITE: 2, MMIO: 4, MASK: 7 } as const;

/** Reserved-region subtypes (probe property RESV_MEM, and the `reserved-regions` property). */
export const VIRTIO_IOMMU_RESV_MEM_T = { RESERVED: 0, MSI: 1 } as const;

/** Probe property types. */
export const VIRTIO_IOMMU_PROBE_T_RESV_MEM = 1;

/** Fault reasons and flags of the event queue. */
export const VIRTIO_IOMMU_FAULT_R = { UNKNOWN: 0, DOMAIN: 1, MAPPING: 2 } as const;
export const VIRTIO_IOMMU_FAULT_F = { READ: 1, WRITE: 2, EXEC: 4, ADDRESS: 0x100 } as const;

/** Feature bits QEMU 7.2 offers (`virtio_iommu_device_realize`). */
export const VIRTIO_IOMMU_F = {
  INPUT_RANGE: 0,
  DOMAIN_RANGE: 1,
  MAP_UNMAP: 2,
  BYPASS: 3,
  PROBE: 4,
  MMIO: 5,
  BYPASS_CONFIG: 6,
} as const;

/** Bytes of a PROBE reply before the tail (QEMU's `VIOMMU_PROBE_SIZE`). */
export const VIOMMU_PROBE_SIZE = 512;

/**
 * Request payload sizes, head included, tail excluded (QEMU reads exactly this much from the
 * driver's buffers; fewer is INVAL). PROBE's is read with its 64 reserved bytes.
 */
export const REQUEST_SIZE = {
  [VIRTIO_IOMMU_T.attach]: 4 + 4 + 4 + 4 + 4,
  [VIRTIO_IOMMU_T.detach]: 4 + 4 + 4 + 4 + 4,
  [VIRTIO_IOMMU_T.map]: 4 + 4 + 8 + 8 + 8 + 4,
  [VIRTIO_IOMMU_T.unmap]: 4 + 4 + 8 + 8 + 4,
  [VIRTIO_IOMMU_T.probe]: 4 + 4 + 64,
} as const;

/** The PCI identity of `virtio-iommu-pci` (modern-only: 0x1040 + device id 23). */
export const VIRTIO_IOMMU_PCI = {
  vendorId: 0x1af4,
  deviceId: 0x1057,
  classCode: 0x00ff00,
  revision: 1,
} as const;
