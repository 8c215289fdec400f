/**
 * QEMU 7.2's sPAPR IOMMU trace events (hw/ppc/trace-events) and what each contributes. The `_pci_`
 * variants are the same events for PCI LIOBNs (bit 31 set). Facts from QEMU's handlers that shape
 * the rebuild: a hypercall is traced after it ran (its IOMMU notifications come before its line);
 * H_PUT_TCE_INDIRECT and H_STUFF_TCE are not traced when they fail before touching an entry (no
 * table, too many pages, misaligned list); H_STUFF_TCE logs the bus address after its last entry;
 * H_PUT_TCE_INDIRECT logs only its first bus address, the index of the last entry written (or of
 * the first that failed) and the last TCE it read; DDW calls are traced only when they succeed.
 */
import { type TraceEventDef, traceEvent } from "./event-def.ts";
import { type EntryRange, type PlainStep, Rebuild } from "./rebuild.ts";

const H_NAMES: Record<string, string> = {
  "0": "H_SUCCESS",
  "-4": "H_PARAMETER",
  "-2": "H_FUNCTION",
};
const retName = (ret: bigint) => H_NAMES[ret.toString()] ?? Number(ret);
const n = (v: unknown) => v as bigint;

function log2(v: bigint): number | undefined {
  if (v <= 0n || (v & (v - 1n)) !== 0n) return undefined;
  return v.toString(2).length - 1;
}

function rtasPhbArgs(buid: bigint, addr: bigint): bigint[] {
  return [addr, buid >> 32n, buid & 0xffffffffn];
}

/** A hypercall line with a return code or count QEMU cannot print is refused, as a malformed line. */
function checked(apply: TraceEventDef["apply"]): TraceEventDef["apply"] {
  return (rec, f, into, def) => {
    const ret = n(f.ret);
    if (ret < -(1n << 31n) || ret >= 1n << 31n) into.refuse(rec, "a hypercall return code");
    if (f.npages !== undefined && n(f.npages) < 0n)
      into.refuse(rec, "npages no larger than the window (QEMU refuses more before tracing)");
    apply(rec, f, into, def);
  };
}

function hcallEvents(pci: boolean): TraceEventDef[] {
  const p = pci ? "spapr_iommu_pci_" : "spapr_iommu_";
  const whose = pci ? "a PCI LIOBN" : "a non-PCI (VIO) LIOBN";
  return [
    traceEvent(
      `${p}put`,
      "liobn=0x%lx ioba=0x%lx tce=0x%lx ret=%ld",
      ["liobn", "ioba", "tce", "ret"],
      "guest action",
      `H_PUT_TCE on ${whose}: a step writing that TCE, expecting the logged return code.`,
      checked((rec, f, into) => {
        const liobn = n(f.liobn);
        const ok = n(f.ret) === 0n;
        into.step(
          rec,
          {
            hcall: "H_PUT_TCE",
            args: { liobn, ioba: f.ioba, tce: f.tce },
            expect: { ret: retName(n(f.ret)) },
          },
          ok ? { known: [{ liobn, first: n(f.ioba), count: 1n }] } : undefined,
        );
      }),
    ),
    traceEvent(
      `${p}get`,
      "liobn=0x%lx ioba=0x%lx ret=%ld tce=0x%lx",
      ["liobn", "ioba", "ret", "tce"],
      "guest action",
      `H_GET_TCE on ${whose}: a step expecting the logged return code; the TCE read back is checked against the model's entry.`,
      checked((rec, f, into, def) => {
        into.step(rec, {
          hcall: "H_GET_TCE",
          args: { liobn: f.liobn, ioba: f.ioba },
          expect: { ret: retName(n(f.ret)) },
        });
        if (n(f.ret) === 0n) into.check(rec, def);
      }),
    ),
    traceEvent(
      `${p}stuff`,
      "liobn=0x%lx ioba=0x%lx tcevalue=0x%lx npages=%ld ret=%ld",
      ["liobn", "ioba_after", "tce_value", "npages", "ret"],
      "guest action",
      `H_STUFF_TCE on ${whose}: a step from the first bus address (the logged one, after the last entry, less npages pages).`,
      checked((rec, f, into) => stuff(rec, f, into)),
    ),
    traceEvent(
      `${p}indirect`,
      "liobn=0x%lx ioba=0x%lx tcelist=0x%lx iobaN=0x%lx tceN=0x%lx ret=%ld",
      ["liobn", "ioba", "tce_list", "last_index", "last_tce", "ret"],
      "guest action",
      `H_PUT_TCE_INDIRECT on ${whose}: a step writing the entries; only the last TCE is in the log, the others are unknown unless an assumption fills them in.`,
      checked((rec, f, into) => indirect(rec, f, into)),
    ),
  ];
}

