/**
 * Which QEMU a live VM runs: QMP's `query-version`, checked, and what iova can say about it.
 * iova's DMA-path model follows QEMU 7.2; a memory map read from any QEMU is rebuilt from that
 * QEMU's own dumps, but the behaviour after it (TCE hypercalls, VFIO mirroring) is 7.2's, so a
 * live VM of another version is named as such rather than silently treated as 7.2.
 */
import { type MtreeDumps, type QmpClient, QmpError, readMtreeDumps } from "./qmp.ts";

/** A QEMU's version as `query-version` reports it. */
export interface QemuVersion {
  readonly major: number;
  readonly minor: number;
  readonly micro: number;
  /** The distribution's build string (`Debian 1:10.0.2+ds-...`), empty for an upstream build. */
  readonly package: string;
}

/** The QEMU release lines iova knows: the one it models, and 10.0 (recorded, not yet modelled). */
export type QemuLine = "7.2" | "10.0";

/** What iova tells a user about the QEMU it talks to. */
export interface QemuIdentity {
  readonly version: QemuVersion;
  /** `10.0.2`. */
  readonly text: string;
  /** The release line it belongs to, if iova knows it. */
  readonly line: QemuLine | undefined;
  /** Whether iova's behaviour model (`qemu-7.2`) is this QEMU's own. */
  readonly modelled: boolean;
  /** One sentence for people. */
  readonly summary: string;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Checks a `query-version` return value: `{ qemu: { major, minor, micro }, package }`. Anything
 * else is a `QmpError` naming what was wrong (a hostile or broken peer must not crash iova).
 */
export function parseQueryVersion(value: unknown): QemuVersion {
  const bad = (what: string) =>
    new QmpError(`QEMU's reply to query-version is not a version: ${what}`);
  if (typeof value !== "object" || value === null) throw bad("not an object");
  const { qemu, package: pkg } = value as { qemu?: unknown; package?: unknown };
  if (typeof qemu !== "object" || qemu === null) throw bad("no 'qemu' object");
  const { major, minor, micro } = qemu as { major?: unknown; minor?: unknown; micro?: unknown };
  if (!isCount(major) || !isCount(minor) || !isCount(micro))
    throw bad("'qemu' needs non-negative integers major, minor and micro");
  if (pkg !== undefined && typeof pkg !== "string") throw bad("'package' is not a string");
  return { major, minor, micro, package: (pkg ?? "").trim() };
}

/** The release line of a version: 7.2.x is "7.2", 10.0.x is "10.0"; others are unknown. */
export function qemuLine(v: QemuVersion): QemuLine | undefined {
  if (v.major === 7 && v.minor === 2) return "7.2";
  if (v.major === 10 && v.minor === 0) return "10.0";
  return undefined;
}

/** Names a version for people and says how iova's model relates to it. */
export function identifyQemu(version: QemuVersion): QemuIdentity {
  const text = `${version.major}.${version.minor}.${version.micro}`;
  const line = qemuLine(version);
  const modelled = line === "7.2";
  const built = version.package ? ` (${version.package})` : "";
  const summary = modelled
    ? `QEMU ${text}${built}: the version iova models`
    : `QEMU ${text}${built}: iova models QEMU 7.2; the memory map is rebuilt from this QEMU's own dumps, but behaviour beyond it is 7.2's`;
  return { version, text, line, modelled, summary };
}

/** Asks a live QEMU which version it is. */
export async function queryQemuVersion(client: QmpClient): Promise<QemuIdentity> {
  return identifyQemu(parseQueryVersion(await client.execute("query-version")));
}

/** What `iova attach` and `iova qemu` read from a live VM: which QEMU, and its memory dumps. */
export interface LiveQemu {
  readonly qemu: QemuIdentity;
  readonly dumps: MtreeDumps;
}

/** Reads a live VM's version, then its dumps: queries only, the VM's state is not changed. */
export async function readLiveQemu(client: QmpClient): Promise<LiveQemu> {
  const qemu = await queryQemuVersion(client);
  return { qemu, dumps: await readMtreeDumps(client) };
}
