/**
 * Conformance against real QEMU 10.0 (data-10.0/, the 7.2 corpus's command lines recorded on
 * bookworm-backports' build): every machine is imported from its `info mtree -D` / `-o -D` text,
 * with and without the flat hint, and printed again; the output must equal what QEMU 10.0
 * printed, block for block. A known difference is listed below with its reason, and is checked to
 * still differ, so fixing it makes this test ask for the entry to be removed.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { importMtree } from "../../src/memory/mtree/import.ts";
import { formatMtree, type MtreeOptions } from "../../src/memory/mtree/print.ts";
import { blockDifference } from "./blocks.ts";

const dataDir = join(import.meta.dirname, "data-10.0");
const cases = readdirSync(dataDir).filter((c) => statSync(join(dataDir, c)).isDirectory());

type Check = readonly [
  title: string,
  source: string,
  hint: string | undefined,
  options: MtreeOptions,
  expected: string,
];
const CHECKS: readonly Check[] = [
  [
    "mtree-D.txt printed with -D reproduces mtree-D.txt",
    "mtree-D.txt",
    undefined,
    { disabled: true },
    "mtree-D.txt",
  ],
  ["mtree-D.txt printed plainly reproduces mtree.txt", "mtree-D.txt", undefined, {}, "mtree.txt"],
  [
    "mtree-o-D.txt printed with -o -D reproduces mtree-o-D.txt",
    "mtree-o-D.txt",
    undefined,
    { owners: true, disabled: true },
    "mtree-o-D.txt",
  ],
  [
    "mtree-o-D.txt printed with -o reproduces mtree-o.txt",
    "mtree-o-D.txt",
    undefined,
    { owners: true },
    "mtree-o.txt",
  ],
  [
    "mtree-D.txt with the flat hint printed with -f reproduces mtree-f.txt",
    "mtree-D.txt",
    "mtree-f.txt",
    { flat: true },
    "mtree-f.txt",
  ],
  [
    "mtree-o-D.txt with the flat hint printed with -f -o reproduces mtree-f-o.txt",
    "mtree-o-D.txt",
    "mtree-f.txt",
    { flat: true, owners: true },
    "mtree-f-o.txt",
  ],
];

/** Known differences: case -> the checks that differ, and why (none left). */
const KNOWN: Record<string, { readonly checks: readonly string[]; readonly reason: string }> = {};

function differs(
  name: string,
  [, source, hint, options, expected]: Check,
): {
  missing: string[];
  extra: string[];
} {
  const read = (file: string) => readFileSync(join(dataDir, name, file), "utf8");
  const result = importMtree(read(source), hint === undefined ? undefined : read(hint));
  return blockDifference(read(expected), formatMtree(result.system, options));
}

test("the QEMU 10.0 corpus holds 62 recorded machines, and every known difference names one", () => {
  assert.equal(cases.length, 62);
  for (const name of Object.keys(KNOWN)) assert.ok(cases.includes(name), name);
});

test("all 62 QEMU 10.0 machines are reproduced exactly by every check", () => {
  const exact = cases.filter((name) =>
    CHECKS.every((check) => {
      const { missing, extra } = differs(name, check);
      return missing.length === 0 && extra.length === 0;
    }),
  );
  assert.equal(exact.length, 62);
  assert.deepEqual(
    cases.filter((c) => !exact.includes(c)),
    Object.keys(KNOWN),
  );
});

test("a START-START alias is 0 bytes where the hint's view is 'No rendered FlatView' (AMD-Vi's IOAPIC space)", () => {
  const read = (file: string) => readFileSync(join(dataDir, "x86_64-q35-amd-iommu", file), "utf8");
  const flat = read("mtree-f.txt");
  assert.match(
    flat,
    /AS "amd_iommu_devfn_160", root: amdvi_root\r?\n Root memory region: amdvi-sys\r?\n {2}No rendered FlatView/,
  );
  const hinted = importMtree(read("mtree-D.txt"), flat);
  const devfn160 = hinted.system.addressSpaces.find((as) => as.name === "amd_iommu_devfn_160");
  assert.ok(devfn160);
  const alias = devfn160.root.subregions.find((r) => r.name === "amdvi-sys");
  assert.equal(alias?.size, 0n);
  // Without the hint nothing tells 0 from 1 byte: 1, what real machines usually mean.
  const plain = importMtree(read("mtree-D.txt"));
  const as = plain.system.addressSpaces.find((a) => a.name === "amd_iommu_devfn_160");
  assert.equal(as?.root.subregions.find((r) => r.name === "amdvi-sys")?.size, 1n);
});

test("QEMU 10.0 refuses the removed machine types with its own message", () => {
  const failed = readFileSync(join(dataDir, "FAILED.txt"), "utf8");
  assert.match(
    failed,
    /^ppc64-pseries-2\.1-compat: qemu-system-ppc64: unsupported machine type: "pseries-2\.1"$/m,
  );
  assert.match(
    failed,
    /^ppc64-pseries-2\.10: qemu-system-ppc64: unsupported machine type: "pseries-2\.10"$/m,
  );
  assert.match(failed, /^arm-connex: qemu-system-arm: unsupported machine type: "connex"$/m);
});

for (const name of cases) {
  describe(name, () => {
    for (const check of CHECKS) {
      const known = KNOWN[name]?.checks.includes(check[0]) ?? false;
      if (!known) {
        test(check[0], () => assert.deepEqual(differs(name, check), { missing: [], extra: [] }));
      } else {
        test(`known difference (KNOWN["${name}"]) still differs: ${check[0]}`, () => {
          const { missing, extra } = differs(name, check);
          assert.ok(missing.length + extra.length > 0, "fixed: remove it from KNOWN");
        });
      }
    }
  });
}
