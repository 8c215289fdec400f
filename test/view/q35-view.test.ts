/**
 * q35's guest IOMMUs on the report page, as sPAPR's windows are: the report lists VT-d's and
 * virtio-iommu's mappings per device or domain; the view draws each as a lane of bus → guest
 * physical runs beside the host container of the assigned device, classified the same way
 * (agreeing, missing, extra) and explained in the same words; the steps say how the guest's
 * mappings changed; the text report lists virtio-iommu's domains as it lists VT-d's.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { formatTail } from "../../src/cli/text-report.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { type Report, ReportSchema } from "../../src/scenario/report.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { renderReportHtml } from "../../src/view/html.ts";
import { type ReportView, reportView } from "../../src/view/model.ts";

const example = (name: string) => {
  const file = join(import.meta.dirname, "../../examples", name);
  return runScenario(loadScenario(readFileSync(file, "utf8"), file)).report;
};
const finalSpaces = (v: ReportView) => v.frames[v.frames.length - 1].spaces;
const bars = (v: ReportView, role: string) =>
  finalSpaces(v)[0]
    .lanes.find((l) => l.role === role)!
    .bars.map((b) => [b.s, b.z, b.t, b.p, b.k]);

test("x01: the NIC's VT-d mapping is a lane beside the host's, agreeing, with no TCE or LIOBN", () => {
  const report = example("x01-q35-vtd-map.yaml");
  const v = reportView(report);
  assert.equal(finalSpaces(v).length, 1, "one space: the NIC's (the unnamed functions have none)");
  const space = finalSpaces(v)[0];
  assert.match(space.title, /^VT-d 00:03\.0 \(vtd-03\.0\) — assigned: nic$/);
  assert.deepEqual(
    space.lanes.map((l) => [l.role, l.title]),
    [
      ["guest-map", "VT-d domain 1 (device nic), bus → guest physical"],
      ["host-map", "host IOMMU mappings, bus → guest physical (type1: nic)"],
      ["host-window", "host IOMMU windows"],
    ],
  );
  // The scenario maps 8 KiB at 0x100000 → 0x200000, then unmaps the first 4 KiB.
  const left = [["0x101000", "0x1000", "0x201000", "rw", "ok"]];
  assert.deepEqual(bars(v, "guest-map"), left);
  assert.deepEqual(bars(v, "host-map"), left);
  assert.deepEqual(
    bars(v, "host-window").map((b) => b[4]),
    ["ok"],
    "a q35 guest has no windows to mirror",
  );
  assert.deepEqual(v.findings, []);
  assert.doesNotMatch(JSON.stringify(finalSpaces(v)), /TCE|LIOBN|PHB/);
  assert.match(renderReportHtml(report), /Guest and host agree at every bus address/);
});

test("x20: virtio-iommu's domain is in the report and drawn beside the host's, agreeing", () => {
  const report = example("x20-q35-virtio-iommu-assigned.yaml");
  ReportSchema.parse(report);
  // What the scenario leaves mapped: the 16 KiB read-only MAP (the overlapping MAP was refused,
  // the split UNMAP too, and the 4 KiB one was unmapped).
  assert.deepEqual(report.guest.virtio_iommu, {
    bypass: true,
    granule: "0x1000",
    domains: [
      {
        domain: 1,
        bypass: false,
        endpoints: [{ device: "nic", bdf: "00:03.0" }],
        mappings: [{ iova: "0x10000", size: "0x4000", gpa: "0x300000", perm: "r" }],
      },
    ],
  });
  const v = reportView(report);
  assert.equal(finalSpaces(v)[0].title, "virtio-iommu domain 1 — assigned: nic");
  const runs = [["0x10000", "0x4000", "0x300000", "r", "ok"]];
  assert.deepEqual(bars(v, "guest-map"), runs);
  assert.deepEqual(bars(v, "host-map"), runs);
  assert.equal(
    finalSpaces(v)[0].lanes[0].title,
    "virtio-iommu domain 1 (device nic), bus → guest physical",
  );
  assert.deepEqual(v.findings, []);
});

test("v3: the 4 KiB MAP the host refused is missing on the host, said in words with the refusal", () => {
  const v = reportView(example("v3-virtio-iommu-map-finer-than-host-page.yaml"));
  assert.deepEqual(bars(v, "guest-map"), [
    ["0x1000", "0x1000", "0x200000", "rw", "missing"],
    ["0x10000", "0x10000", "0x200000", "rw", "ok"],
  ]);
  assert.deepEqual(bars(v, "host-map"), [["0x10000", "0x10000", "0x200000", "rw", "ok"]]);
  assert.equal(v.findings.length, 1);
  const f = v.findings[0];
  assert.equal(f.bus, "0x1000");
  assert.match(f.text, /^the guest maps bus 0x1000 to guest physical 0x200000 \(rw\)/);
  assert.match(f.text, /the host has nothing there/);
  assert.match(f.text, /the host refused QEMU's MAP_DMA\(iova=0x1000, size=0x1000, .*-EINVAL/);
  // The guest maps that page at 0x10000 itself: the host's mapping there is not a misplaced copy.
  assert.doesNotMatch(f.text, /instead/);
});

test("a host mapping the guest's VT-d tables no longer hold is extra: a stale mapping", () => {
  const report = example("x01-q35-vtd-map.yaml");
  const stale: Report = structuredClone(report);
  for (const d of stale.guest.vtd!.devices) d.mappings = [];
  const v = reportView(stale);
  assert.deepEqual(bars(v, "guest-map"), []);
  assert.deepEqual(bars(v, "host-map"), [["0x101000", "0x1000", "0x201000", "rw", "extra"]]);
  assert.match(
    v.findings[0].text,
    /^the host maps bus 0x101000 to guest physical 0x201000 \(rw\); the guest maps nothing at bus 0x101000 \(a stale mapping\)\.$/,
  );
});

test("a domain in bypass is drawn untranslated: the host's identity mappings are not findings", () => {
  const report = example("x20-q35-virtio-iommu-assigned.yaml");
  const bypassed: Report = structuredClone(report);
  const dom = bypassed.guest.virtio_iommu!.domains[0];
  dom.bypass = true;
  dom.mappings = [];
  const v = reportView(bypassed);
  assert.match(finalSpaces(v)[0].lanes[0].title, /bypass, its DMA reaches guest physical as is/);
  assert.deepEqual(
    bars(v, "host-map").map((b) => b[4]),
    ["ok"],
  );
  assert.deepEqual(v.findings, []);
});

test("the steps say how the guest's VT-d mappings changed", () => {
  const report = example("x01-q35-vtd-map.yaml");
  const empty: Report = structuredClone(report);
  for (const d of empty.guest.vtd!.devices) d.mappings = [];
  const v = reportView(report, {
    timeline: [
      { label: "after step 1", state: empty },
      { label: "after step 2", state: report },
    ],
  });
  assert.match(v.steps[1].changes.join("\n"), /guest VT-d mappings grew by 4 KiB/);
});

test("the text report lists virtio-iommu's domain, its endpoint and its mapping", () => {
  const text = formatTail(example("x20-q35-virtio-iommu-assigned.yaml"), undefined, {
    mtree: false,
  });
  assert.match(
    text,
    /^ {2}virtio-iommu: bypass for endpoints in no domain, 4 KiB granule, 1 domain$/m,
  );
  assert.match(text, /^ {2}domain 1: nic \(00:03\.0\), 1 mapping$/m);
  assert.match(text, /^ {4}map 0x10000 \+0x4000 -> gpa 0x300000 r$/m);
  assert.doesNotMatch(text, /^ {2}none$/m);
});

test("an assigned endpoint in no virtio-iommu domain: its host mappings are extra unless bypassed", () => {
  const report = example("x20-q35-virtio-iommu-assigned.yaml");
  const detached: Report = structuredClone(report);
  detached.guest.virtio_iommu!.domains = [];
  const bypassed = reportView(detached);
  assert.equal(
    finalSpaces(bypassed)[0].lanes[0].title,
    "virtio-iommu: in no domain, its DMA reaches guest physical as is",
  );
  assert.deepEqual(bypassed.findings, []);
  detached.guest.virtio_iommu!.bypass = false;
  const blocked = reportView(detached);
  assert.equal(
    finalSpaces(blocked)[0].lanes[0].title,
    "virtio-iommu: in no domain, no bypass: its DMA faults",
  );
  assert.deepEqual(bars(blocked, "host-map"), [["0x10000", "0x4000", "0x300000", "r", "extra"]]);
  assert.match(
    blocked.findings[0].text,
    /the guest maps nothing at bus 0x10000 \(a stale mapping\)/,
  );
});
