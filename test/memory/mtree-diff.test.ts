/**
 * `iova diff`'s region lines: each region is named by its path and shown as `info mtree` shows
 * it (first-last address, priority, type), so a 2^64-byte region reads as the whole space.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { diffMtree, formatMtreeDiff } from "../../src/memory/mtree/diff.ts";
import { importMtree } from "../../src/memory/mtree/import.ts";

// Two dumps in QEMU 7.2's format: the second adds a 2^64-byte container and a 64 KiB RAM region.
const BEFORE = `address-space: memory
  0000000000000000-ffffffffffffffff (prio 0, i/o): system
    0000000000000000-000000000fffffff (prio 0, ram): ram

`;
const AFTER = `address-space: memory
  0000000000000000-ffffffffffffffff (prio 0, i/o): system
    0000000000000000-000000000fffffff (prio 0, ram): ram
    0000000000000000-ffffffffffffffff (prio -1, i/o): everything
    0000000010000000-000000001000ffff (prio 1, ram): extra

`;

test("a region that appears is shown with its first and last address as info mtree prints them; a 2^64-byte one spans the whole space", () => {
  const text = formatMtreeDiff(diffMtree(importMtree(BEFORE), importMtree(AFTER)));
  assert.match(
    text,
    /^\+ system \/ everything: 0000000000000000-ffffffffffffffff \(prio -1, i\/o\)$/m,
  );
  assert.match(text, /^\+ system \/ extra: 0000000010000000-000000001000ffff \(prio 1, ram\)$/m);
});
