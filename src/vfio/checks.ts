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
import type { MemoryRegion } from "../memory/region.ts";
import type { VfioContainer } from "./container.ts";
import { attributed, QEMU_BUGS, type QemuBug } from "./qemu-bugs.ts";
import type { VfioHost } from "./vfio-host.ts";

/** One way an invariant does not hold, as data a script can select on. */
export interface Violation {
  readonly check: CheckResult["name"];
  /** What is wrong: missing, differs, extra, outside-ram, outside-window, locked-pages, memlock-limit. */
  readonly kind: string;
  /** The bus address (IOVA) concerned, as hex: the first of a run. */
  readonly bus?: string;
  /** The run's size in bytes, as hex, when the violation covers a run of host pages. */
  readonly size?: string;
  /** How many host pages the run holds. */
  readonly pages?: number;
  /** What should be there. */
  readonly expected?: string;
  /** What is there. */
  readonly actual?: string;
  /** The id of the known QEMU 7.2 bug that explains it (docs/known-bugs.md), if one does. */
  readonly qemuBug?: string;
  /** The same as a sentence. */
  readonly message: string;
}

/** One invariant's verdict. */
export interface CheckResult {
  readonly name: "shadow" | "isolation" | "accounting";
  readonly ok: boolean;
  /** Every violation (views may summarise; the data is never cut short). */
  readonly violations: Violation[];
  readonly total: number;
  /** Of them, how many each known QEMU 7.2 bug explains (by id; absent when none). */
  readonly qemuBugs?: Readonly<Record<string, number>>;
}

