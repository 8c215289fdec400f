/**
 * What a pseries machine type changes: QEMU keeps older machine types' defaults so that guests
 * see the same hardware after an upgrade.
 */
import type { PhbConfig } from "../spapr/phb.ts";

/** The defaults of one pseries machine type. */
export interface PseriesCompat {
  /** "7.2" for `pseries` itself. */
  readonly version: string;
  /** PHB defaults that differ by machine type. */
  readonly phb: Pick<PhbConfig, "ddw" | "pgsz">;
  /** Before 2.8 the PHB windows sit above RAM, 64 GiB apart, without a separate 64-bit window. */
  readonly legacyPlacement: boolean;
  /** Size of the legacy single memory window (split at 2 GiB into 32- and 64-bit parts). */
  readonly legacyMemWindow: bigint;
  /** XIVE interrupt controller regions (else XICS, which has no MMIO regions). */
  readonly xive: boolean;
}

/** The newest machine type iova models; `pseries` means this one. */
export const LATEST_PSERIES = "7.2";

function parseVersion(v: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The compat defaults of `pseries` or `pseries-X.Y`; undefined for an unknown type. */
export function pseriesCompat(machineType: string): PseriesCompat | undefined {
  const version = machineType === "pseries" ? LATEST_PSERIES : machineType.replace(/^pseries-/, "");
  const parsed = machineType.startsWith("pseries") ? parseVersion(version) : undefined;
  if (!parsed) return undefined;
  const [major, minor] = parsed;
  const at = major * 100 + minor;
  if (at < 201 || at > 702) return undefined;
  return {
    version,
    phb: {
      ddw: at >= 207,
      pgsz: at >= 402 ? 0x1211000n : 0x11000n,
    },
    legacyPlacement: at < 208,
    legacyMemWindow: at <= 202 ? 0x20000000n : 0xf80000000n,
    xive: at >= 401,
  };
}

/**
 * The q35 machine types QEMU 7.2 accepts (`qemu-system-x86_64 -M help`): `q35` is an alias of
 * `pc-q35-7.2`.
 */
export const Q35_MACHINE_TYPES = [
  "q35",
  ...[
    "2.4",
    "2.5",
    "2.6",
    "2.7",
    "2.8",
    "2.9",
    "2.10",
    "2.11",
    "2.12",
    "3.0",
    "3.1",
    "4.0",
    "4.0.1",
    "4.1",
    "4.2",
    "5.0",
    "5.1",
    "5.2",
    "6.0",
    "6.1",
    "6.2",
    "7.0",
    "7.1",
    "7.2",
  ].map((v) => `pc-q35-${v}`),
] as const;

/** What an older q35 machine type changes on the modelled DMA path. */
export interface Q35Compat {
  /** "7.2" for `q35` itself. */
  readonly version: string;
  /** intel-iommu defaults that differ by machine type (compat properties). */
  readonly intelIommu: { readonly dmaDrain: boolean; readonly passThrough: boolean };
}

/**
 * The compat defaults of `q35` or `pc-q35-X.Y`; undefined for a type QEMU 7.2 does not know.
 * intel-iommu's `dma-drain` is off up to 3.1 (pc_compat_3_1) and `pt` off up to 2.9
 * (hw_compat_2_9); other compat properties of these types concern nothing iova models.
 */
export function q35Compat(machineType: string): Q35Compat | undefined {
  if (!(Q35_MACHINE_TYPES as readonly string[]).includes(machineType)) return undefined;
  const version = machineType === "q35" ? "7.2" : machineType.slice("pc-q35-".length);
  const [major, minor] = version.split(".").map(Number);
  const at = major * 100 + minor;
  return { version, intelIommu: { dmaDrain: at > 301, passThrough: at > 209 } };
}
