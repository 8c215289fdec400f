/**
 * The `virtio_iommu` step: one request of the guest's virtio-iommu driver (ATTACH, DETACH, MAP,
 * UNMAP, PROBE) on a q35 machine's virtio-iommu-pci, with endpoints named by device id or by
 * `BB:DD.F`, sizes instead of inclusive ends, and QEMU 7.2's status code as the result.
 */
import type { Q35Machine } from "../machine/q35.ts";
import {
  statusName,
  VIRTIO_IOMMU_ATTACH_F_BYPASS,
  VIRTIO_IOMMU_MAP_F,
  VIRTIO_IOMMU_RESV_MEM_T,
  type VirtioIommuStatusName,
} from "../virtio-iommu/constants.ts";

/** What a mapping lets the device do. */
export type VirtioIommuPerm = "r" | "w" | "rw" | "none";

/** A request as a scenario writes it. */
export type VirtioIommuRequest =
  | {
      readonly op: "attach";
      readonly domain: number;
      readonly endpoint: string;
      readonly bypass?: boolean;
    }
  | { readonly op: "detach"; readonly domain: number; readonly endpoint: string }
  | {
      readonly op: "map";
      readonly domain: number;
      readonly iova: bigint;
      readonly size: bigint;
      readonly gpa: bigint;
      readonly perm: VirtioIommuPerm;
      readonly mmio?: boolean;
    }
  | { readonly op: "unmap"; readonly domain: number; readonly iova: bigint; readonly size: bigint }
  | { readonly op: "probe"; readonly endpoint: string };

/** What a request did: QEMU's status, the reply's details, or why it could not be sent. */
export interface VirtioIommuOutcome {
  readonly name: string;
  readonly status?: VirtioIommuStatusName;
  readonly result: Readonly<Record<string, unknown>>;
  /** Why the step could not run at all (no virtio-iommu, an unknown device). */
  readonly error: string | null;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/**
 * The endpoint id of a device id or a `BB:DD.F` address (virtio-iommu's endpoint is the PCI
 * requester id), or why there is none.
 */
export function endpointOf(machine: Q35Machine, name: string): number | string {
  const bdf = /^([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/.exec(name);
  if (bdf) {
    const [bus, dev, fn] = [bdf[1], bdf[2], bdf[3]].map((x) => Number.parseInt(x, 16));
    if (dev > 31) return `'${name}': device number above 1f`;
    return (bus << 8) | (dev << 3) | fn;
  }
  const d = machine.devices.get(name);
  if (!d) return `no device '${name}' is plugged`;
  return d.devfn;
}

/** Sends one request to the machine's virtio-iommu. */
export function runVirtioIommuRequest(
  machine: Q35Machine,
  r: VirtioIommuRequest,
): VirtioIommuOutcome {
  const vi = machine.virtioIommu;
  const name = `${r.op.toUpperCase()} ${"endpoint" in r ? r.endpoint : `domain ${r.domain}`}`;
  if (!vi) return { name, result: {}, error: "the machine has no virtio-iommu-pci" };
  const endpoint = "endpoint" in r ? endpointOf(machine, r.endpoint) : 0;
  if (typeof endpoint === "string") return { name, result: {}, error: endpoint };
  const done = (code: number, extra: Record<string, unknown> = {}): VirtioIommuOutcome => {
    const status = statusName(code);
    return { name, status, result: { status, ...extra }, error: null };
  };
  switch (r.op) {
    case "attach":
      return done(vi.attach(r.domain, endpoint, r.bypass ? VIRTIO_IOMMU_ATTACH_F_BYPASS : 0), {
        endpoint,
      });
    case "detach":
      return done(vi.detach(r.domain, endpoint), { endpoint });
    case "map": {
      const flags =
        (r.perm.includes("r") ? VIRTIO_IOMMU_MAP_F.READ : 0) |
        (r.perm.includes("w") ? VIRTIO_IOMMU_MAP_F.WRITE : 0) |
        (r.mmio ? VIRTIO_IOMMU_MAP_F.MMIO : 0);
      const end = BigInt.asUintN(64, r.iova + r.size - 1n);
      return done(vi.map(r.domain, r.iova, end, r.gpa, flags), {
        virt_start: hex(r.iova),
        virt_end: hex(end),
        phys_start: hex(r.gpa),
        flags,
      });
    }
    case "unmap": {
      const end = BigInt.asUintN(64, r.iova + r.size - 1n);
      return done(vi.unmap(r.domain, r.iova, end), { virt_start: hex(r.iova), virt_end: hex(end) });
    }
    case "probe": {
      const reply = vi.probe(endpoint);
      const view = new DataView(reply.properties.buffer);
      const regions: string[] = [];
      for (
        let at = 0;
        at + 24 <= reply.properties.length && view.getUint16(at, true) !== 0;
        at += 24
      ) {
        const type = view.getUint8(at + 4) === VIRTIO_IOMMU_RESV_MEM_T.MSI ? "msi" : "reserved";
        regions.push(
          `${type} ${hex(view.getBigUint64(at + 8, true))}-${hex(view.getBigUint64(at + 16, true))}`,
        );
      }
      return done(reply.status, { endpoint, reserved: regions });
    }
  }
}
