/**
 * More live machines against real QEMU 7.2: for q35 with intel-iommu and arm virt, given QEMU's own
 * `info mtree -f` as the hint, a model consistent with the tree and that text exists (the import
 * finds it and prints the same text back; this does not show the flat views can be inferred); on pseries, a DDW created over qtest RTAS (as the corpus recorder does) and
 * a hot-plugged device are exactly what `diff` reports between two attachments.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { diffMtree } from "../../src/memory/mtree/diff.ts";
import { importMtree } from "../../src/memory/mtree/import.ts";
import { launchQemu } from "../../src/qemu/launch.ts";
import { readMtreeDumps } from "../../src/qemu/qmp.ts";
import { assertReproducesFlatViews } from "./reproduces.ts";

test(
  "q35 with intel-iommu, with QEMU's own -f text as the hint: a consistent model exists that prints it back",
  { timeout: 60_000 },
  () =>
    assertReproducesFlatViews([
      "qemu-system-x86_64",
      "-M",
      "q35,kernel-irqchip=split",
      "-m",
      "512M",
      "-nodefaults",
      "-nographic",
      "-device",
      "intel-iommu",
      "-device",
      "e1000e",
    ]),
);

test(
  "arm virt, with QEMU's own -f text as the hint: a consistent model exists that prints it back",
  { timeout: 60_000 },
  () =>
    assertReproducesFlatViews([
      "qemu-system-aarch64",
      "-M",
      "virt",
      "-cpu",
      "cortex-a57",
      "-m",
      "512M",
      "-nodefaults",
      "-nographic",
    ]),
);

/** The qtest line protocol, enough for RTAS calls. */
class Qtest {
  #buf = "";
  #waiters: ((line: string) => void)[] = [];
  constructor(readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.#buf += d;
      for (let nl = this.#buf.indexOf("\n"); nl >= 0; nl = this.#buf.indexOf("\n")) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        if (!line.startsWith("IRQ")) this.#waiters.shift()?.(line);
      }
    });
  }
  static async connect(path: string): Promise<Qtest> {
    for (let i = 0; i < 200; i++) {
      try {
        const s = await new Promise<Socket>((ok, fail) => {
          const c = createConnection(path);
          c.once("connect", () => ok(c));
          c.once("error", fail);
        });
        return new Qtest(s);
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`no qtest socket at ${path}`);
  }
  q(line: string): Promise<string> {
    const reply = new Promise<string>((ok) => this.#waiters.push(ok));
    this.socket.write(`${line}\n`);
    return reply.then((r) => {
      assert.ok(r.startsWith("OK"), `${line} -> ${r}`);
      return r.slice(2).trim();
    });
  }
  async rtas(name: string, args: number[], nret: number): Promise<number[]> {
    const argp = 0x10000;
    const retp = argp + 0x100;
    for (const [i, a] of args.entries())
      await this.q(`writel 0x${(argp + 4 * i).toString(16)} 0x${a.toString(16)}`);
    await this.q(
      `rtas ${name} ${args.length} 0x${argp.toString(16)} ${nret} 0x${retp.toString(16)}`,
    );
    const rets: number[] = [];
    for (let i = 0; i < nret; i++)
      rets.push(Number.parseInt(await this.q(`readl 0x${(retp + 4 * i).toString(16)}`), 16));
    return rets;
  }
}

test("diff between two attachments: exactly the DDW window, then the hot-plugged device", {
  timeout: 90_000,
}, async () => {
  const sock = join(mkdtempSync(join(tmpdir(), "iova-qtest-")), "qtest.sock");
  const qemu = await launchQemu([
    "qemu-system-ppc64",
    "-M",
    "pseries",
    "-m",
    "2G",
    "-nodefaults",
    "-nographic",
    "-device",
    "qemu-xhci",
    "-qtest",
    `unix:${sock},server=on,wait=off`,
  ]);
  const qt = await Qtest.connect(sock);
  try {
    const snap = async () => {
      const d = await readMtreeDumps(qemu.client);
      return importMtree(d.tree, d.flat);
    };
    const before = await snap();
    const rets = await qt.rtas("ibm,create-pe-dma-window", [0, 0x8000000, 0x20000000, 16, 31], 4);
    assert.deepEqual(rets, [0, 0x80000001, 0x8000000, 0]);
    const afterDdw = await snap();
    const d1 = diffMtree(before, afterDdw);
    assert.deepEqual(
      d1.regions.appeared.map((r) => r.path),
      ["pci@800000020000000.iommu-root / tce-root-80000001 / tce-iommu-80000001"],
    );
    assert.deepEqual([d1.regions.vanished, d1.regions.moved], [[], []]);
    assert.deepEqual(d1.flat.find((f) => f.addressSpace === "pci@800000020000000")?.added, [
      "0800000000000000-080000007fffffff (prio 0, i/o): tce-iommu-80000001",
    ]);
    await qemu.client.execute("device_add", { driver: "qemu-xhci", id: "hot1" });
    const afterPlug = await snap();
    const d2 = diffMtree(afterDdw, afterPlug);
    const paths = d2.regions.appeared.map((r) => r.path);
    assert.ok(
      paths.includes("bus master container #2") ||
        paths.some((p) => p.startsWith("bus master container")),
      paths.join(", "),
    );
    assert.ok(
      paths.every((p) => p.startsWith("bus master container")),
      paths.join(", "),
    );
    assert.deepEqual(d2.regions.vanished, []);
  } finally {
    qt.socket.destroy();
    await qemu.stop();
  }
});
