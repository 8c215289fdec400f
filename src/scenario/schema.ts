/**
 * A scenario: a machine, an optional host, and the steps that play the guest and the operator.
 * These are the checked, typed forms of scenario files (see docs/scenario-reference.md).
 */

import type { Behaviour } from "../machine/behaviour.ts";
import type { PseriesConfig } from "../machine/pseries.ts";

/** QEMU as it is today, or as the 2016 thread found it (the machine's switch). */
export type { Behaviour };

/** The simulated host the VFIO devices come from. */
export interface HostSpec {
  readonly iommu: "spapr-tce-v2" | "spapr-tce" | "type1";
  readonly pageSize: bigint;
  readonly pgsizes: readonly bigint[];
  readonly maxLevels?: number;
  readonly windowStarts?: readonly bigint[];
  readonly memlockLimit?: bigint;
  readonly dmaEntryLimit?: number;
  /** type1: IOVA ranges the platform reserves (both ends included); default x86's MSI window. */
  readonly reservedIova?: readonly (readonly [bigint, bigint])[];
  readonly faults?: readonly {
    readonly ioctl: string;
    readonly errno: string;
    readonly from?: number;
    readonly once?: boolean;
  }[];
  /** The page size backing guest RAM (a hugepage size when RAM is on hugepages). */
  readonly ramPageSize?: bigint;
  /** Whether the host has dynamic DMA windows (powernv IODA2); without, only sPAPR TCE v1 works. */
  readonly ddw?: boolean;
}

/** Which PHB an RTAS call addresses: through a device, or directly. */
export type PhbRef = { readonly device: string } | { readonly phb: number };

/** The expectation a step may carry; only the named fields are checked. */
export interface Expectation {
  readonly rets?: readonly bigint[];
  readonly status?: number;
  readonly liobn?: bigint;
  readonly start?: bigint;
  readonly value?: bigint;
  readonly available?: number;
  readonly ret?: number;
  readonly tce?: bigint;
  readonly data?: Uint8Array;
  readonly fault?: boolean;
  readonly ok?: boolean;
  readonly error?: string;
  /** Whether real QEMU 7.2 would abort the VM at this step. */
  readonly qemuAborts?: boolean;
}

interface StepBase {
  /** 1-based line of the step in its file. */
  readonly line: number;
  readonly expect?: Expectation;
}

/** An RTAS call, raw (`args`) or friendly (named fields turned into args here). */
export interface RtasStep extends StepBase {
  readonly kind: "rtas";
  readonly name: string;
  /** Raw argument cells, or undefined when `build` makes them from the machine. */
  readonly args?: readonly bigint[];
  readonly friendly?: {
    readonly target?: PhbRef;
    readonly reg?: number;
    readonly size?: number;
    readonly value?: bigint;
    readonly pageShift?: number;
    readonly windowShift?: number;
    readonly liobn?: bigint;
  };
  readonly nret?: number;
}

/** A TCE hypercall. */
export interface HcallStep extends StepBase {
  readonly kind: "hcall";
  readonly name: "H_PUT_TCE" | "H_GET_TCE" | "H_STUFF_TCE" | "H_PUT_TCE_INDIRECT";
  readonly liobn: bigint;
  readonly ioba: bigint;
  readonly tce?: bigint;
  readonly npages?: bigint;
  readonly tceList?: bigint;
  readonly tces?: readonly bigint[];
}

/** A device's DMA. */
export interface DmaStep extends StepBase {
  readonly kind: "dma";
  readonly device: string;
  readonly address: bigint;
  readonly write?: Uint8Array;
  readonly length?: number;
}

/** A guest CPU access to its physical memory. */
export interface CpuStep extends StepBase {
  readonly kind: "cpu";
  readonly address: bigint;
  readonly write?: Uint8Array;
  readonly length?: number;
}

/** Hot-plug. */
export interface DeviceAddStep extends StepBase {
  readonly kind: "device_add";
  readonly id: string;
  readonly driver: string;
  readonly bus?: number;
  readonly slot?: number;
  readonly host?: string;
}

/** Hot-unplug. */
export interface DeviceDelStep extends StepBase {
  readonly kind: "device_del";
  readonly id: string;
}

/** A raw ioctl on a host container, with no QEMU in between (to script the host driver). */
export interface IoctlStep extends StepBase {
  readonly kind: "ioctl";
  readonly ioctl: (typeof IOCTLS)[number];
  /** Names a container of this run; SET_IOMMU creates it. */
  readonly container: string;
  readonly args: Readonly<Record<string, bigint | string>>;
}

/** The ioctls an `ioctl` step can make. */
export const IOCTLS = [
  "SET_IOMMU",
  "GET_INFO",
  "ENABLE",
  "DISABLE",
  "REGISTER_MEMORY",
  "UNREGISTER_MEMORY",
  "TCE_CREATE",
  "TCE_REMOVE",
  "MAP_DMA",
  "UNMAP_DMA",
] as const;

/** A system reset (QEMU's `system_reset`). */
export interface ResetStep extends StepBase {
  readonly kind: "reset";
}

/** An invariant check. */
export interface CheckStep extends StepBase {
  readonly kind: "check";
  readonly check: "shadow" | "isolation" | "accounting";
}

/** A look at `info mtree`. */
export interface ExpectMtreeStep extends StepBase {
  readonly kind: "expect_mtree";
  readonly contains?: string;
  readonly equals?: string;
  readonly flat: boolean;
  readonly disabled: boolean;
  readonly owners: boolean;
}

/** A step of a scenario. */
export type Step =
  | IoctlStep
  | ResetStep
  | RtasStep
  | HcallStep
  | DmaStep
  | CpuStep
  | DeviceAddStep
  | DeviceDelStep
  | CheckStep
  | ExpectMtreeStep;

/** A cold-plugged device, emulated or assigned. */
export interface MachineDevice {
  readonly id?: string;
  readonly driver: string;
  readonly bus?: number;
  readonly slot?: number;
  readonly host?: string;
}

/** The machine part of a scenario. */
export interface MachineSpec extends Omit<PseriesConfig, "devices"> {
  readonly devices: readonly MachineDevice[];
}

/** A loaded scenario. */
export interface Scenario {
  readonly name: string;
  readonly description?: string;
  readonly behaviour: Behaviour;
  readonly machine: MachineSpec;
  readonly host?: HostSpec;
  readonly steps: readonly Step[];
  /** Where it came from (a file path, or `<built-in>`). */
  readonly source: string;
}

/** The invariants `check:` can name. */
export const CHECKS = ["shadow", "isolation", "accounting"] as const;
/** The hypercalls a scenario can make. */
export const HCALLS = ["H_PUT_TCE", "H_GET_TCE", "H_STUFF_TCE", "H_PUT_TCE_INDIRECT"] as const;
