/**
 * Machine types per QEMU release. QEMU keeps older machine types' defaults so that guests see the
 * same hardware after an upgrade, and removes the oldest ones now and then: QEMU 7.2 has
 * pseries-2.1 to 7.2, QEMU 10.0 pseries-3.0 to 10.0 (2.1 to 2.12 removed); both have
 * pc-q35-2.4 up to their own release. The bare names (`pseries`, `q35`) are the release's newest.
 */
import type { PhbConfig } from "../spapr/phb.ts";
import { DEFAULT_QEMU_LINE, type QemuLine } from "./qemu-line.ts";

/**
 * A machine type the modelled QEMU does not have. The message is what QEMU prints, binary name
 * first (`qemu-system-ppc64: unsupported machine type: "pseries-2.1"` and the hint line).
 */
export class MachineTypeError extends Error {
  override name = "MachineTypeError";
}

/** The defaults of one pseries machine type. */
export interface PseriesCompat {
  /** "7.2" for `pseries` under QEMU 7.2, "10.0" under 10.0. */
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

/** The newest machine type of each release; `pseries` and `q35` mean this one. */
export const LATEST_MACHINE_VERSION: Readonly<Record<QemuLine, string>> = {
  "7.2": "7.2",
  "10.0": "10.0",
};

/** The newest machine type QEMU 7.2 has; `pseries` means this one under 7.2. */
export const LATEST_PSERIES = LATEST_MACHINE_VERSION["7.2"];

/** The oldest pseries-X.Y each release has (QEMU 10.0 removed 2.1 to 2.12). */
const OLDEST_PSERIES: Readonly<Record<QemuLine, number>> = { "7.2": 201, "10.0": 300 };
/** The oldest pc-q35-X.Y each release has. */
const OLDEST_Q35: Readonly<Record<QemuLine, number>> = { "7.2": 204, "10.0": 204 };
/** Every X.Y a release numbered its machine types with (QEMU's releases, 2.1 to 10.0). */
const RELEASES = new Set([
  201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 300, 301, 400, 401, 402, 500, 501,
  502, 600, 601, 602, 700, 701, 702, 800, 801, 802, 900, 901, 902, 1000,
]);

function versionNumber(v: string): number | undefined {
  const m = /^(\d{1,2})\.(\d{1,2})$/.exec(v);
  if (!m) return undefined;
  const at = Number(m[1]) * 100 + Number(m[2]);
  return RELEASES.has(at) ? at : undefined;
}

function lineNumber(qemu: QemuLine): number {
  return versionNumber(LATEST_MACHINE_VERSION[qemu]) as number;
}

/**
 * The versioned machine type a name means under a release (`pseries` → `7.2` or `10.0`,
 * `pseries-5.2` → `5.2`), or undefined when that release has no such type.
 */
export function machineTypeVersion(
  family: "pseries" | "pc-q35",
  machineType: string,
  qemu: QemuLine = DEFAULT_QEMU_LINE,
): string | undefined {
  const bare = family === "pseries" ? "pseries" : "q35";
  if (machineType === bare) return LATEST_MACHINE_VERSION[qemu];
  if (!machineType.startsWith(`${family}-`)) return undefined;
  const version = machineType.slice(family.length + 1);
  // pc-q35-4.0.1 is the one three-part type (a 4.0 fix release), in both releases.
  if (family === "pc-q35" && version === "4.0.1") return version;
  const at = versionNumber(version);
  const oldest = family === "pseries" ? OLDEST_PSERIES[qemu] : OLDEST_Q35[qemu];
  if (at === undefined || at < oldest || at > lineNumber(qemu)) return undefined;
  return version;
}

/**
 * What QEMU prints (after `qemu-system-ARCH: `) for a machine type it does not have: 10.0 names
 * the type, 7.2 does not; both add the hint on a second line.
 */
export function unsupportedMachineTypeMessage(machineType: string, qemu: QemuLine): string {
  const named = qemu === "7.2" ? "" : `: "${machineType}"`;
  return `unsupported machine type${named}\nUse -machine help to list supported machines`;
}

/** The pseries types a release has, for messages: `2.1 to 7.2`, `3.0 to 10.0`. */
export function pseriesRange(qemu: QemuLine): string {
  const oldest = OLDEST_PSERIES[qemu];
  return `${Math.floor(oldest / 100)}.${oldest % 100} to ${LATEST_MACHINE_VERSION[qemu]}`;
}

/**
 * The compat defaults of `pseries` or `pseries-X.Y` under a release (QEMU 7.2 by default);
 * undefined for a type that release does not have.
 */
export function pseriesCompat(
  machineType: string,
  qemu: QemuLine = DEFAULT_QEMU_LINE,
): PseriesCompat | undefined {
  const version = machineTypeVersion("pseries", machineType, qemu);
  if (version === undefined) return undefined;
  const at = versionNumber(version) as number;
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

/** The pc-q35 types a release has, for messages: `2.4 to 7.2`, `2.4 to 10.0`. */
export function q35Range(qemu: QemuLine): string {
  const oldest = OLDEST_Q35[qemu];
  return `${Math.floor(oldest / 100)}.${oldest % 100} to ${LATEST_MACHINE_VERSION[qemu]}`;
}

/** What an older q35 machine type changes on the modelled DMA path. */
export interface Q35Compat {
  /** "7.2" for `q35` itself. */
  readonly version: string;
  /** intel-iommu defaults that differ by machine type (compat properties). */
  readonly intelIommu: { readonly dmaDrain: boolean; readonly passThrough: boolean };
}

/**
 * The compat defaults of `q35` or `pc-q35-X.Y` under a release (QEMU 7.2 by default); undefined
 * for a type that release does not have. intel-iommu's `dma-drain` is off up to 3.1
 * (pc_compat_3_1) and `pt` off up to 2.9 (hw_compat_2_9); other compat properties of these types
 * concern nothing iova models.
 */
export function q35Compat(
  machineType: string,
  qemu: QemuLine = DEFAULT_QEMU_LINE,
): Q35Compat | undefined {
  const version = machineTypeVersion("pc-q35", machineType, qemu);
  if (version === undefined) return undefined;
  const [major, minor] = version.split(".").map(Number);
  const at = major * 100 + minor;
  return { version, intelIommu: { dmaDrain: at > 301, passThrough: at > 209 } };
}
