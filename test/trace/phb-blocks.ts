/**
 * The PHB's address space in `info mtree` text: the `address-space: pci@…` block of the tree, and
 * the flat view block that lists it, with the address spaces of devices sharing that view left out
 * (the devices iova does not model are not in its machine; the ranges are what is compared).
 */
import { mtreeBlocks } from "../conformance/blocks.ts";

/** The tree block of the PHB's address space. */
export function phbTreeBlock(text: string, busName = "pci@800000020000000"): string | undefined {
  return mtreeBlocks(text).find((b) => b.startsWith(`address-space: ${busName}\n`));
}

/** The flat view block of the PHB's address space, without other address spaces' lines. */
export function phbFlatBlock(text: string, busName = "pci@800000020000000"): string | undefined {
  const block = mtreeBlocks(text).find((b) =>
    b.split("\n").includes(` AS "${busName}", root: ${busName}.iommu-root`),
  );
  return block
    ?.split("\n")
    .filter((l) => !l.startsWith(" AS ") || l.startsWith(` AS "${busName}"`))
    .join("\n");
}
