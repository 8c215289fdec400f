/**
 * Scenarios on q35: the machine and its devices from `machine:` (QEMU's property names, the
 * machine types' compat defaults), what the loader refuses for the wrong machine, the q35 step
 * kinds (sized CPU accesses, qtest lines, the guest intel-iommu driver's `vtd` steps), QEMU's
 * startup refusals, and the invariants and the report covering VT-d.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Q35Machine } from "../../src/machine/q35.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { ScenarioError } from "../../src/scenario/reader.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { CAP, ECAP } from "../../src/vtd/constants.ts";

function run(yaml: string) {
  return runScenario(loadScenario(yaml, "q35.yaml"));
}
function q35(yaml: string): Q35Machine {
  const { machine } = run(yaml);
  assert.ok(machine instanceof Q35Machine);
  return machine;
}
function loadError(yaml: string): string {
  try {
    loadScenario(yaml, "q35.yaml");
  } catch (e) {
    if (e instanceof ScenarioError) return e.message;
    throw e;
  }
  assert.fail("the scenario loaded");
}

const CM_NIC = `
machine:
  type: q35
  memory: 256M
  devices:
    - { driver: intel-iommu, caching-mode: true }
    - { driver: vfio-pci, id: nic, slot: 3, host: "0000:01:00.0" }
`;

test("intel-iommu's properties are read by their QEMU names: aw-bits 48 and caching mode", () => {
  const m = q35(`name: t
machine:
  type: q35
  memory: 256M
  devices:
    - { driver: intel-iommu, caching-mode: true, aw-bits: 48 }
    - { driver: edu, id: dev0, dma_mask: 0xffffffff }
`);
  assert.equal(m.intelIommu?.awBits, 48);
  assert.equal(m.intelIommu?.cachingMode, true);
  assert.equal(m.intelIommu!.cap & CAP.sagaw48, CAP.sagaw48);
  assert.ok(m.devices.has("dev0"));
});

test("pc-q35-3.1 has intel-iommu's dma-drain off and pc-q35-2.9 also pt, as QEMU's compat properties say", () => {
  const cap = (type: string) => {
    const m = q35(
      `name: t\nmachine: { type: ${type}, memory: 128M, devices: [{ driver: intel-iommu }] }\n`,
    );
    return {
      drain: (m.intelIommu!.cap & CAP.drain) !== 0n,
      pt: (m.intelIommu!.ecap & ECAP.pt) !== 0n,
    };
  };
  assert.deepEqual(cap("q35"), { drain: true, pt: true });
  assert.deepEqual(cap("pc-q35-4.0"), { drain: true, pt: true });
  assert.deepEqual(cap("pc-q35-3.1"), { drain: false, pt: true });
  assert.deepEqual(cap("pc-q35-2.10"), { drain: false, pt: true });
  assert.deepEqual(cap("pc-q35-2.9"), { drain: false, pt: false });
});

test("the loader refuses what the machine does not have, saying which machine and why", () => {
  assert.match(
    loadError("name: t\nmachine:\n  memory: 1G\n  devices:\n    - { driver: edu }\n"),
    /5:17: driver edu is not on pseries machines; expected one of: qemu-xhci, vfio-pci/,
  );
  assert.match(
    loadError(
      "name: t\nmachine:\n  type: q35\n  memory: 1G\n  devices:\n    - { driver: intel-iommu, dma_mask: 1 }\n",
    ),
    /'dma_mask' is a property of edu, not of intel-iommu/,
  );
  assert.match(
    loadError("name: t\nmachine:\n  type: q35\n  memory: 1G\n  phbs: [{ index: 1 }]\n"),
    /'phbs' is for pseries machines, not q35/,
  );
  assert.match(
    loadError(`name: t${CM_NIC}host: { iommu: spapr-tce-v2 }\n`),
    /a q35 machine's host IOMMU is type1 or iommufd; got 'spapr-tce-v2'/,
  );
  assert.match(
    loadError(`name: t${CM_NIC}steps:\n  - hcall: H_GET_TCE\n    args: { liobn: 0, ioba: 0 }\n`),
    /a hcall step is for pseries machines, not q35/,
  );
  assert.match(
    loadError("name: t\nmachine: { memory: 1G }\nsteps:\n  - qtest: readl 0x0\n"),
    /a qtest step is for q35 machines, not pseries/,
  );
  assert.match(
    loadError(`name: t${CM_NIC}steps:\n  - vtd: { device: nic, attach: nobody }\n`),
    /unknown device id 'nobody'/,
  );
  assert.match(
    loadError(`name: t${CM_NIC}steps:\n  - cpu: { write: 0x1000, value: 0x1ff, size: 1 }\n`),
    /value does not fit in 1 bytes/,
  );
});

test("QEMU's startup refusals are the run's error, with QEMU's words", () => {
  const aw = run(
    "name: t\nmachine: { type: q35, memory: 128M, devices: [{ driver: intel-iommu, aw-bits: 40 }] }\n",
  );
  assert.equal(
    aw.report.error,
    "qemu-system-x86_64: -device intel-iommu,aw-bits=40: Supported values for aw-bits are: 39, 48",
  );
  assert.equal(aw.report.ok, false);
  const cm = run(
    'name: t\nmachine: { type: q35, memory: 128M, devices: [{ driver: intel-iommu }, { driver: vfio-pci, host: "0000:01:00.0" }] }\n',
  );
  assert.equal(
    cm.report.error,
    "qemu-system-x86_64: We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.",
  );
  // A realize error names the -device it is about.
  const slot = run(
    "name: t\nmachine: { type: q35, memory: 128M, devices: [{ driver: edu, slot: 2 }, { driver: e1000, slot: 2 }] }\n",
  );
  assert.equal(
    slot.report.error,
    "qemu-system-x86_64: -device e1000,addr=2: PCI: slot 2 function 0 not available for e1000, in use by edu",
  );
});

test("a sized CPU store is in the guest's byte order: little-endian on q35, big-endian on pseries", () => {
  const steps =
    "steps:\n  - cpu: { write: 0x1000, value: 0x11223344, size: 4 }\n  - cpu: { read: 0x1000, length: 4 }\n  - cpu: { read: 0x1000, size: 2 }\n";
  const x86 = run(`name: t\nmachine: { type: q35, memory: 128M }\n${steps}`).report;
  assert.equal(x86.steps[1].result.data, "44332211");
  assert.equal(x86.steps[2].result.value, "0x3344");
  const power = run(`name: t\nmachine: { memory: 1G }\n${steps}`).report;
  assert.equal(power.steps[1].result.data, "11223344");
  assert.equal(power.steps[2].result.value, "0x1122");
});

test("a qtest step fails at the first reply that differs, naming the line and both replies", () => {
  const r = run(`name: t
machine: { type: q35, memory: 128M, devices: [{ driver: intel-iommu }] }
steps:
  - qtest: |
      readl 0xfed90000\tOK 0x0000000000000010
      readl 0xfed9001c\tOK 0x0000000000000001
      readl 0xfed90000\tOK 0x0000000000000010
`).report;
  const s = r.steps[0];
  assert.equal(s.outcome, "failed");
  assert.deepEqual((s.result.replies as string[]).length, 2);
  assert.match(
    s.expectation_failures![0].message,
    /qtest line 2: 'readl 0xfed9001c' answered 'OK 0x0000000000000000', expected 'OK 0x0000000000000001'/,
  );
});

test("a qtest line QEMU would assert on ends the machine: the step says QEMU aborts", () => {
  const r = run(
    "name: t\nmachine: { type: q35, memory: 128M }\nsteps:\n  - qtest: writel 0x1000 zz\n  - cpu: { read: 0x1000, size: 4 }\n",
  ).report;
  assert.equal(r.steps[0].qemu_aborts, true);
  assert.match(r.steps[0].error ?? "", /qtest: assertion failed/);
});

test("vtd map: Linux's context entry and invalidations; with caching mode a PSI of the rounded range", () => {
  const { report, machine } = run(`name: t${CM_NIC}steps:
  - vtd: { device: nic, map: { iova: 0x100000, gpa: 0x200000, size: 12K, perm: rw } }
  - vtd: { device: nic, unmap: { iova: 0x101000, size: 4K } }
  - vtd: { device: nic, map: { iova: 0x40000000, gpa: 0x0, size: 2G, perm: r } }
`);
  assert.deepEqual(report.steps[0].result.invalidations, [
    "context device sid=00:03.0",
    "iotlb domain did=1",
    "wait",
    "iotlb page did=1 addr=0x100000 am=2",
    "wait",
  ]);
  assert.deepEqual(report.steps[1].result.invalidations, [
    "iotlb page did=1 addr=0x101000 am=0",
    "wait",
  ]);
  // 2^19 pages exceed the MAMV (18): domain-selective instead.
  assert.deepEqual(report.steps[2].result.invalidations, ["iotlb domain did=1", "wait"]);
  const m = machine as Q35Machine;
  // The context entry: present, multi-level; 3 levels (AW 1) for 39 bits, domain 1.
  const vas = m.intelIommu!.addressSpaceOf(0, 0x18);
  const leaves: string[] = [];
  m.intelIommu!.mappingsOf(vas, (e) =>
    leaves.push(
      `${e.iova.toString(16)}+${(e.addrMask + 1n).toString(16)}->${e.translatedAddr.toString(16)}/${e.perm}`,
    ),
  );
  // 4 KiB leaves where nothing else fits, 1 GiB superpages for the aligned 2 GiB.
  assert.deepEqual(leaves, [
    "100000+1000->200000/3",
    "102000+1000->202000/3",
    "40000000+40000000->0/1",
    "80000000+40000000->40000000/1",
  ]);
});

test("vtd map without caching mode issues no invalidation; unmap always does", () => {
  const { report } = run(`name: t
machine: { type: q35, memory: 128M, devices: [{ driver: intel-iommu }, { driver: edu, id: dev0 }] }
steps:
  - vtd: { device: dev0, map: { iova: 0x100000, gpa: 0x200000, size: 4K, perm: w } }
  - vtd: { device: dev0, unmap: { iova: 0x100000, size: 4K } }
`);
  assert.deepEqual(report.steps[0].result.invalidations, []);
  assert.deepEqual(report.steps[1].result.invalidations, [
    "iotlb page did=1 addr=0x100000 am=0",
    "wait",
  ]);
});

test("without a guest IOMMU, or with translation off, the shadow check expects all RAM mirrored one to one", () => {
  for (const devices of [
    '[{ driver: vfio-pci, id: nic, host: "0000:01:00.0" }]',
    '[{ driver: intel-iommu, caching-mode: true }, { driver: vfio-pci, id: nic, host: "0000:01:00.0" }]',
  ]) {
    const r = run(
      `name: t\nmachine: { type: q35, memory: 64M, devices: ${devices} }\nsteps:\n  - check: shadow\n`,
    ).report;
    assert.equal(r.steps[0].outcome, "held", devices);
    // All 64 MiB is mapped (below the BIOS and option ROM, which VFIO maps too).
    const ram = r.host.containers[0].mappings.filter((m) => BigInt(m.iova) < 64n << 20n);
    assert.equal(
      ram.reduce((n, m) => n + BigInt(m.size), 0n),
      64n << 20n,
    );
  }
});

/** Raw tables for 00:03.0 (devfn 0x18): iova 0x100000 -> 0x200000, then translation on. */
const RAW_TABLES = `
  - cpu: { write: 0x10000, value: 0x11001, size: 8 }
  - cpu: { write: 0x11180, value: 0x12001, size: 8 }
  - cpu: { write: 0x11188, value: 0x101, size: 8 }
  - cpu: { write: 0x12000, value: 0x13003, size: 8 }
  - cpu: { write: 0x13000, value: 0x14003, size: 8 }
  - cpu: { write: 0x14800, value: 0x200003, size: 8 }
  - cpu: { write: 0xfed90020, value: 0x10000, size: 8 }
  - cpu: { write: 0xfed90018, value: 0x40000000, size: 4 }
  - cpu: { write: 0xfed90018, value: 0x80000000, size: 4 }
`;

