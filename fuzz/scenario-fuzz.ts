/**
 * A fuzzer over whole scenarios: random machines (PHBs, devices, RAM, host backend, injected host
 * faults) and random sequences of guest and operator actions, valid and hostile. After every step
 * the invariants are checked, no exception may escape, and a failed step that the real system
 * applies atomically must change nothing. Scenarios are generated as YAML text, so a failing case
 * shrinks (fast-check) to a minimal scenario file that `iova run` replays.
 */
import fc from "fast-check";
import type { PseriesMachine } from "../src/machine/pseries.ts";
import type { MemorySystem } from "../src/memory/memory-system.ts";
import { formatMtree } from "../src/memory/mtree/print.ts";
import { loadScenario } from "../src/scenario/load.ts";
import type { StepReport } from "../src/scenario/report.ts";
import { pseriesOf, runScenario } from "../src/scenario/run.ts";
import type { Step } from "../src/scenario/schema.ts";
import {
  checkAccounting,
  checkIsolation,
  checkShadow,
  unexplainedViolations,
} from "../src/vfio/checks.ts";

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** A low materialised-entry limit, so that refusals are exercised without mirroring 2^20 TCEs. */
const FUZZ_ENTRY_LIMIT = 4096;

/** Values a hostile guest likes: edges, misalignments, huge numbers. */
const u64 = fc.oneof(
  fc.constantFrom(
    0n,
    1n,
    0xfffn,
    0x1000n,
    0x1fffn,
    0x10000n,
    0x40000000n,
    1n << 59n,
    (1n << 59n) + 0x1000000n,
    (1n << 64n) - 1n,
    1n << 63n,
  ),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.bigInt({ min: 0n, max: 1n << 34n }),
);
const liobn = fc.constantFrom(
  0x80000000n,
  0x80000001n,
  0x80000100n,
  0x80000101n,
  0x80000002n,
  0x180000000n,
  0n,
);
/** TCEs: into RAM (mostly), into MMIO, past RAM, with every permission. */
const tce = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 0x3ffff }), fc.integer({ min: 0, max: 3 }))
    .map(([page, perm]) => (BigInt(page) << 12n) | BigInt(perm)),
  fc.constantFrom(0x200080000003n, 0x40000000003n, 0x7fffffff0003n, 0n, 3n),
  u64,
);
const ioba = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0x3ffff }).map((p) => BigInt(p) << 12n) },
  {
    weight: 3,
    arbitrary: fc.integer({ min: 0, max: 0xff }).map((p) => (1n << 59n) + (BigInt(p) << 24n)),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 0xffff }).map((p) => (1n << 59n) + (BigInt(p) << 16n)),
  },
  { weight: 1, arbitrary: u64 },
);
/** Mostly valid LIOBNs of PHB 0. */
const liobn0 = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0x80000000n, 0x80000001n) },
  { weight: 1, arbitrary: liobn },
);

const devices = ["usb0", "usb1", "hd0", "hd1"] as const;

