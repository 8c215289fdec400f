/**
 * The model's refusals and defaults that differ between QEMU 7.2 and 10.0, compared with the real
 * binaries: `-object iommufd` (7.2 has none; 10.0's ppc64 build has none), intel-iommu's aw-bits
 * check and default, and its capability register (read over qtest, then the QEMU is stopped).
 * The others exit at once (an option refused, or `help`). The 10.0 cases
 * need scripts/install-qemu-10.sh's tree and are skipped, saying so, without it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { iommufdObjectRefusal } from "../../src/host/iommufd.ts";
import { X86_HOST } from "../../src/host/x86-host.ts";
import { Q35Machine } from "../../src/machine/q35.ts";
import { startQtestQemu } from "../../src/qemu/qtest-client.ts";
import { skipWithoutQemu10, skipWithoutQemu72, QEMU10_WRAPPER as WRAPPER } from "./installed.ts";

const skip10 = skipWithoutQemu10("qemu-system-x86_64");
const skip7 = skipWithoutQemu72("qemu-system-x86_64");

/** Runs a QEMU that must exit by itself; returns its stderr without the program name. */
function refusal(line: "7.2" | "10.0", binary: string, args: string[]): string {
  const cmd = line === "7.2" ? [binary] : [WRAPPER, binary];
  const r = spawnSync(cmd[0], [...cmd.slice(1), "-nodefaults", "-display", "none", "-S", ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.notEqual(r.status, 0, `QEMU ${line} accepted ${args.join(" ")}`);
  return r.stderr.trim().replace(new RegExp(`^${binary}: `), "");
}

function helpDefault(line: "7.2" | "10.0", property: string): string | undefined {
  const cmd = line === "7.2" ? ["qemu-system-x86_64"] : [WRAPPER, "qemu-system-x86_64"];
  const r = spawnSync(cmd[0], [...cmd.slice(1), "-device", "intel-iommu,help"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  const row = r.stdout.split("\n").find((l) => l.trim().startsWith(`${property}=`));
  return row?.match(/\(default: ([^)]*)\)/)?.[1];
}

test("QEMU 7.2 refuses -object iommufd as the model says", { skip: skip7 }, () => {
  const real = refusal("7.2", "qemu-system-x86_64", [
    "-M",
    "none",
    "-object",
    "iommufd,id=iommufd0",
  ]);
  assert.equal(real, iommufdObjectRefusal("7.2", "x86_64", "iommufd0"));
  assert.throws(
    () => new Q35Machine({ host: { platform: X86_HOST, backend: "iommufd" }, qemu: "7.2" }),
    {
      message: real,
    },
  );
});

test("QEMU 10.0's ppc64 build has no iommufd object, as the model says", { skip: skip10 }, () => {
  const real = refusal("10.0", "qemu-system-ppc64", [
    "-M",
    "none",
    "-object",
    "iommufd,id=iommufd0",
  ]);
  assert.equal(real, iommufdObjectRefusal("10.0", "ppc64", "iommufd0"));
});

for (const line of ["7.2", "10.0"] as const) {
  const skip = line === "7.2" ? skip7 : skip10;
  test(`QEMU ${line}: intel-iommu's aw-bits refusal and default match the model`, { skip }, () => {
    const arg = "intel-iommu,aw-bits=40";
    const real = refusal(line, "qemu-system-x86_64", ["-M", "q35", "-device", arg]);
    assert.throws(() => new Q35Machine({ intelIommu: { awBits: 40 }, qemu: line }), {
      message: real.replace(`-device ${arg}: `, ""),
    });
    const modelled = new Q35Machine({ intelIommu: { cachingMode: true }, qemu: line }).intelIommu!;
    assert.equal(helpDefault(line, "aw-bits"), String(modelled.awBits));
  });
}

for (const [line, machineType] of [
  ["7.2", "q35"],
  ["10.0", "pc-q35-9.1"],
  ["10.0", "q35"],
] as const) {
  const skip = line === "7.2" ? skip7 : skip10;
  test(`QEMU ${line} ${machineType}: intel-iommu's capability register (MGAW, SAGAW) is the model's`, {
    skip,
    timeout: 60_000,
  }, async () => {
    const args = ["-M", machineType, "-device", "intel-iommu", "-nodefaults"];
    const qemu =
      line === "7.2"
        ? await startQtestQemu("qemu-system-x86_64", args)
        : await startQtestQemu(WRAPPER, ["qemu-system-x86_64", ...args]);
    let real: string;
    try {
      real = await qemu.command("readq 0xfed90008");
    } finally {
      await qemu.stop();
    }
    const m = new Q35Machine({ machineType, intelIommu: {}, qemu: line });
    const r = m.cpuMemory.read(0xfed90008n, 8);
    const cap = new DataView(r.data.buffer, r.data.byteOffset).getBigUint64(0, true);
    assert.equal(real, `OK 0x${cap.toString(16).padStart(16, "0")}`);
  });
}