function verdict(name: CheckResult["name"], violations: Violation[]): CheckResult {
  const qemuBugs: Record<string, number> = {};
  for (const v of violations) if (v.qemuBug) qemuBugs[v.qemuBug] = (qemuBugs[v.qemuBug] ?? 0) + 1;
  const known = Object.keys(qemuBugs).length ? { qemuBugs } : {};
  return { name, ok: violations.length === 0, violations, total: violations.length, ...known };
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
    if (!iommu) {
      // RAM the device sees without a guest IOMMU (q35 without intel-iommu, or translation off):
      // VFIO maps it at its address in the device's address space.
      if (fr.mr.isRam && fr.start >> 63n === 0n) ramSection(c, fr, out);
      continue;
    }
    const offset = fr.start - fr.offsetInRegion;
    const last = fr.offsetInRegion + (fr.end - fr.start) - 1n;
    const valid: IommuTlbEntry[] = [];
    const collect = (e: IommuTlbEntry) => valid.push(e);
    if (iommu.model.mappings) iommu.model.mappings(collect);
    else
      iommu.replay({ flags: 3, start: fr.offsetInRegion, end: last, iommuIdx: 0, notify: collect });
    for (const e of valid) {
      // An UNMAP a replay starts with is not a mapping.
      if (e.perm === 0) continue;
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

/** The host pages a RAM section implies: its page-aligned part, read-only where it is. */
function ramSection(
  c: VfioContainer,
  fr: { start: bigint; end: bigint; offsetInRegion: bigint; mr: MemoryRegion; readonly?: boolean },
  out: Map<bigint, HostEntry>,
): void {
  const page = c.ctx.platform.pageSize;
  const base = c.ctx.hvaOf(fr.mr);
  if (base === undefined) return;
  const first = (fr.start + page - 1n) & ~(page - 1n);
  const end = fr.end & ~(page - 1n);
  const perm = fr.readonly || fr.mr.readonly ? "r" : "rw";
  for (let iova = first; iova < end; iova += page) {
    const hva = base + fr.offsetInRegion + (iova - fr.start);
    out.set(iova, { iova, pageSize: page, hva, perm });
  }
}

/** A run of host pages the shadow check found wrong the same way, contiguous in every address. */
interface ShadowRun {
  kind: "missing" | "differs" | "extra";
  iova: bigint;
  size: bigint;
  pages: number;
  want?: { hva: bigint; perm: string };
  got?: { hva: bigint; perm: string };
  /** The known QEMU bug that explains this page's violation; runs never mix bugs. */
  bug?: QemuBug;
}

/** Whether `page` continues `run`: the next bus address, and the next host address on each side. */
function continues(run: ShadowRun | undefined, page: ShadowRun): boolean {
  if (!run || run.kind !== page.kind || run.bug !== page.bug || run.iova + run.size !== page.iova)
    return false;
  const next = (a?: { hva: bigint; perm: string }, b?: { hva: bigint; perm: string }) =>
    a === undefined
      ? b === undefined
      : b !== undefined && a.perm === b.perm && a.hva + run.size === b.hva;
  return next(run.want, page.want) && next(run.got, page.got);
}

/**
 * The shadow invariant for every container. Wrong pages are reported in runs (contiguous in bus
 * and host address, wrong the same way): a 16 MiB guest page missing from a host of 4 KiB pages
 * is one violation of 4096 pages, not 4096 violations.
 */
export function checkShadow(host: VfioHost): CheckResult {
  const violations: Violation[] = [];
  const gpa = (hva: bigint) => hex(host.gpaOf(hva) ?? hva);
  for (const c of host.containers) {
    const { expected, notRam } = guestMappings(c);
    const actual = new Map(c.kernel.entries().map((e) => [e.iova, e]));
    const pages: ShadowRun[] = [];
    for (const [iova, want] of expected) {
      const got = actual.get(iova);
      const w = { hva: want.hva, perm: want.perm };
      if (!got) pages.push({ kind: "missing", iova, size: want.pageSize, pages: 1, want: w });
      else if (got.hva !== want.hva || got.perm !== want.perm) {
        const widened = got.hva === want.hva && want.perm === "w" && got.perm === "rw";
        pages.push({
          kind: "differs",
          iova,
          size: want.pageSize,
          pages: 1,
          want: w,
          got: { hva: got.hva, perm: got.perm },
          ...(widened ? { bug: QEMU_BUGS.writeOnlyTceMappedReadWrite } : {}),
        });
      }
    }
    for (const [iova, got] of actual) {
      if (!expected.has(iova))
        pages.push({
          kind: "extra",
          iova,
          size: got.pageSize,
          pages: 1,
          got: { hva: got.hva, perm: got.perm },
          ...(notRam.has(iova) ? { bug: QEMU_BUGS.staleMappingAfterNonRamTce } : {}),
        });
    }
    const runs: ShadowRun[] = [];
    for (const p of pages) {
      const last = runs[runs.length - 1];
      if (continues(last, p)) {
        last.size += p.size;
        last.pages++;
      } else runs.push({ ...p });
    }
    for (const r of runs) {
      const span =
        r.pages === 1 ? hex(r.iova) : `${hex(r.iova)} +${hex(r.size)} (${r.pages} pages)`;
      const expectedText = r.want && `gpa ${gpa(r.want.hva)} (${r.want.perm})`;
      const actualText = r.got && `gpa ${gpa(r.got.hva)} (${r.got.perm})`;
      const text =
        r.kind === "missing"
          ? `guest maps bus ${span} -> ${expectedText}; host has nothing there`
          : r.kind === "differs"
            ? `bus ${span}: guest -> ${expectedText}, host -> ${actualText}`
            : `host maps bus ${span} -> ${actualText}; the guest does not`;
      const message = r.bug ? attributed(text, r.bug) : text;
      violations.push({
        check: "shadow",
        kind: r.kind,
        bus: hex(r.iova),
        size: hex(r.size),
        pages: r.pages,
        ...(expectedText ? { expected: expectedText } : {}),
        ...(actualText ? { actual: actualText } : {}),
        ...(r.bug ? { qemuBug: r.bug.id } : {}),
        message,
      });
    }
  }
  return verdict("shadow", violations);
}

/** Where a container's entries leave guest RAM (`inRam`) or every host window. */
function isolationViolations(
  kernel: HostIommu,
  inRam: (hva: bigint) => boolean,
  where: string,
  violations: Violation[],
): void {
  const windows = kernel.windows();
  for (const e of kernel.entries()) {
    if (!inRam(e.hva) || !inRam(e.hva + e.pageSize - 1n)) {
      violations.push({
        check: "isolation",
        kind: "outside-ram",
        bus: hex(e.iova),
        expected: "a host address inside guest RAM",
        actual: `hva ${hex(e.hva)}`,
        message: `${where}host maps bus ${hex(e.iova)} to ${hex(e.hva)}, outside guest RAM`,
      });
    }
    if (!windows.some((w) => e.iova >= w.start && e.iova + e.pageSize <= w.start + w.size)) {
      violations.push({
        check: "isolation",
        kind: "outside-window",
        bus: hex(e.iova),
        message: `${where}host maps bus ${hex(e.iova)} outside every host window`,
      });
    }
  }
}

/** How many of a check's violations no known QEMU 7.2 bug explains: iova's to answer for. */
export function unexplainedViolations(c: CheckResult): number {
  return c.total - Object.values(c.qemuBugs ?? {}).reduce((a, b) => a + b, 0);
}

/** The isolation invariant, over VFIO's containers and the raw ones. */
export function checkIsolation(host: VfioHost | undefined, raw?: RawIoctlHost): CheckResult {
  const violations: Violation[] = [];
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
  const violations: Violation[] = [];
  // Each container charged what its state implies; the process's locked_vm is their sum plus the
  // preregistered memory (shared by all containers) and what the driver never returns.
  let sum = 0n;
  for (const c of host.containers) {
    const want = c.kernel.expectedChargedPages();
    if (c.kernel.chargedPages !== want) {
      violations.push({
        check: "accounting",
        kind: "locked-pages",
        expected: `${want} pages`,
        actual: `${c.kernel.chargedPages} pages`,
        message: `container ${c.pointer}: charged ${c.kernel.chargedPages} pages, its state implies ${want}`,
      });
    }
    sum += want;
  }
  const process = host.process;
  const total = sum + process.preregisteredPages + process.leakedPages;
  if (process.lockedPages !== total) {
    violations.push({
      check: "accounting",
      kind: "locked-pages",
      expected: `${total} pages`,
      actual: `${process.lockedPages} pages`,
      message: `process: locked ${process.lockedPages} pages, its containers imply ${total}`,
    });
  }
  const limit = process.memlockLimit;
  if (limit !== undefined && process.lockedPages * process.pageSize > limit) {
    violations.push({
      check: "accounting",
      kind: "memlock-limit",
      expected: `at most ${limit} bytes`,
      actual: `${process.lockedPages * process.pageSize} bytes`,
      message: "process: locked memory above RLIMIT_MEMLOCK",
    });
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
