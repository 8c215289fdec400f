/**
 * Which QEMU a live VM runs: QMP's `query-version`, checked, and what iova can say about it.
 * iova models two release lines (7.2 and 10.0, `machine/qemu-line.ts`); a live VM of one of them
 * is modelled as that line, one of another release is named as such and not modelled (its memory
 * map is still rebuilt from its own dumps), rather than silently treated as 7.2.
 */
import type { QemuLine } from "../machine/qemu-line.ts";
import { type MtreeDumps, type QmpClient, QmpError, readMtreeDumps } from "./qmp.ts";

export type { QemuLine };

/** A QEMU's version as `query-version` reports it. */
export interface QemuVersion {
  readonly major: number;
  readonly minor: number;
  readonly micro: number;
  /** The distribution's build string (`Debian 1:10.0.2+ds-...`), empty for an upstream build. */
  readonly package: string;
}

/** What iova tells a user about the QEMU it talks to. */
export interface QemuIdentity {
  readonly version: QemuVersion;
  /** `10.0.2`. */
  readonly text: string;
  /** The release line it belongs to, if iova knows it. */
  readonly line: QemuLine | undefined;
  /** Whether iova models this QEMU's release line (then `line` is the model it picks). */
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
  const modelled = line !== undefined;
  const built = version.package ? ` (${version.package})` : "";
  const summary = modelled
    ? `QEMU ${text}${built}: modelled as QEMU ${line} (--qemu ${line})`
    : `QEMU ${text}${built}: iova models QEMU 7.2 and 10.0, not this release; the memory map is rebuilt from this QEMU's own dumps, behaviour beyond it is not modelled`;
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