function stuff(
  rec: Parameters<TraceEventDef["apply"]>[0],
  f: Readonly<Record<string, unknown>>,
  into: Rebuild,
): void {
  const liobn = n(f.liobn);
  const npages = n(f.npages);
  const after = n(f.ioba_after);
  const w = into.window(liobn);
  const shift = BigInt(w?.pageShift ?? 0);
  let start = after;
  let known: EntryRange[] = [];
  let unknown: EntryRange[] = [];
  if (n(f.ret) === 0n) {
    start = Rebuild.wrap(after - (npages << shift));
    known = npages > 0n ? [{ liobn, first: start, count: npages }] : [];
  } else if (w && after === Rebuild.wrap(w.start + w.size) && npages > 1n) {
    // It ran off the window's end: from where it started is not in the log.
    const earliest = after - ((npages - 1n) << shift);
    const first = earliest > w.start ? earliest : w.start;
    const count = (after - first) >> shift;
    unknown = [{ liobn, first, count }];
    into.note(
      rec.line,
      `H_STUFF_TCE ran off the end of window ${hex(liobn)} at ${hex(after)}: it wrote up to ${count} entries before it, from an address the log does not give; they are unknown`,
    );
  }
  into.step(
    rec,
    {
      hcall: "H_STUFF_TCE",
      args: { liobn, ioba: start, tce_value: f.tce_value, npages },
      expect: { ret: retName(n(f.ret)) },
    },
    { known, unknown },
  );
}

