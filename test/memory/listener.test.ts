/**
 * Memory listeners see QEMU's diff: deletions (newest listener first) before additions (oldest
 * first), a nop for every unchanged range, replay on registration and its mirror on removal.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MemoryListener, MemoryRegionSection } from "../../src/memory/listener.ts";
import { MemorySystem } from "../../src/memory/memory-system.ts";
import { NOOP_OPS, recordingListener } from "./helpers.ts";

function describeSection(s: MemoryRegionSection): string {
  const end = s.offsetWithinAddressSpace + s.size - 1n;
  return `${s.offsetWithinAddressSpace.toString(16)}-${end.toString(16)} ${s.mr.name}@${s.offsetWithinRegion.toString(16)}`;
}

/** A listener that records every callback as a line of text. */
function recorder(tag: string, log: string[], priority = 0): MemoryListener {
  return recordingListener(tag, log, describeSection, { priority });
}

function machine() {
  const m = new MemorySystem();
  const root = m.container("root", 0x100000n);
  const ram = m.ram("ram", 0x10000n);
  root.addSubregion(ram, 0n);
  const as = m.addressSpace(root, "memory");
  return { m, root, ram, as };
}

describe("registration", () => {
  test("a new listener is replayed the current view as additions", () => {
    const { m, as } = machine();
    const log: string[] = [];
    m.registerListener(recorder("L", log), as);
    assert.deepEqual(log, ["L begin", "L add 0-ffff ram@0", "L commit"]);
  });

  test("a leaving listener is shown the view removed", () => {
    const { m, as } = machine();
    const log: string[] = [];
    const l = recorder("L", log);
    m.registerListener(l, as);
    log.length = 0;
    m.unregisterListener(l);
    assert.deepEqual(log, ["L begin", "L del 0-ffff ram@0", "L commit"]);
  });

  test("registering inside a transaction replays the view from before it", () => {
    const { m, root, as } = machine();
    const log: string[] = [];
    m.begin();
    root.addSubregion(m.io("mmio", 0x1000n, NOOP_OPS), 0x20000n);
    m.registerListener(recorder("L", log), as);
    assert.deepEqual(log, ["L begin", "L add 0-ffff ram@0", "L commit"]);
    log.length = 0;
    m.commit();
    assert.deepEqual(log, [
      "L begin",
      "L nop 0-ffff ram@0",
      "L add 20000-20fff mmio@0",
      "L commit",
    ]);
  });
});

describe("topology changes", () => {
  function listened() {
    const ctx = machine();
    const log: string[] = [];
    ctx.m.registerListener(recorder("L", log), ctx.as);
    log.length = 0;
    return { ...ctx, log };
  }

  test("adding a region: nop for what stayed, add for the new range", () => {
    const { m, root, log } = listened();
    root.addSubregion(m.io("mmio", 0x1000n, NOOP_OPS), 0x20000n);
    assert.deepEqual(log, [
      "L begin",
      "L nop 0-ffff ram@0",
      "L add 20000-20fff mmio@0",
      "L commit",
    ]);
  });

  test("removing a region", () => {
    const { root, ram, log } = listened();
    root.removeSubregion(ram);
    assert.deepEqual(log, ["L begin", "L del 0-ffff ram@0", "L commit"]);
  });

  test("moving a region is a deletion then an addition", () => {
    const { ram, log } = listened();
    ram.setAddress(0x40000n);
    assert.deepEqual(log, ["L begin", "L del 0-ffff ram@0", "L add 40000-4ffff ram@0", "L commit"]);
  });

  test("resizing changes the extent: del + add, never nop", () => {
    const { ram, log } = listened();
    ram.setSize(0x8000n);
    assert.deepEqual(log, ["L begin", "L del 0-ffff ram@0", "L add 0-7fff ram@0", "L commit"]);
  });

  test("disabling and enabling", () => {
    const { ram, log } = listened();
    ram.setEnabled(false);
    ram.setEnabled(true);
    assert.deepEqual(log, [
      "L begin",
      "L del 0-ffff ram@0",
      "L commit",
      "L begin",
      "L add 0-ffff ram@0",
      "L commit",
    ]);
  });

  test("changing an alias offset moves the section within the target", () => {
    const { m, root, ram, log } = listened();
    const alias = m.alias("win", ram, 0x1000n, 0x1000n);
    root.addSubregion(alias, 0x80000n);
    log.length = 0;
    alias.setAliasOffset(0x2000n);
    assert.deepEqual(log, [
      "L begin",
      "L del 80000-80fff ram@1000",
      "L nop 0-ffff ram@0",
      "L add 80000-80fff ram@2000",
      "L commit",
    ]);
  });

  test("all deletions come before all additions", () => {
    const { m, root, ram, log } = listened();
    const other = m.ram("other", 0x1000n);
    m.transaction(() => {
      root.addSubregion(other, 0x10000n);
      ram.setAddress(0x20000n);
    });
    assert.deepEqual(log, [
      "L begin",
      "L del 0-ffff ram@0",
      "L add 10000-10fff other@0",
      "L add 20000-2ffff ram@0",
      "L commit",
    ]);
  });

  test("a transaction batches changes into one commit", () => {
    const { m, root, log } = listened();
    m.transaction(() => {
      root.addSubregion(m.io("a", 0x10n, NOOP_OPS), 0x20000n);
      m.transaction(() => root.addSubregion(m.io("b", 0x10n, NOOP_OPS), 0x30000n));
    });
    assert.deepEqual(log, [
      "L begin",
      "L nop 0-ffff ram@0",
      "L add 20000-2000f a@0",
      "L add 30000-3000f b@0",
      "L commit",
    ]);
  });

  test("a change to an unmapped region's enabled flag still commits (QEMU always marks it)", () => {
    const { m, log } = listened();
    m.ram("loose", 0x1000n).setEnabled(false);
    assert.deepEqual(log, ["L begin", "L nop 0-ffff ram@0", "L commit"]);
  });

  test("a change to a disabled region's read-only flag does not commit", () => {
    const { m, log } = listened();
    const r = m.ram("loose", 0x1000n);
    r.setEnabled(false);
    log.length = 0;
    r.setReadonly(true);
    assert.deepEqual(log, []);
  });
});

