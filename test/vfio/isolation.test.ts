/**
 * DMA isolation: what the host IOMMU does not map, an assigned device cannot reach; the guest
 * cannot make the host map anything outside its RAM; an emulated device cannot reach past its
 * windows; unplug leaves no mapping and no pinned page behind.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { checkIsolation } from "../../src/vfio/checks.ts";

const BASE = `name: isolation
machine:
  memory: 1G
  devices:
    - { id: usb0, driver: qemu-xhci }
    - { id: hd0, driver: vfio-pci, host: "0001:01:00.0" }
steps:
  - rtas: ibm,write-pci-config
    device: usb0
    reg: 0x04
    size: 2
    value: 0x6
  - cpu: { write: 0x2000, data: "5ec2e7" }
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x1000, tce: 0x1001 }
`;

function run(extra: string) {
  return runScenario(loadScenario(BASE + extra, "isolation.yaml"));
}

test("an assigned device cannot read or write guest memory the host IOMMU does not map", () => {
  const { report, machine } = run(`  - dma: { device: hd0, read: 0x2000, length: 3 }
  - dma: { device: hd0, write: 0x1000, data: "ff" }
  - dma: { device: hd0, read: 0x1fff, length: 2 }
`);
  const [readUnmapped, writeReadOnly, straddle] = report.steps.slice(3);
  assert.equal(readUnmapped.result.status, "permission-fault");
  assert.equal(writeReadOnly.result.status, "permission-fault");
  assert.equal(straddle.result.status, "permission-fault");
  assert.equal(straddle.result.fault_address, "0x2000");
  const out = new Uint8Array(3);
  machine.ram.ramBlock!.read(0x1000n, out.subarray(0, 1));
  assert.equal(out[0], 0, "the refused write left memory alone");
});

test("a guest cannot make the host map anything outside its RAM", () => {
  const { report, machine } = run(`  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x3000, tce: 0x200080000003 }
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x4000, tce: 0x40000003 }
  - hcall: H_PUT_TCE
    args: { liobn: 0x80000000, ioba: 0x5000, tce: 0xfffffffffffff003 }
`);
  assert.ok(report.steps.slice(3).every((s) => s.result.ret === "H_SUCCESS"));
  const iovas = machine.vfio!.containers[0].kernel.entries().map((e) => e.iova);
  assert.deepEqual(iovas, [0x1000n]);
  assert.equal(checkIsolation(machine.vfio!).ok, true);
});

test("an emulated device cannot reach past its windows", () => {
  const { report } = run(`  - dma: { device: usb0, read: 0x40000000, length: 4 }
  - dma: { device: usb0, read: 0x800000000000000, length: 4 }
  - dma: { device: usb0, read: 0x1000, length: 1 }
`);
  assert.deepEqual(
    report.steps.slice(3).map((s) => s.result.status),
    ["decode-error", "decode-error", "ok"],
  );
});

test("unplug leaves no host mapping and no pinned page behind", () => {
  const { machine } = run(`  - device_del: { id: hd0 }
`);
  assert.equal(machine.vfio!.containers.length, 0);
  const log = machine.vfio!.io.log;
  assert.equal(log.at(-1)?.ioctl, "GROUP_UNSET_CONTAINER");
  assert.ok(log.slice().some((r) => r.ioctl === "UNREGISTER_MEMORY" && r.ret === 0));
});
