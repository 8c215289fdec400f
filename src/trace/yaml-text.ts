/**
 * Plain data written as YAML the scenario loader reads back exactly: 64-bit numbers in hex, maps
 * in block style at the top, each step on one line in flow style.
 */

const BARE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const KEYWORDS = new Set(["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"]);

/** One value in YAML's flow style. */
export function flow(value: unknown): string {
  if (typeof value === "bigint")
    return value < 0n ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string")
    return BARE.test(value) && !KEYWORDS.has(value.toLowerCase()) ? value : JSON.stringify(value);
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return `[${value.map(flow).join(", ")}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(
    ([, v]) => v !== undefined,
  );
  return `{ ${entries.map(([k, v]) => `${k}: ${flow(v)}`).join(", ")} }`;
}

/** A map in block style, nested maps indented, lists of maps one flow item a line. */
export function block(value: Record<string, unknown>, indent = ""): string {
  let out = "";
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      out += v.length
        ? `${indent}${k}:\n${v.map((x) => `${indent}  - ${flow(x)}\n`).join("")}`
        : `${indent}${k}: []\n`;
    } else if (typeof v === "object" && v !== null && typeof v !== "bigint") {
      out += `${indent}${k}:\n${block(v as Record<string, unknown>, `${indent}  `)}`;
    } else out += `${indent}${k}: ${flow(v)}\n`;
  }
  return out;
}

/** A comment block (each line prefixed `# `). */
export function comment(text: string): string {
  return text
    .split("\n")
    .map((l) => (l ? `# ${l}` : "#"))
    .join("\n")
    .concat("\n");
}