test("the shadow check sees a page the guest mapped without invalidating, and looking changes nothing", () => {
  const r = run(`name: t${CM_NIC}steps:${RAW_TABLES}
  - check: shadow
  # A second page, written but not invalidated: the host cannot know it yet.
  - cpu: { write: 0x14808, value: 0x201003, size: 8 }
  - check: shadow
    expect: { ok: false, violations: 1 }
  # The page-selective invalidation: QEMU's walk must still see the page as new and MAP it.
  - cpu: { write: 0xfed900f0, value: 0x101000, size: 8 }
  - cpu: { write: 0xfed900f8, value: 0xb000000100000000, size: 8 }
  - check: shadow
  - dma: { device: nic, read: 0x101000, length: 1 }
    expect: { status: ok }
`).report;
  assert.deepEqual(
    r.steps.filter((s) => s.outcome !== "succeeded").map((s) => `${s.kind} ${s.outcome}`),
    ["check held", "check held", "check held", "dma held"],
  );
  assert.match(
    (r.steps[11].result.violations as { message: string }[])[0].message,
    /guest maps bus 0x101000 -> gpa 0x201000 \(rw\); host has nothing there/,
  );
});

test("the report carries VT-d's translation state, domains and mapping runs", () => {
  const { report } = run(`name: t${CM_NIC}steps:
  - vtd: { device: nic, map: { iova: 0x100000, gpa: 0x200000, size: 8K, perm: rw } }
  - vtd: { device: nic, map: { iova: 0x102000, gpa: 0x300000, size: 4K, perm: r } }
`);
  const vtd = report.guest.vtd!;
  assert.equal(vtd.translation, true);
  assert.equal(vtd.caching_mode, true);
  const nic = vtd.devices.find((d) => d.device === "nic")!;
  assert.equal(nic.bdf, "00:03.0");
  assert.equal(nic.address_space, "vtd-03.0");
  assert.equal(nic.domain, 1);
  assert.deepEqual(nic.mappings, [
    { iova: "0x100000", size: "0x2000", gpa: "0x200000", perm: "rw" },
    { iova: "0x102000", size: "0x1000", gpa: "0x300000", perm: "r" },
  ]);
  assert.deepEqual(
    report.host.containers[0].mappings.map((m) => [m.iova, m.size, m.gpa, m.perm]),
    [
      ["0x100000", "0x2000", "0x200000", "rw"],
      ["0x102000", "0x1000", "0x300000", "r"],
    ],
  );
});