function indirect(
  rec: Parameters<TraceEventDef["apply"]>[0],
  f: Readonly<Record<string, unknown>>,
  into: Rebuild,
): void {
  const liobn = n(f.liobn);
  const w = into.window(liobn);
  const shift = BigInt(w?.pageShift ?? 12);
  const pageSize = 1n << shift;
  const ioba = n(f.ioba) & ~(pageSize - 1n);
  const last = n(f.last_index);
  // QEMU refuses more than 512 entries before tracing: a larger index is not QEMU's.
  if (last >= 512n)
    into.refuse(rec, "iobaN below 0x200 (H_PUT_TCE_INDIRECT writes at most 512 entries)");
  const lastTce = n(f.last_tce);
  const ok = n(f.ret) === 0n;
  // How many entries were written, and the index of the logged TCE.
  let written: bigint;
  let loggedAt: bigint;
  if (ok) {
    written = last + 1n;
    loggedAt = last;
  } else {
    const room = w && Rebuild.contains(w, ioba) ? (w.start + w.size - ioba) >> shift : 0n;
    if (room >= 512n) {
      // It failed, yet the window has room for every entry it may have had: the log and the
      // windows disagree. Played as failing at once, and said.
      into.note(
        rec.line,
        `H_PUT_TCE_INDIRECT at ${hex(ioba)} failed inside window ${hex(liobn)}: the log and the windows disagree`,
      );
      written = 0n;
      loggedAt = 0n;
    } else if (room === 0n) {
      written = 0n;
      loggedAt = 0n;
    } else if (last === room - 1n) {
      written = room;
      loggedAt = room;
    } else {
      // QEMU fails a call of no pages (its return code starts as H_PARAMETER): nothing written.
      into.step(rec, {
        hcall: "H_PUT_TCE_INDIRECT",
        args: { liobn, ioba: f.ioba, tces: [] },
        expect: { ret: retName(n(f.ret)) },
      });
      return;
    }
  }
  const unknownCount = ok ? written - 1n : written;
  const linear =
    into.assumption === "linear" && unknownCount > 0n && lastTce >= loggedAt * pageSize;
  const tces: bigint[] = [];
  for (let i = 0n; i < written; i++) {
    if (ok && i === last) tces.push(lastTce);
    else tces.push(linear ? lastTce - (loggedAt - i) * pageSize : 0n);
  }
  if (!ok && written < 512n) tces.push(lastTce);
  const range = { liobn, first: ioba, count: unknownCount };
  const effects = {
    known: ok ? [{ liobn, first: ioba + last * pageSize, count: 1n }] : [],
    unknown: unknownCount > 0n && !linear ? [range] : [],
    ...(linear
      ? {
          known: [{ liobn, first: ioba, count: written }],
          assumed: { assumption: "linear" as const, range },
        }
      : {}),
  };
  if (unknownCount > 0n) {
    into.note(
      rec.line,
      linear
        ? `H_PUT_TCE_INDIRECT ${hex(liobn)} at ${hex(ioba)}: ${unknownCount} entries before the logged one assumed linear (each one page below the next)`
        : `H_PUT_TCE_INDIRECT ${hex(liobn)} at ${hex(ioba)}: ${unknownCount} entries are not in the log (unknown; played as empty placeholders, and checks that need them are skipped)`,
    );
  }
  into.step(
    rec,
    {
      hcall: "H_PUT_TCE_INDIRECT",
      args: { liobn, ioba: f.ioba, tces },
      expect: { ret: retName(n(f.ret)) },
    },
    effects,
  );
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The sPAPR events. */
export const SPAPR_EVENTS: readonly TraceEventDef[] = [
  ...hcallEvents(true),
  ...hcallEvents(false),
  traceEvent(
    "spapr_iommu_xlate",
    "liobn=0x%lx 0x%lx -> 0x%lx perm=%u mask=0x%x",
    ["liobn", "addr", "translated", "perm", "mask"],
    "checked",
    "A device's DMA translated through a window (bus address relative to the window): checked against the model's TCE at that moment.",
    (rec, _f, into, def) => into.check(rec, def),
  ),
  traceEvent(
    "spapr_iommu_new_table",
    "liobn=0x%lx table=%p fd=%d",
    ["liobn", "table", "fd"],
    "context",
    "A TCE table allocated: for a default window that is already open, a system reset (unless the guest's own DMA reset follows).",
    (rec, f, into) => into.tableAllocated(rec, n(f.liobn)),
  ),
  traceEvent(
    "spapr_iommu_pre_save",
    "liobn=%lx %x bus_offset=0x%lx ps=%u",
    ["liobn", "nb_table", "bus_offset", "page_shift"],
    "context",
    "Migration (saving): noted; migration is not modelled.",
    (rec, f, into) =>
      into.note(rec.line, `migration: table ${hex(n(f.liobn))} saved (not modelled)`),
  ),
  traceEvent(
    "spapr_iommu_post_load",
    "liobn=%lx %x => 0x%x bus_offset=0x%lx ps=%u",
    ["liobn", "old_nb_table", "nb_table", "bus_offset", "page_shift"],
    "context",
    "Migration (loading): noted; migration is not modelled.",
    (rec, f, into) =>
      into.note(rec.line, `migration: table ${hex(n(f.liobn))} loaded (not modelled)`),
  ),
  traceEvent(
    "spapr_iommu_ddw_query",
    "buid=0x%lx addr=0x%x, %u windows available, max window size=0x%lx, mask=0x%x",
    ["buid", "addr", "available", "max_window_size", "mask"],
    "guest action",
    "ibm,query-pe-dma-window that succeeded: a step expecting the logged number of windows available.",
    (rec, f, into) => {
      if (n(f.available) > 2n) into.refuse(rec, "at most 2 windows available (a PHB has two)");
      into.step(rec, {
        rtas: "ibm,query-pe-dma-window",
        args: rtasPhbArgs(n(f.buid), n(f.addr)),
        expect: { status: 0, available: Number(f.available) },
      });
    },
  ),
  traceEvent(
    "spapr_iommu_ddw_create",
    "buid=0x%lx addr=0x%x, page size=0x%lx, requested=0x%lx, start addr=0x%lx, liobn=0x%x",
    ["buid", "addr", "page_size", "requested", "start", "liobn"],
    "guest action",
    "ibm,create-pe-dma-window that succeeded: a step expecting the logged LIOBN and start address; the window opens.",
    (rec, f, into) => {
      const buid = n(f.buid);
      const pageShift = log2(n(f.page_size));
      const windowShift = log2(n(f.requested));
      const phb = into.phbByBuid(buid);
      if (pageShift === undefined || windowShift === undefined || !phb) {
        into.note(
          rec.line,
          `ibm,create-pe-dma-window with ${phb ? "sizes that are not powers of two" : `BUID ${hex(buid)}, not a PHB of the command line`}: not replayed`,
        );
        return;
      }
      const liobn = n(f.liobn);
      const cleared = [liobn];
      into.openWindow({
        liobn,
        phb: phb.index,
        start: n(f.start),
        pageShift,
        size: n(f.requested),
      });
      into.step(
        rec,
        {
          rtas: "ibm,create-pe-dma-window",
          args: [...rtasPhbArgs(buid, n(f.addr)), BigInt(pageShift), BigInt(windowShift)],
          expect: { status: 0, liobn, start: f.start },
        },
        { cleared },
      );
    },
  ),
  traceEvent(
    "spapr_iommu_ddw_remove",
    "liobn=0x%x",
    ["liobn"],
    "guest action",
    "ibm,remove-pe-dma-window that succeeded: a step expecting success; the window closes (and QEMU restores the default window when the last one goes).",
    (rec, f, into) => {
      const cleared = into.closeWindow(n(f.liobn));
      into.step(
        rec,
        { rtas: "ibm,remove-pe-dma-window", args: [f.liobn], expect: { status: 0 } },
        { cleared },
      );
    },
  ),
  traceEvent(
    "spapr_iommu_ddw_reset",
    "buid=0x%lx addr=0x%x",
    ["buid", "addr"],
    "guest action",
    "ibm,reset-pe-dma-window that succeeded: a step expecting success; the PHB's windows go back to the default one.",
    (rec, f, into) => {
      const phb = into.phbByBuid(n(f.buid));
      const cleared = phb ? into.resetPhb(phb) : [];
      into.step(
        rec,
        {
          rtas: "ibm,reset-pe-dma-window",
          args: rtasPhbArgs(n(f.buid), n(f.addr)),
          expect: { status: 0 },
        },
        { cleared },
        { resetsPending: true },
      );
    },
  ),
];

export type { PlainStep };
