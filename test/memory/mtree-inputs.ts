/**
 * Generated `info mtree` texts of a given size, for the tests and benchmarks that show the
 * importer's cost grows in proportion to its input (deep nesting, long alias chains, many
 * address spaces, large flat hints, very long lines).
 */

const hex16 = (n: number | bigint) => BigInt(n).toString(16).padStart(16, "0");

/** One address space whose root nests `depth` containers. */
export function deepTree(depth: number): string {
  const out = ["address-space: memory"];
  for (let i = 1; i <= depth; i++) {
    out.push(`${"  ".repeat(i)}0000000000000000-000000000000ffff (prio 0, i/o): c${i}`);
  }
  return `${out.join("\n")}\n\n`;
}

/** An alias to an alias to ... `n` deep, ending at RAM. */
export function aliasChain(n: number): string {
  const out = [
    "address-space: memory",
    "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
    "    0000000000000000-0000000000000fff (prio 0, ram): alias a0 @a1 0000000000000000-0000000000000fff",
    "",
  ];
  for (let i = 1; i < n; i++) {
    out.push(
      `memory-region: a${i}`,
      `  0000000000000000-0000000000000fff (prio 0, ram): alias a${i} @a${i + 1} 0000000000000000-0000000000000fff`,
      "",
    );
  }
  out.push(`memory-region: a${n}`, `  0000000000000000-0000000000000fff (prio 0, ram): a${n}`, "");
  return `${out.join("\n")}\n`;
}

/** `n` address-space groups, each with a small tree and an alias into a shared RAM region. */
export function manyGroups(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      `address-space: as${i}`,
      `  0000000000000000-000000000000ffff (prio 0, i/o): r${i}`,
      "    0000000000000000-0000000000000fff (prio 0, ram): alias window @ram 0000000000000000-0000000000000fff",
      `    0000000000001000-0000000000001fff (prio 0, i/o): mmio${i}`,
      "",
    );
  }
  out.push("memory-region: ram", "  0000000000000000-0000000000000fff (prio 0, ram): ram", "");
  return `${out.join("\n")}\n`;
}

/** A system with `n` RAM pieces, and the matching `info mtree -f` text (the flat hint). */
export function manyRanges(n: number): { tree: string; flat: string } {
  const tree = [
    "address-space: memory",
    "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
  ];
  const flat = ["FlatView #0", ' AS "memory", root: system', " Root memory region: system"];
  for (let i = 0; i < n; i++) {
    const start = BigInt(i) * 0x2000n;
    const end = start + 0xfffn;
    tree.push(`    ${hex16(start)}-${hex16(end)} (prio 0, ram): ram${i}`);
    flat.push(`  ${hex16(start)}-${hex16(end)} (prio 0, ram): ram${i}`);
  }
  return { tree: `${tree.join("\n")}\n\n`, flat: `${flat.join("\n")}\n\n` };
}

/** One alias line whose name and target are `length` characters full of `" @"` and braces. */
export function longAliasLine(length: number): string {
  const noise = " @x{dev id=y}".repeat(Math.ceil(length / 13)).slice(0, length);
  return [
    "address-space: memory",
    "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
    `    0000000000000000-0000000000000fff (prio 0, ram): alias a${noise} @ram 0000000000000000-0000000000000fff`,
    "",
    "memory-region: ram",
    "  0000000000000000-0000000000000fff (prio 0, ram): ram",
    "",
    "",
  ].join("\n");
}

/** A flat text whose ` AS "` line is `length` characters with `", root: ` and U+2028 in it. */
export function longAsLine(length: number): string {
  const noise = '", root: \u2028, alias '.repeat(Math.ceil(length / 20)).slice(0, length);
  return [
    "FlatView #0",
    ` AS "memory${noise}", root: system`,
    " Root memory region: system",
    "  0000000000000000-0000000000000fff (prio 0, ram): ram",
    "",
    "",
  ].join("\n");
}
