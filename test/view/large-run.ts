/**
 * The report of a run with a million TCEs behind an assigned device, for the page's size test, the
 * browser test and bench/view.bench.ts. Playing a million H_PUT_TCE_INDIRECT entries takes minutes,
 * so a small run (a 2^40-byte DDW of 64 KiB pages and a vfio-pci device) is played and its guest
 * window and host container are then filled as that run would have left them: `scattered` makes
 * each entry its own run on both sides (consecutive entries point at pages 128 KiB apart), the
 * worst case for the picture; otherwise the entries form one run.
 */
import { loadScenario } from "../../src/scenario/load.ts";
import type { Report } from "../../src/scenario/report.ts";
import { runScenario } from "../../src/scenario/run.ts";

const SMALL = `name: large-run
machine:
  memory: 256G
  devices:
    - { id: usb0, driver: qemu-xhci }
steps:
  - device_add: { id: hostdev0, driver: vfio-pci, host: "0001:01:00.0" }
  - rtas: ibm,create-pe-dma-window
    device: usb0
    page_shift: 16
    window_shift: 40
`;

const hex = (v: bigint) => `0x${v.toString(16)}`;

export function largeRunReport(entries: number, scattered: boolean): Report {
  const { report } = runScenario(loadScenario(SMALL, "large-run.yaml"));
  const start = 0x800000000000000n;
  const page = 0x10000n;
  const guest: NonNullable<Report["guest"]["windows"][number]["mappings"]> = [];
  const host: Report["host"]["containers"][number]["mappings"] = [];
  const runs = scattered ? entries : 1;
  const size = scattered ? page : page * BigInt(entries);
  for (let i = 0; i < runs; i++) {
    const bus = start + BigInt(i) * page;
    const gpa = BigInt(i) * page * 2n;
    guest.push({ bus: hex(bus), size: hex(size), gpa: hex(gpa), perm: "rw" });
    host.push({
      iova: hex(bus),
      size: hex(size),
      gpa: hex(gpa),
      hva: hex(0x7fff00000000n + gpa),
      perm: "rw",
    });
  }
  const windows = report.guest.windows.map((w) =>
    w.liobn === "0x80000001" ? { ...w, valid_entries: entries, mappings: guest } : w,
  );
  const containers = report.host.containers.map((c) => ({ ...c, mappings: host }));
  return {
    ...report,
    scenario: `large-run-${entries}${scattered ? "-scattered" : ""}`,
    guest: { windows },
    host: { ...report.host, containers },
  };
}
