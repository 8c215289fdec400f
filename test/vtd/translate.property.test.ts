/**
 * intel-iommu's translation against a reference walker written from the VT-d specification's
 * second-level rules as QEMU 7.2 applies them (permissions stacked down the walk, no present bit
 * but R/W, reserved bits by level and page size, the address-width limit): random tables in
 * guest memory, random addresses, reads and writes, caches emptied between queries.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Q35Machine } from "../../src/machine/q35.ts";

const VTD = 0xfed90000n;
const EDU_DEVFN = 0x08;
const ROOT = 0x10000n;
const CONTEXT = 0x11000n;
const PML = 0x12000n;
const RAM_SIZE = 64n << 20n;

type Outcome = { base: bigint; mask: bigint; perm: number } | { fault: number };

/** The reference: one walk, straight from the rules. */
function referenceWalk(
  memory: ReadonlyMap<bigint, bigint>,
  levels: number,
  aw: number,
  iova: bigint,
  write: boolean,
): Outcome {
  const agaw = 30 + 9 * (levels - 2);
  if (iova >= 1n << BigInt(Math.min(agaw, aw))) return { fault: 4 };
  const haw = (1n << BigInt(aw)) - 1n;
  const notHaw = ~(haw | 0xbff0000000000000n) & ((1n << 64n) - 1n);
  let table = PML;
  let r = true;
  let w = true;
  for (let level = levels; ; level--) {
    const shift = BigInt(12 + 9 * (level - 1));
    // A table outside RAM cannot be read: an invalid context entry at the top, else an invalid
    // paging entry.
    if (table >= RAM_SIZE) return { fault: level === levels ? 3 : 7 };
    const e = memory.get(table + ((iova >> shift) & 0x1ffn) * 8n) ?? 0n;
    r &&= (e & 1n) !== 0n;
    w &&= (e & 2n) !== 0n;
    if (!(e & (write ? 2n : 1n))) return { fault: write ? 5 : 6 };
    const large = (level === 2 || level === 3) && (e & 0x80n) !== 0n;
    let reserved = 0x800n | notHaw;
    if (level === 4) reserved |= 0x80n;
    if (large) reserved |= level === 2 ? 0x1ff000n : 0x3ffff000n;
    if (e & reserved) return { fault: 12 };
    if (level === 1 || large) {
      const mask = (1n << shift) - 1n;
      return { base: e & haw & ~0xfffn & ~mask, mask, perm: (r ? 1 : 0) | (w ? 2 : 0) };
    }
    table = e & haw & ~0xfffn;
  }
}

const entry = (fc_: typeof fc) =>
  fc_.record({
    perm: fc_.oneof(fc_.constant(3), fc_.constantFrom(0, 1, 2)),
    large: fc_.boolean(),
    reservedBit: fc_.option(fc_.constantFrom(11, 40, 47, 50, 52, 7), { freq: 8 }),
    target: fc_.bigInt({ min: 0n, max: (1n << 30n) - 1n }),
  });

test("translation equals the reference walk for random tables, addresses and directions", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(39, 48),
      fc.array(
        fc.tuple(
          fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
          fc.array(entry(fc), { minLength: 4, maxLength: 4 }),
        ),
        {
          minLength: 1,
          maxLength: 6,
        },
      ),
      fc.array(fc.tuple(fc.nat(5), fc.bigInt({ min: 0n, max: 0xfffffn }), fc.boolean()), {
        minLength: 1,
        maxLength: 8,
      }),
      (aw, paths, queries) => {
        const levels = aw === 48 ? 4 : 3;
        const m = new Q35Machine({
          memory: RAM_SIZE,
          intelIommu: { awBits: aw },
          devices: [{ driver: "edu" }],
        });
        const memory = new Map<bigint, bigint>();
        const put = (addr: bigint, v: bigint) => {
          memory.set(addr, v);
          const b = new Uint8Array(8);
          new DataView(b.buffer).setBigUint64(0, v, true);
          m.cpuMemory.write(addr, b);
        };
        put(ROOT, CONTEXT | 1n);
        put(CONTEXT + BigInt(EDU_DEVFN) * 16n, PML | 1n);
        put(CONTEXT + BigInt(EDU_DEVFN) * 16n + 8n, BigInt(levels - 2) | (1n << 8n));
        let nextTable = 0x20000n;
        const isTable = new Set<bigint>([PML]);
        // Build each path top-down; an entry already written is kept (paths share tables).
        for (const [iova, entries] of paths) {
          let table = PML;
          for (let level = levels; level >= 1; level--) {
            const at = table + ((iova >> BigInt(12 + 9 * (level - 1))) & 0x1ffn) * 8n;
            const existing = memory.get(at);
            if (existing !== undefined) {
              const next = existing & ((1n << BigInt(aw)) - 1n) & ~0xfffn;
              if (!isTable.has(next) || existing & 0x80n) break;
              table = next;
              continue;
            }
            const e = entries[levels - level];
            let v = BigInt(e.perm);
            if (e.reservedBit !== null) v |= 1n << BigInt(e.reservedBit);
            if (level === 1 || (e.large && level <= 3)) {
              if (level > 1) v |= 0x80n;
              put(at, v | (e.target & ~0xfffn));
              break;
            }
            const next = nextTable;
            nextTable += 0x1000n;
            isTable.add(next);
            put(at, v | next);
            table = next;
          }
        }
        put(VTD + 0x20n, ROOT);
        const gcmd = (v: number) => {
          const b = new Uint8Array(4);
          new DataView(b.buffer).setUint32(0, v, true);
          m.cpuMemory.write(VTD + 0x18n, b);
        };
        gcmd(0x40000000);
        gcmd(0x80000000);
        const vtd = m.intelIommu!;
        const region = vtd.addressSpaceOf(0, EDU_DEVFN).iommu;
        for (const [which, offset, write] of queries) {
          const iova = which < paths.length ? paths[which][0] + offset : offset << 12n;
          if (iova >= 0xfee00000n && iova <= 0xfeefffffn) continue;
          gcmd(0xc0000000); // SRTP again: QEMU empties its caches
          const faultsBefore = vtd.faults.length;
          const got = region.translate(iova, write ? 2 : 1, 0);
          const want = referenceWalk(memory, levels, aw, iova, write);
          if ("fault" in want) {
            assert.equal(got.perm, 0);
            assert.equal(vtd.faults.length, faultsBefore + 1);
            assert.equal(vtd.faults.at(-1)!.reason, want.fault);
          } else {
            assert.deepEqual(
              { base: got.translatedAddr, mask: got.addrMask, perm: got.perm, iova: got.iova },
              { base: want.base, mask: want.mask, perm: want.perm, iova: iova & ~want.mask },
            );
          }
        }
      },
    ),
    { numRuns: 150, seed: 20261201 },
  );
});
