/**
 * The live-QEMU check shared by the machine tests: with QEMU's own `info mtree -f` as the hint, the
 * import finds a model consistent with the tree and that text, and prints the same text back. The
 * hint is the expected output, so this shows consistency, not that the flat views are inferred.
 */
import assert from "node:assert/strict";
import { importMtree } from "../../src/memory/mtree/import.ts";
import { formatMtree } from "../../src/memory/mtree/print.ts";
import { launchQemu } from "../../src/qemu/launch.ts";
import { readMtreeDumps } from "../../src/qemu/qmp.ts";
import { blockDifference } from "../conformance/blocks.ts";

/** Starts `argv` paused, rebuilds it from its dumps, and compares `info mtree -f` as block sets. */
export async function assertReproducesFlatViews(
  argv: readonly string[],
  env?: NodeJS.ProcessEnv,
): Promise<void> {
  const qemu = await launchQemu([...argv], { env });
  try {
    const dumps = await readMtreeDumps(qemu.client);
    const own = await qemu.client.hmp("info mtree -f");
    const rebuilt = formatMtree(importMtree(dumps.tree, dumps.flat).system, { flat: true });
    assert.deepEqual(blockDifference(own, rebuilt), { missing: [], extra: [] });
  } finally {
    await qemu.stop();
  }
}
