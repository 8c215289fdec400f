/**
 * With caching mode, what MAP/UNMAP notifications say (the shadow VFIO keeps in the host IOMMU)
 * equals the guest's tables for every page the guest has invalidated since changing it, and for
 * all of them after a global invalidation: random edits, page-selective invalidations (some for
 * the wrong domain, some forgotten), then a global one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { IommuNotifier } from "../../src/iommu/notifier.ts";
import { Q35Machine } from "../../src/machine/q35.ts";
import { U64_MAX } from "../../src/memory/int.ts";

const VTD = 0xfed90000n;
const SLOTS = 16;
const IOVA = (slot: number) => 0x100000n + BigInt(slot) * 0x1000n;

function writeq(m: Q35Machine, addr: bigint, value: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  m.cpuMemory.write(addr, b);
}

test("notifications mirror every invalidated page of the guest's tables", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          slot: fc.nat(SLOTS - 1),
          perm: fc.constantFrom(0, 1, 2, 3),
          page: fc.nat(255),
          invalidate: fc.constantFrom("page", "page", "wrong-domain", "none", "domain"),
        }),
        { minLength: 1, maxLength: 40 },
      ),
      (ops) => {
        const m = new Q35Machine({
          memory: 64n << 20n,
          intelIommu: { cachingMode: true },
          devices: [{ driver: "edu" }],
        });
        writeq(m, 0x10000n, 0x11001n);
        writeq(m, 0x11080n, 0x12001n);
        writeq(m, 0x11088n, 0x101n);
        writeq(m, 0x12000n, 0x13003n);
        writeq(m, 0x13000n, 0x14003n);
        writeq(m, VTD + 0x20n, 0x10000n);
        const b = new Uint8Array(4);
        new DataView(b.buffer).setUint32(0, 0x40000000, true);
        m.cpuMemory.write(VTD + 0x18n, b);
        new DataView(b.buffer).setUint32(0, 0x80000000, true);
        m.cpuMemory.write(VTD + 0x18n, b);

        const shadow = new Map<bigint, string>();
        const n: IommuNotifier = {
          flags: 3,
          start: 0n,
          end: U64_MAX,
          iommuIdx: 0,
          notify(e) {
            if (e.perm === 0) {
              for (const k of [...shadow.keys()]) {
                if (k >= e.iova && k <= e.iova + e.addrMask) shadow.delete(k);
              }
            } else {
              // Only 4 KiB leaves exist in these tables.
              assert.equal(e.addrMask, 0xfffn);
              shadow.set(e.iova, `${e.translatedAddr.toString(16)}/${e.perm}`);
            }
          },
        };
        const vas = m.intelIommu!.addressSpaceOf(0, 0x08);
        vas.iommu.registerNotifier(n);
        vas.iommu.replay(n);

        const table = new Map<number, string>();
        const stale = new Set<number>();
        const invalidate = (iova: bigint, domain: bigint) => {
          writeq(m, VTD + 0xf0n, iova);
          writeq(m, VTD + 0xf8n, 0xb000000000000000n | (domain << 32n));
        };
        const check = () => {
          for (let s = 0; s < SLOTS; s++) {
            if (stale.has(s)) continue;
            assert.equal(shadow.get(IOVA(s)), table.get(s), `slot ${s}`);
          }
        };
        for (const op of ops) {
          const gpa = 0x400000n + BigInt(op.page) * 0x1000n;
          writeq(m, 0x14800n + BigInt(op.slot) * 8n, op.perm ? gpa | BigInt(op.perm) : 0n);
          if (op.perm) table.set(op.slot, `${gpa.toString(16)}/${op.perm}`);
          else table.delete(op.slot);
          stale.add(op.slot);
          if (op.invalidate === "page") {
            invalidate(IOVA(op.slot), 1n);
            stale.delete(op.slot);
          } else if (op.invalidate === "wrong-domain") {
            invalidate(IOVA(op.slot), 2n);
          } else if (op.invalidate === "domain") {
            writeq(m, VTD + 0xf8n, 0xa000000100000000n);
            stale.clear();
          }
          check();
        }
        writeq(m, VTD + 0xf8n, 0x9000000000000000n);
        stale.clear();
        check();
      },
    ),
    { numRuns: 100, seed: 20261201 },
  );
});
