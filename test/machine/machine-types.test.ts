/**
 * Machine types per QEMU release, against the real binaries: the pseries-X.Y and pc-q35-X.Y
 * types iova accepts under `--qemu 7.2` and `--qemu 10.0` are exactly those `-M help` of Debian's
 * QEMU 7.2 and of bookworm-backports' 10.0 lists, and a type a release lacks is refused with
 * that release's own words. The 10.0 half needs scripts/install-qemu-10.sh's tree and is skipped,
 * saying so, without it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import {
  MachineTypeError,
  machineTypeVersion,
  pseriesCompat,
} from "../../src/machine/machine-type.ts";
import { PseriesMachine } from "../../src/machine/pseries.ts";
import { Q35Machine } from "../../src/machine/q35.ts";
import { atLeast, type QemuLine } from "../../src/machine/qemu-line.ts";
import { qemu10Command } from "../../src/qemu/qemu-10.ts";
import { skipWithoutQemu10 } from "../qemu/installed.ts";

const skip10 = skipWithoutQemu10("qemu-system-ppc64");

/** Runs a system emulator of a release; stdout and stderr. */
function qemu(line: QemuLine, binary: string, args: string[]) {
  const { argv, env } =
    line === "10.0" ? qemu10Command(binary, args) : { argv: [binary, ...args], env: process.env };
  const r = spawnSync(argv[0], argv.slice(1), {
    env,
    encoding: "utf8",
    timeout: 30_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** Every X.Y a type might carry: each minor of majors 1 to 11, and 4.0.1. */
const CANDIDATES = [
  ...Array.from({ length: 11 }, (_, i) => Array.from({ length: 13 }, (_, m) => `${i + 1}.${m}`)),
  ["4.0.1"],
].flat();

function listed(help: string, family: string): string[] {
  const re = new RegExp(`^${family}-(\\d+\\.\\d+(?:\\.\\d+)?)\\s`, "gm");
  return [...help.matchAll(re)].map((m) => m[1]).sort();
}

for (const line of ["7.2", "10.0"] as const) {
  const skip = line === "10.0" ? skip10 : false;
  test(`under --qemu ${line} the pseries-X.Y types are those QEMU ${line}'s -M help lists`, {
    skip,
  }, () => {
    const help = qemu(line, "qemu-system-ppc64", ["-M", "help"]);
    assert.equal(help.status, 0, help.err);
    const accepted = CANDIDATES.filter(
      (v) => machineTypeVersion("pseries", `pseries-${v}`, line) !== undefined,
    ).sort();
    assert.deepEqual(accepted, listed(help.out, "pseries"));
    assert.match(help.out, new RegExp(`^pseries\\s.*alias of pseries-${line}\\)`, "m"));
    assert.equal(pseriesCompat("pseries", line)?.version, line);
  });

  test(`under --qemu ${line} the pc-q35-X.Y types are those QEMU ${line}'s -M help lists`, {
    skip,
  }, () => {
    const help = qemu(line, "qemu-system-x86_64", ["-M", "help"]);
    assert.equal(help.status, 0, help.err);
    const accepted = CANDIDATES.filter(
      (v) => machineTypeVersion("pc-q35", `pc-q35-${v}`, line) !== undefined,
    ).sort();
    assert.deepEqual(accepted, listed(help.out, "pc-q35"));
    assert.equal(new Q35Machine({ qemu: line }).machineVersion, line);
  });

  for (const [binary, type, build] of [
    [
      "qemu-system-ppc64",
      line === "10.0" ? "pseries-2.12" : "pseries-8.0",
      (t: string) => new PseriesMachine({ qemu: line, machineType: t, memory: 1n << 30n }),
    ],
    [
      "qemu-system-x86_64",
      line === "10.0" ? "pc-q35-10.1" : "pc-q35-8.0",
      (t: string) => new Q35Machine({ qemu: line, machineType: t }),
    ],
  ] as const) {
    test(`under --qemu ${line} ${type} is refused with QEMU ${line}'s own message`, {
      skip,
    }, () => {
      const real = qemu(line, binary, ["-M", type, "-S", "-nodefaults", "-display", "none"]);
      assert.equal(real.status, 1);
      assert.throws(
        () => build(type),
        (e: unknown) => e instanceof MachineTypeError && `${e.message}\n` === real.err,
      );
    });
  }
}

test("pseries means each release's newest type, with that type's PHB defaults", () => {
  assert.equal(new PseriesMachine({ memory: 1n << 30n }).compat.version, "7.2");
  const m10 = new PseriesMachine({ qemu: "10.0", memory: 1n << 30n });
  assert.equal(m10.qemu, "10.0");
  assert.equal(m10.compat.version, "10.0");
  assert.equal(m10.phbs[0].config.pgsz, 0x1211000n);
  assert.equal(new PseriesMachine({ memory: 1n << 30n }).qemu, "7.2");
});

test("atLeast orders the release lines", () => {
  assert.equal(atLeast("10.0", "7.2"), true);
  assert.equal(atLeast("7.2", "10.0"), false);
  assert.equal(atLeast("7.2", "7.2"), true);
});
