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
