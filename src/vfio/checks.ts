/**
 * The invariants of a run, checked on the live state:
 * - shadow: each container's host IOMMU maps exactly the guest's valid TCEs that point into guest
 *   RAM, of every guest window it mirrors, at the window's absolute bus address, to the host
 *   address of the same guest RAM, with the same permission; nothing else;
 * - isolation: no host mapping points outside guest RAM or lies outside a host window, in the
 *   containers VFIO made and in those opened by ioctls made directly;
 * - accounting: the host's locked memory equals what its windows, preregistrations and mappings
 *   imply.
 * A violation that a known behaviour of QEMU 7.2 explains (`qemu-bugs.ts`) still fails the check,
 * and says so.
 */
import type { HostEntry, HostIommu } from "../host/host-iommu.ts";
import type { RawIoctlHost } from "../host/raw-ioctl.ts";
import { IommuRegion } from "../iommu/iommu-region.ts";
import { hex } from "../memory/int.ts";
import type { IommuTlbEntry } from "../memory/iommu-types.ts";
import type { VfioContainer } from "./container.ts";
import { attributed, QEMU_BUGS, type QemuBug } from "./qemu-bugs.ts";
import type { VfioHost } from "./vfio-host.ts";

/** One invariant's verdict. */
export interface CheckResult {
  readonly name: "shadow" | "isolation" | "accounting";
  readonly ok: boolean;
  readonly violations: string[];
  /** How many violations there were (the list stops at 50). */
  readonly total: number;
  /** Of them, how many each known QEMU 7.2 bug explains (by id; absent when none). */
  readonly qemuBugs?: Readonly<Record<string, number>>;
}

const MAX_LISTED = 50;

function verdict(
  name: CheckResult["name"],
  violations: string[],
  qemuBugs?: Record<string, number>,
): CheckResult {
  const shown = violations.slice(0, MAX_LISTED);
  if (violations.length > MAX_LISTED) shown.push(`… and ${violations.length - MAX_LISTED} more`);
  const known = qemuBugs && Object.keys(qemuBugs).length ? { qemuBugs } : {};
  return {
    name,
    ok: violations.length === 0,
    violations: shown,
    total: violations.length,
    ...known,
  };
}

const PERM_NAMES = ["", "r", "w", "rw"] as const;

/**
 * What the host should map for one container: iova → entry, at host page granularity. Every IOMMU
 * section of the container's address space counts, whether or not VFIO managed to mirror it.
 */
export function expectedHostEntries(c: VfioContainer): Map<bigint, HostEntry> {
  return guestMappings(c).expected;
}

/**
 * What the guest maps through one container: the host entries its valid TCEs into RAM imply (with
 * the TCE's own permission), and the bus addresses of valid TCEs whose target is not RAM.
 */
function guestMappings(c: VfioContainer): {
  expected: Map<bigint, HostEntry>;
  notRam: Set<bigint>;
} {
  const out = new Map<bigint, HostEntry>();
  const notRam = new Set<bigint>();
  const memory = c.ctx.memory;
  const windows = c.kernel.windows();
  for (const fr of c.dmaAs.view.ranges) {
    const iommu = IommuRegion.of(fr.mr);
    if (!iommu) continue;
    const offset = fr.start - fr.offsetInRegion;
    const last = fr.offsetInRegion + (fr.end - fr.start) - 1n;
    const valid: IommuTlbEntry[] = [];
    iommu.replay({
      flags: 3,
      start: fr.offsetInRegion,
      end: last,
      iommuIdx: 0,
      notify: (e) => valid.push(e),
    });
    for (const e of valid) {
      if (e.iova < fr.offsetInRegion || e.iova > last) continue;
      const size = e.addrMask + 1n;
      const t = memory.translate(e.translatedAddr, size, false);
      const iova = e.iova + offset;
      const w = windows.find((x) => iova >= x.start && iova < x.start + x.size);
      const hostPage = w ? 1n << BigInt(w.pageShift) : size;
      if (!t.mr?.isRam || t.plen < size) {
        for (let off = 0n; off < size; off += hostPage) notRam.add(iova + off);
        continue;
      }
      const hva = (c.ctx.hvaOf(t.mr) ?? 0n) + t.xlat;
      const perm = PERM_NAMES[e.perm] as HostEntry["perm"];
      for (let off = 0n; off < size; off += hostPage) {
        out.set(iova + off, { iova: iova + off, pageSize: hostPage, hva: hva + off, perm });
      }
    }
  }
  return { expected: out, notRam };
}