/** One step as YAML lines. */
const stepArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(liobn0, ioba, tce)
      .map(
        ([l, i, t]) =>
          `  - hcall: H_PUT_TCE\n    args: { liobn: ${hex(l)}, ioba: ${hex(i)}, tce: ${hex(t)} }`,
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(liobn, ioba)
      .map(([l, i]) => `  - hcall: H_GET_TCE\n    args: { liobn: ${hex(l)}, ioba: ${hex(i)} }`),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        liobn0,
        // Window starts often, so that long fills land in a window.
        fc.oneof(ioba, fc.constantFrom(0n, 1n << 59n)),
        tce,
        // Mostly short; sometimes past the fuzzer's materialised-entry limit, or a whole window
        // (the default one has 2^18 entries; 2^31 fits only a huge DDW).
        fc.oneof(
          { weight: 6, arbitrary: fc.integer({ min: 0, max: 600 }) },
          { weight: 2, arbitrary: fc.constantFrom(FUZZ_ENTRY_LIMIT + 1, 2 ** 18, 2 ** 31) },
        ),
      )
      .map(
        ([l, i, t, n]) =>
          `  - hcall: H_STUFF_TCE\n    args: { liobn: ${hex(l)}, ioba: ${hex(i)}, tce_value: ${hex(t)}, npages: ${n} }`,
      ),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(liobn0, ioba, fc.array(tce, { maxLength: 20 }))
      .map(
        ([l, i, ts]) =>
          `  - hcall: H_PUT_TCE_INDIRECT\n    args: { liobn: ${hex(l)}, ioba: ${hex(i)}, tces: [${ts.map(hex).join(", ")}] }`,
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        liobn,
        ioba,
        fc.constantFrom(0x1000000n, 0x1000008n, 0x200080000000n, 1n << 40n),
        fc.integer({ min: 0, max: 600 }),
      )
      .map(
        ([l, i, list, n]) =>
          `  - hcall: H_PUT_TCE_INDIRECT\n    args: { liobn: ${hex(l)}, ioba: ${hex(i)}, tce_list: ${hex(list)}, npages: ${n} }`,
      ),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.constantFrom(0, 0, 0, 1),
        fc.constantFrom(12, 16, 16, 21, 24, 24, 13, 34, 63, 70),
        fc.oneof(fc.integer({ min: 28, max: 34 }), fc.integer({ min: 10, max: 64 })),
      )
      .map(
        ([phb, ps, ws]) =>
          `  - rtas: ibm,create-pe-dma-window\n    phb: ${phb}\n    page_shift: ${ps}\n    window_shift: ${ws}`,
      ),
  },
  {
    weight: 2,
    arbitrary: liobn.map(
      (l) => `  - rtas: ibm,remove-pe-dma-window\n    liobn: ${hex(l & 0xffffffffn)}`,
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(0, 1)
      .map((phb) => `  - rtas: ibm,reset-pe-dma-window\n    phb: ${phb}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(0, 1)
      .map((phb) => `  - rtas: ibm,query-pe-dma-window\n    phb: ${phb}\n    nret: 6`),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 7 })
      .chain((args) =>
        fc.tuple(
          fc.constant(args),
          fc.constantFrom(
            "ibm,create-pe-dma-window",
            "ibm,query-pe-dma-window",
            "ibm,write-pci-config",
            "ibm,read-pci-config",
          ),
          fc.integer({ min: 0, max: 7 }),
        ),
      )
      .map(
        ([args, name, nret]) =>
          `  - rtas: ${name}\n    args: [${args.map(hex).join(", ")}]\n    nret: ${nret}`,
      ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...devices), fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 31 }))
      .map(([id, bus, slot]) =>
        id.startsWith("usb")
          ? `  - device_add: { id: ${id}, driver: qemu-xhci, bus: ${bus}, slot: ${slot} }`
          : `  - device_add: { id: ${id}, driver: vfio-pci, host: "0001:0${id.at(-1)}:00.0", bus: ${bus}, slot: ${slot} }`,
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...devices).map((id) => `  - device_del: { id: ${id} }`),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom(...devices), ioba, fc.boolean(), fc.integer({ min: 1, max: 96 }))
      .map(([id, addr, write, len]) =>
        write
          ? `  - dma: { device: ${id}, write: ${hex(addr)}, data: "${"a5".repeat(len)}" }`
          : `  - dma: { device: ${id}, read: ${hex(addr)}, length: ${len} }`,
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom("usb0", "usb1")
      .map(
        (id) =>
          `  - rtas: ibm,write-pci-config\n    device: ${id}\n    reg: 0x04\n    size: 2\n    value: 0x6`,
      ),
  },
);

const faultArb = fc.record({
  ioctl: fc.constantFrom(
    "MAP_DMA",
    "UNMAP_DMA",
    "TCE_CREATE",
    "TCE_REMOVE",
    "REGISTER_MEMORY",
    "GET_INFO",
    "SET_IOMMU",
  ),
  errno: fc.constantFrom("EINVAL", "ENOMEM", "ENOSPC", "EBUSY", "EPERM", "ENXIO"),
  from: fc.integer({ min: 1, max: 30 }),
  once: fc.boolean(),
});

/** A whole scenario as YAML text. */
export const scenarioArb: fc.Arbitrary<string> = fc
  .record({
    memory: fc.constantFrom("256M", "1G", "4G", "0xff800000"),
    phb1: fc.boolean(),
    phb1Ddw: fc.boolean(),
    phb2: fc.boolean(),
    backend: fc.constantFrom("spapr-tce-v2", "spapr-tce-v2", "spapr-tce", "type1"),
    // type1's IOMMU page sizes: the usual, one too large for 4 KiB TCEs, or none at all.
    pgsizes: fc.constantFrom("[4K, 2M, 1G]", "[4K, 2M, 1G]", "[64K]", "[]"),
    ddwHost: fc.boolean(),
    memlock: fc.option(fc.constantFrom("64M", "4G"), { nil: undefined }),
    faults: fc.array(faultArb, { maxLength: 2 }),
    usbAtBoot: fc.boolean(),
    hdAtBoot: fc.boolean(),
    steps: fc.array(stepArb, { maxLength: 14 }),
  })
  .map((m) => {
    const lines = ["name: fuzz", "machine:", `  memory: ${m.memory}`];
    if (m.phb1)
      lines.push("  phbs:", "    - { index: 0 }", `    - { index: 1, ddw: ${m.phb1Ddw} }`);
    const boot = [
      ...(m.usbAtBoot ? ["    - { id: usb0, driver: qemu-xhci }"] : []),
      ...(m.hdAtBoot ? ['    - { id: hd0, driver: vfio-pci, host: "0001:00:00.0" }'] : []),
    ];
    if (boot.length) lines.push("  devices:", ...boot);
    const isType1 = m.backend === "type1";
    lines.push(
      "host:",
      `  iommu: ${m.backend}`,
      ...(isType1 ? ["  page_size: 4K", `  pgsizes: ${m.pgsizes}`] : []),
      `  ddw: ${m.backend === "spapr-tce" ? false : m.ddwHost || m.backend !== "spapr-tce-v2"}`,
      ...(m.memlock ? [`  memlock_limit: ${m.memlock}`] : []),
    );
    if (m.faults.length) {
      lines.push(
        "  faults:",
        ...m.faults.map(
          (f) => `    - { ioctl: ${f.ioctl}, errno: ${f.errno}, from: ${f.from}, once: ${f.once} }`,
        ),
      );
    }
    // Keep only steps that name devices as the loader allows (plugged, not plugged twice).
    const live = new Set<string>([
      ...(m.usbAtBoot ? ["usb0"] : []),
      ...(m.hdAtBoot ? ["hd0"] : []),
    ]);
    const steps = m.steps.filter((s) => {
      const add = /device_add: \{ id: (\w+)/.exec(s)?.[1];
      const del = /device_del: \{ id: (\w+)/.exec(s)?.[1];
      const use = /device: (\w+)/.exec(s)?.[1];
      if (add) {
        if (live.has(add)) return false;
        live.add(add);
        return true;
      }
      if (del) return live.delete(del);
      return use === undefined || live.has(use);
    });
    if (steps.length) lines.push("steps:", ...steps);
    return `${lines.join("\n")}\n`;
  });

/** The last `info mtree -D` text printed for a memory system, with the stamp it was printed at. */
const lastMtree = new WeakMap<MemorySystem, { readonly stamp: number; readonly text: string }>();

/**
 * `info mtree -D` of `memory`. An unchanged `changeStamp` proves the text is the same (every
 * mutation of what the tree prints moves it on), so the last text is reused; after any change it
 * is printed again and compared in full.
 */
function mtreeText(memory: MemorySystem): string {
  const stamp = memory.changeStamp;
  const last = lastMtree.get(memory);
  if (last?.stamp === stamp) return last.text;
  const text = formatMtree(memory, { disabled: true });
  lastMtree.set(memory, { stamp, text });
  return text;
}

/** What a step may change, to compare before and after a failed atomic step. */
function snapshot(machine: PseriesMachine): string {
  const tables = machine.tables.map(
    (t) =>
      `${t.liobn}:${t.nbTable}:${t.busOffset}:${t
        .entryRuns()
        .map((e) => `${e.index}+${e.count}=${e.tce}`)
        .join(",")}`,
  );
  const host = (machine.vfio?.containers ?? []).map((c) =>
    c.kernel
      .entries()
      .map((e) => `${e.iova}>${e.hva}${e.perm}`)
      .join(","),
  );
  return [
    mtreeText(machine.memory),
    ...tables,
    ...host,
    [...machine.devices.keys()].join(","),
  ].join("\n");
}

/** The step kinds atomicFailure may hold for. */
const CAN_FAIL_ATOMICALLY: ReadonlySet<Step["kind"]> = new Set([
  "hcall",
  "rtas",
  "device_add",
  "device_del",
]);

/** Whether the real system applies this failed step atomically (so nothing may change). */
function atomicFailure(step: Step, report: StepReport): boolean {
  const r = report.result;
  if (report.qemu_aborts || !CAN_FAIL_ATOMICALLY.has(step.kind)) return false;
  // A step past the materialised-entry limit is refused before anything changes.
  if (report.error?.includes("materialised-entry limit")) return true;
  if (step.kind === "hcall")
    return r.ret === "H_PARAMETER" && (r.written === undefined || r.written === 0);
  if (step.kind === "rtas") {
    const rets = r.rets as string[] | undefined;
    if (!rets?.length || rets[0] === "0x0") return false;
    // A create whose entry count truncates to 0 leaves an empty region mapped, in QEMU too.
    const f = step.friendly;
    const args = step.args?.map(Number);
    const ps = f?.pageShift ?? args?.[3] ?? 0;
    const ws = f?.windowShift ?? args?.[4] ?? 0;
    return !(step.name === "ibm,create-pe-dma-window" && ws - ps >= 32);
  }
  if (step.kind === "device_add" || step.kind === "device_del") return report.error !== null;
  return false;
}

/** Runs one generated scenario; throws with a message naming the broken property. */
export function checkScenario(yaml: string): void {
  const scenario = loadScenario(yaml, "fuzz.yaml");
  let dead = false;
  let hostTrouble = false;
  let before = "";
  // The state after a step that changed nothing is the state before the next one.
  let unchanged: string | null = null;
  runScenario(scenario, {
    materialisedEntryLimit: FUZZ_ENTRY_LIMIT,
    beforeStep: (_i, step, machine) => {
      // Only these steps can fail atomically (atomicFailure): the others need no snapshot.
      before =
        dead || !CAN_FAIL_ATOMICALLY.has(step.kind)
          ? ""
          : (unchanged ?? snapshot(pseriesOf(machine)));
      unchanged = null;
    },
    afterStep: (i, report, machine) => {
      if (dead) return;
      const step = scenario.steps[i];
      if (report.qemu_aborts) {
        // Real QEMU is gone: nothing after this step is meaningful.
        dead = true;
        return;
      }
      // Errors that leave QEMU's host mappings incomplete (QEMU logs them and carries on); a TCE
      // that points outside RAM is logged too but is expected to stay unmapped.
      const log = (report.result.qemu_log as string[] | undefined) ?? [];
      if (log.some((l) => !/non memory area|granularity incompatible/.test(l))) hostTrouble = true;
      if (atomicFailure(step, report)) {
        const after = snapshot(pseriesOf(machine));
        unchanged = after;
        if (after !== before)
          throw new Error(
            `step ${i + 1} (${step.kind} ${report.name}) failed but changed the state`,
          );
      }
      const vfio = machine.vfio;
      if (!vfio) return;
      for (const c of [checkIsolation(vfio), checkAccounting(vfio)]) {
        if (!c.ok) throw new Error(`after step ${i + 1}: ${c.name}: ${c.violations[0]?.message}`);
      }
      // Shadow holds as long as QEMU met no host error: after one, QEMU itself leaves mappings
      // missing. Even then, on a sPAPR host with no injected faults, nothing may be mapped that
      // the guest does not map (type1 keeps a stale mapping after EEXIST, as QEMU does).
      if (vfio.platform.faults.length) return;
      // A window QEMU did not mirror (smaller than a host page, or refused) leaves the shadow
      // incomplete without any error message.
      for (const c of vfio.containers) {
        for (const fr of c.dmaAs.view.ranges) {
          if (fr.mr.isIommu && !c.giommus.some((g) => g.mr === fr.mr)) hostTrouble = true;
        }
      }
      // Violations a known QEMU 7.2 bug explains are QEMU's, reproduced on purpose: not findings.
      const shadow = checkShadow(vfio);
      const own = shadow.violations.filter((v) => v.qemuBug === undefined);
      const wrong = own.filter((v) => v.kind !== "missing");
      if (!hostTrouble && unexplainedViolations(shadow) > 0)
        throw new Error(
          `after step ${i + 1}: shadow: ${(own[0] ?? shadow.violations[0])?.message}`,
        );
      if (vfio.backend !== "type1" && wrong.length)
        throw new Error(`after step ${i + 1}: shadow: ${wrong[0].message}`);
    },
  });
}