test("vtd steps Linux would not make are refused before anything changes", () => {
  const { report } = run(`name: t${CM_NIC}steps:
  - vtd: { device: nic, map: { iova: 0x100000, gpa: 0x200000, size: 4K, perm: rw } }
  - vtd: { device: nic, map: { iova: 0x100000, gpa: 0x300000, size: 8K, perm: rw } }
  - vtd: { device: nic, map: { iova: 0x7ffffff000, gpa: 0x0, size: 8K, perm: rw } }
  - vtd: { device: nic, map: { iova: 0x1000001000, gpa: 0x0, size: 8G, perm: rw } }
  - check: shadow
`);
  assert.match(report.steps[1].error ?? "", /0x100000 is already mapped in domain 1/);
  assert.match(report.steps[2].error ?? "", /beyond the domain's 39-bit address width/);
  assert.match(report.steps[3].error ?? "", /takes more than 1048576 page-table entries/);
  // Nothing of the refused maps reached the tables or the host.
  assert.deepEqual(report.guest.vtd!.devices.find((d) => d.device === "nic")!.mappings, [
    { iova: "0x100000", size: "0x1000", gpa: "0x200000", perm: "rw" },
  ]);
  assert.equal(report.steps[4].outcome, "held");
});

test("unmapping part of a superpage unmaps all of it and invalidates all of it, as Linux does", () => {
  const { report } = run(`name: t${CM_NIC}steps:
  - vtd: { device: nic, map: { iova: 0x200000, gpa: 0x400000, size: 2M, perm: rw } }
  - vtd: { device: nic, unmap: { iova: 0x200000, size: 4K } }
  - vtd: { device: nic, unmap: { iova: 0x40000000, size: 1T } }
`);
  assert.deepEqual(report.steps[1].result.invalidations, [
    "iotlb page did=1 addr=0x200000 am=9",
    "wait",
  ]);
  assert.deepEqual(report.guest.vtd!.devices.find((d) => d.device === "nic")!.mappings, []);
  assert.equal(report.steps[2].error, null);
});

test("device_add of an IOMMU is refused as QEMU refuses it, and of a driver the machine lacks by the loader", () => {
  const { report } = run(`name: t${CM_NIC}steps:
  - device_add: { id: second, driver: intel-iommu }
`);
  assert.equal(report.steps[0].error, "Device 'intel-iommu' does not support hotplugging");
  assert.match(
    loadError("name: t\nmachine: { memory: 1G }\nsteps:\n  - device_add: { id: e, driver: edu }\n"),
    /driver edu is not on pseries machines/,
  );
});

test("the trace shows VT-d's MAP notifications, also of a function plugged during the run", () => {
  const events: string[] = [];
  runScenario(
    loadScenario(
      `name: t
machine: { type: q35, memory: 128M, devices: [{ driver: intel-iommu, caching-mode: true }, { driver: edu, id: dev0, slot: 2 }] }
host: { iommu: type1 }
steps:
  - vtd: { device: dev0, map: { iova: 0x100000, gpa: 0x200000, size: 4K, perm: r } }
  - device_add: { id: nic, driver: vfio-pci, slot: 3, host: "0000:01:00.0" }
  - vtd: { device: nic, attach: dev0 }
`,
      "t.yaml",
    ),
    {
      trace: (e) => {
        if (e.event === "memory_region_notify_iommu")
          events.push(`${e.step} ${e.region} ${e.type} ${e.iova}`);
      },
    },
  );
  assert.deepEqual(events, ["3 vtd-03.0-dmar MAP 0x100000"]);
});

test("edu steps drive its DMA engine; a transfer out is clamped by the 28-bit mask as QEMU 7.2 does", () => {
  const { report } = run(`name: t
machine: { type: q35, memory: 512M, devices: [{ driver: edu, id: dev0 }] }
steps:
  - edu: { device: dev0, dma_in: { from: 0x100000, count: 4 } }
    expect: { error: "BAR 0 is not mapped" }
  - qtest: |
      outl 0xcf8 0x80000810\tOK
      outl 0xcfc 0xfe000000\tOK
      outl 0xcf8 0x80000804\tOK
      outw 0xcfc 0x6\tOK
  - cpu: { write: 0x100000, data: "01020304" }
  - edu: { device: dev0, dma_in: { from: 0x100000, count: 4 } }
    expect: { data: "01020304", value: 0 }
  - edu: { device: dev0, dma_out: { to: 0x10200000, count: 4 } }
    expect: { value: 2 }
  - cpu: { read: 0x200000, length: 4 }
    expect: { data: "01020304" }
`);
  assert.deepEqual(
    report.steps.map((s) => s.outcome),
    // The qtest step asserts its recorded replies: held.
    ["held", "held", "succeeded", "held", "held", "held"],
  );
  // The clamping notice QEMU prints (recorded: test/conformance/qtest/edu-dma-no-iommu.qtest).
  assert.deepEqual(report.steps[4].result.edu_log, [
    "EDU: clamping DMA 0x0000000010200000 to 0x0000000000200000!",
  ]);
});

test("under qemu 10.0 edu's clamping notice is a guest error (edu_guest_errors), not a line on stdout", () => {
  const { report } = run(`name: t
qemu: "10.0"
machine: { type: q35, memory: 512M, devices: [{ driver: edu, id: dev0 }] }
steps:
  - qtest: |
      outl 0xcf8 0x80000810\tOK
      outl 0xcfc 0xfe000000\tOK
      outl 0xcf8 0x80000804\tOK
      outw 0xcfc 0x6\tOK
  - edu: { device: dev0, dma_out: { to: 0x10200000, count: 4 } }
    expect: { value: 2 }
`);
  assert.deepEqual(
    report.steps.map((s) => s.outcome),
    ["held", "held"],
  );
  assert.equal(report.steps[1].result.edu_log, undefined);
  // QEMU 10.0.2's text with -d guest_errors, recorded for the same clamp.
  assert.deepEqual(report.steps[1].result.edu_guest_errors, [
    "EDU: clamping DMA 0x0000000010200000 to 0x0000000000200000!",
  ]);
});