describe("ordering between listeners", () => {
  test("deletions go newest-priority first, additions lowest first; begin/commit reach everyone", () => {
    const m = new MemorySystem();
    const root = m.container("root", 0x100000n);
    const ram = m.ram("ram", 0x1000n);
    root.addSubregion(ram, 0n);
    const other = m.container("io", 0x10000n);
    const as = m.addressSpace(root, "memory");
    const io = m.addressSpace(other, "I/O");
    const log: string[] = [];
    m.registerListener(recorder("hi", log, 10), as);
    m.registerListener(recorder("lo", log, 0), as);
    m.registerListener(recorder("io", log, 5), io);
    log.length = 0;
    ram.setAddress(0x2000n);
    assert.deepEqual(log, [
      "lo begin",
      "io begin",
      "hi begin",
      "hi del 0-fff ram@0",
      "lo del 0-fff ram@0",
      "lo add 2000-2fff ram@0",
      "hi add 2000-2fff ram@0",
      "lo commit",
      "io commit",
      "hi commit",
    ]);
  });
});

describe("dirty logging", () => {
  test("log_start is not sent for a newly added range, only for an unchanged one", () => {
    const { m, root, as } = machine();
    const log: string[] = [];
    m.registerListener(recorder("L", log), as);
    const vga = m.ram("vga", 0x1000n);
    vga.setLog(true);
    log.length = 0;
    root.addSubregion(vga, 0x20000n);
    assert.deepEqual(log, ["L begin", "L nop 0-ffff ram@0", "L add 20000-20fff vga@0", "L commit"]);
    log.length = 0;
    vga.setLog(false);
    vga.setLog(true);
    assert.deepEqual(log, [
      "L begin",
      "L nop 0-ffff ram@0",
      "L nop 20000-20fff vga@0",
      "L log_stop 20000-20fff vga@0 1->0",
      "L commit",
      "L begin",
      "L nop 0-ffff ram@0",
      "L nop 20000-20fff vga@0",
      "L log_start 20000-20fff vga@0 0->1",
      "L commit",
    ]);
  });

  test("registration replays log_start for logged ranges", () => {
    const { m, ram, as } = machine();
    ram.setLog(true);
    const log: string[] = [];
    m.registerListener(recorder("L", log), as);
    assert.deepEqual(log, [
      "L begin",
      "L add 0-ffff ram@0",
      "L log_start 0-ffff ram@0 0->1",
      "L commit",
    ]);
  });
});
