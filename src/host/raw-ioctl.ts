/**
 * VFIO container ioctls made directly, as a host driver script would make them: named containers
 * of one process (the VMM, whose only user memory is guest RAM), each created by its SET_IOMMU,
 * and the mapping from an ioctl's name and arguments to the container call.
 */
import { hex } from "../memory/int.ts";
import { Errno } from "./errno.ts";
import type { HostPlatform } from "./platform.ts";
import { HostProcess } from "./process.ts";
import { SpaprTceContainer } from "./spapr-tce.ts";
import { Type1Container } from "./type1.ts";

/** The ioctls that can be made directly, with the arguments each takes (all required). */
export const RAW_IOCTL_ARGS = {
  SET_IOMMU: ["type", "group"],
  GET_INFO: [],
  ENABLE: [],
  DISABLE: [],
  REGISTER_MEMORY: ["vaddr", "size"],
  UNREGISTER_MEMORY: ["vaddr", "size"],
  TCE_CREATE: ["page_shift", "window_size", "levels"],
  TCE_REMOVE: ["start_addr"],
  MAP_DMA: ["iova", "size", "vaddr", "flags"],
  UNMAP_DMA: ["iova", "size"],
} as const satisfies Record<string, readonly string[]>;

/** One of the ioctls of `RAW_IOCTL_ARGS`. */
export type RawIoctlName = keyof typeof RAW_IOCTL_ARGS;

/** The backends SET_IOMMU can choose. */
export const RAW_IOMMU_TYPES = ["spapr-tce-v2", "spapr-tce", "type1"] as const;

/** A raw container. */
export type RawContainer = SpaprTceContainer | Type1Container;

/** What a raw ioctl returned. */
export interface RawIoctlResult {
  /** 0, a positive value, or -errno. */
  readonly ret: number;
  /** TCE_CREATE: where the window starts. */
  readonly start?: bigint;
  /** GET_INFO: the info structure, 64-bit values in hex. */
  readonly info?: unknown;
  /** The container's pages charged to RLIMIT_MEMLOCK afterwards. */
  readonly lockedPages: bigint;
}

/** The raw containers of one process, by name. */
export class RawIoctlHost {
  readonly platform: HostPlatform;
  /** The process's user memory (guest RAM): the only addresses that can be pinned. */
  readonly userMemory: readonly { start: bigint; size: bigint }[];
  /**
   * The one process all raw containers charge (a program driving the host beside QEMU): one
   * RLIMIT_MEMLOCK, one preregistration list.
   */
  readonly process: HostProcess;
  readonly #containers = new Map<string, RawContainer>();

  constructor(platform: HostPlatform, userMemory: readonly { start: bigint; size: bigint }[]) {
    this.platform = platform;
    this.userMemory = userMemory;
    this.process = new HostProcess(platform.pageSize, platform.memlockLimit);
  }

  /** The containers, in the order they were created. */
  get containers(): ReadonlyMap<string, RawContainer> {
    return this.#containers;
  }

  /**
   * Makes `ioctl` on container `name` with `args` (numbers as bigints; SET_IOMMU's `type` a
   * name). A container that does not exist yet is an error string: SET_IOMMU creates it.
   */
  call(
    name: string,
    ioctl: RawIoctlName,
    args: Readonly<Record<string, bigint | string>>,
  ): RawIoctlResult | string {
    let c = this.#containers.get(name);
    if (ioctl === "SET_IOMMU" && !c) {
      const type = args.type as (typeof RAW_IOMMU_TYPES)[number];
      c =
        type === "type1"
          ? new Type1Container(this.platform, this.userMemory, undefined, this.process)
          : new SpaprTceContainer(
              this.platform,
              type === "spapr-tce-v2",
              this.userMemory,
              undefined,
              this.process,
            );
      this.#containers.set(name, c);
    }
    if (!c) return `no container '${name}': SET_IOMMU first`;
    const r = dispatch(c, ioctl, args);
    return { ...r, lockedPages: c.lockedPages };
  }
}

/** The container call an ioctl names; an ioctl the backend does not have is ENOTTY. */
function dispatch(
  c: RawContainer,
  ioctl: RawIoctlName,
  a: Readonly<Record<string, bigint | string>>,
): { ret: number; start?: bigint; info?: unknown } {
  const n = (k: string) => a[k] as bigint;
  const spapr = c instanceof SpaprTceContainer ? c : undefined;
  const notFor = { ret: -Errno.ENOTTY };
  switch (ioctl) {
    case "SET_IOMMU":
      return { ret: c.attachGroup(Number(n("group"))) };
    case "GET_INFO": {
      const info = spapr ? spapr.getInfo() : (c as Type1Container).getInfo();
      return { ret: info.ret, info: JSON.parse(JSON.stringify(info, hexBigints)) };
    }
    case "ENABLE":
      return spapr ? { ret: spapr.enable() } : notFor;
    case "DISABLE":
      return spapr ? { ret: spapr.disable() } : notFor;
    case "REGISTER_MEMORY":
      return spapr ? { ret: spapr.registerMemory(n("vaddr"), n("size")) } : notFor;
    case "UNREGISTER_MEMORY":
      return spapr ? { ret: spapr.unregisterMemory(n("vaddr"), n("size")) } : notFor;
    case "TCE_CREATE":
      return spapr
        ? spapr.createWindow(Number(n("page_shift")), n("window_size"), Number(n("levels")))
        : notFor;
    case "TCE_REMOVE":
      return spapr ? { ret: spapr.removeWindow(n("start_addr")) } : notFor;
    case "MAP_DMA": {
      const flags = n("flags");
      return {
        ret: c.mapDma(n("iova"), n("size"), n("vaddr"), (flags & 1n) !== 0n, (flags & 2n) !== 0n),
      };
    }
    case "UNMAP_DMA":
      return { ret: c.unmapDma(n("iova"), n("size")) };
  }
}

function hexBigints(_key: string, v: unknown): unknown {
  return typeof v === "bigint" ? hex(v) : v;
}
