/**
 * `iova trace LOG --qmp SOCKET`: the machine comes from the live QEMU writing the log (its PHBs
 * with every DMA property as QEMU resolved it, and the devices on their buses), and the replay of
 * its start-up log gives the windows QEMU has.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { qemu10Command } from "../../src/qemu/qemu-10.ts";
import { QmpClient } from "../../src/qemu/qmp.ts";
import { runCliAsync } from "../cli/run-cli.ts";
import { skipWithoutQemu10 } from "../qemu/installed.ts";
import { phbTreeBlock } from "./phb-blocks.ts";

const skip10 = skipWithoutQemu10("qemu-system-ppc64");

for (const release of ["7.2", "10.0"] as const)
  test(`the machine is read over QMP from QEMU ${release}, its model picked from query-version, and its start-up log replays to QEMU's windows`, {
    timeout: 60_000,
    skip: release === "10.0" ? skip10 : false,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "iova-trace-qmp-"));
    const sock = join(dir, "qmp.sock");
    const log = join(dir, "trace.log");
    const qemuArgs = [
      "-M",
      "pseries",
      "-m",
      "2G",
      "-nodefaults",
      "-nographic",
      "-S",
      "-global",
      "spapr-pci-host-bridge.dma_win_size=0x20000000",
      "-device",
      "qemu-xhci,id=x0",
      "-device",
      "spapr-pci-host-bridge,index=1,id=phb1,ddw=off",
      "-device",
      "qemu-xhci,bus=phb1.0,id=x1,addr=3",
      "-device",
      "virtio-net-pci",
      "-trace",
      "spapr_iommu_*",
      "-trace",
      "vfio_*",
      "-D",
      log,
      "-qmp",
      `unix:${sock},server=on,wait=off`,
    ];
    const { argv, env } =
      release === "10.0"
        ? qemu10Command("qemu-system-ppc64", qemuArgs)
        : { argv: ["qemu-system-ppc64", ...qemuArgs], env: process.env };
    const child = spawn(argv[0], argv.slice(1), { stdio: "ignore", env });
    try {
      while (!existsSync(log) || !readFileSync(log, "utf8").includes("liobn=0x80000100"))
        await sleep(100);
      const r = await runCliAsync("trace", log, "--qmp", sock, "--json");
      assert.equal(r.code, 0, r.err);
      const result = JSON.parse(r.out);
      assert.equal(result.report.qemu, release);
      assert.deepEqual(result.machine.ignored, ["-device virtio-net-pci"]);
      assert.deepEqual(
        result.report.guest.windows.map((w: { liobn: string; size: string }) => [w.liobn, w.size]),
        [
          ["0x80000000", "0x20000000"],
          ["0x80000100", "0x20000000"],
        ],
      );
      const client = await QmpClient.connect(sock);
      try {
        const qemu = await client.hmp("info mtree");
        for (const bus of ["pci@800000020000000", "pci@800000020000001"])
          assert.equal(phbTreeBlock(result.report.mtree, bus), phbTreeBlock(qemu, bus));
        await client.execute("quit").catch(() => undefined);
      } finally {
        client.close();
      }
    } finally {
      child.kill("SIGKILL");
    }
  });

test("--qmp with no QEMU listening is exit 2 with a message", async () => {
  const r = await runCliAsync("trace", "nothing.log", "--qmp", join(tmpdir(), "no-such-iova.sock"));
  assert.equal(r.code, 2);
  assert.notEqual(r.err, "");
});