/** The shadow invariant for every container. */
export function checkShadow(host: VfioHost): CheckResult {
  const violations: string[] = [];
  const qemuBugs: Record<string, number> = {};
  const push = (violation: string, bug?: QemuBug) => {
    if (bug) qemuBugs[bug.id] = (qemuBugs[bug.id] ?? 0) + 1;
    violations.push(bug ? attributed(violation, bug) : violation);
  };
  for (const c of host.containers) {
    const { expected, notRam } = guestMappings(c);
    const actual = new Map(c.kernel.entries().map((e) => [e.iova, e]));
    for (const [iova, want] of expected) {
      const got = actual.get(iova);
      const gpa = host.gpaOf(want.hva);
      if (!got)
        push(
          `guest maps bus ${hex(iova)} -> gpa ${hex(gpa ?? 0n)} (${want.perm}); host has nothing there`,
        );
      else if (got.hva !== want.hva || got.perm !== want.perm) {
        const widened = got.hva === want.hva && want.perm === "w" && got.perm === "rw";
        push(
          `bus ${hex(iova)}: guest -> gpa ${hex(gpa ?? 0n)} (${want.perm}), host -> gpa ${hex(host.gpaOf(got.hva) ?? got.hva)} (${got.perm})`,
          widened ? QEMU_BUGS.writeOnlyTceMappedReadWrite : undefined,
        );
      }
    }
    for (const [iova, got] of actual) {
      if (!expected.has(iova)) {
        push(
          `host maps bus ${hex(iova)} -> gpa ${hex(host.gpaOf(got.hva) ?? got.hva)} (${got.perm}); the guest does not`,
          notRam.has(iova) ? QEMU_BUGS.staleMappingAfterNonRamTce : undefined,
        );
      }
    }
  }
  return verdict("shadow", violations, qemuBugs);
}

/** Where a container's entries leave guest RAM (`inRam`) or every host window. */
function isolationViolations(
  kernel: HostIommu,
  inRam: (hva: bigint) => boolean,
  where: string,
  violations: string[],
): void {
  const windows = kernel.windows();
  for (const e of kernel.entries()) {
    if (!inRam(e.hva) || !inRam(e.hva + e.pageSize - 1n)) {
      violations.push(`${where}host maps bus ${hex(e.iova)} to ${hex(e.hva)}, outside guest RAM`);
    }
    if (!windows.some((w) => e.iova >= w.start && e.iova + e.pageSize <= w.start + w.size)) {
      violations.push(`${where}host maps bus ${hex(e.iova)} outside every host window`);
    }
  }
}

/** How many of a check's violations no known QEMU 7.2 bug explains: iova's to answer for. */
export function unexplainedViolations(c: CheckResult): number {
  return c.total - Object.values(c.qemuBugs ?? {}).reduce((a, b) => a + b, 0);
}

/** The isolation invariant, over VFIO's containers and the raw ones. */
export function checkIsolation(host: VfioHost | undefined, raw?: RawIoctlHost): CheckResult {
  const violations: string[] = [];
  for (const c of host?.containers ?? []) {
    isolationViolations(c.kernel, (hva) => host!.gpaOf(hva) !== undefined, "", violations);
  }
  if (raw) {
    const inRam = (hva: bigint) =>
      raw.userMemory.some((m) => hva >= m.start && hva < m.start + m.size);
    for (const [name, c] of raw.containers) {
      isolationViolations(c, inRam, `container '${name}' (ioctl steps): `, violations);
    }
  }
  return verdict("isolation", violations);
}

/** The accounting invariant. */
export function checkAccounting(host: VfioHost): CheckResult {
  const violations: string[] = [];
  // Each container charged what its state implies; the process's locked_vm is their sum plus the
  // preregistered memory (shared by all containers) and what the driver never returns.
  let sum = 0n;
  for (const c of host.containers) {
    const want = c.kernel.expectedChargedPages();
    if (c.kernel.chargedPages !== want) {
      violations.push(
        `container ${c.pointer}: charged ${c.kernel.chargedPages} pages, its state implies ${want}`,
      );
    }
    sum += want;
  }
  const process = host.process;
  const total = sum + process.preregisteredPages + process.leakedPages;
  if (process.lockedPages !== total) {
    violations.push(`process: locked ${process.lockedPages} pages, its containers imply ${total}`);
  }
  const limit = process.memlockLimit;
  if (limit !== undefined && process.lockedPages * process.pageSize > limit) {
    violations.push("process: locked memory above RLIMIT_MEMLOCK");
  }
  return verdict("accounting", violations);
}

/**
 * Runs one named check on VFIO's containers and, for isolation, on the containers of ioctls made
 * directly (`raw`).
 */
export function runCheck(
  host: VfioHost | undefined,
  name: CheckResult["name"],
  raw?: RawIoctlHost,
): CheckResult {
  if (name === "isolation") return checkIsolation(host, raw);
  if (!host) return { name, ok: true, violations: [], total: 0 };
  if (name === "shadow") return checkShadow(host);
  return checkAccounting(host);
}
