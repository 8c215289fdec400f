/**
 * What is derived from the format's definitions (schema.ts) as text: the JSON Schema for editors
 * and the reference tables of docs/scenario-reference.md. scripts/gen-scenario-format.ts writes
 * them; a test fails when the committed files are stale.
 */
import { z } from "zod";
import { STEP_KINDS, scenarioFile } from "./schema.ts";

/** The JSON Schema of scenario files, as an object. */
export function jsonSchemaOf(): Record<string, unknown> {
  return z.toJSONSchema(scenarioFile, {
    io: "input",
    target: "draft-7",
    // Documented defaults apply to the input (zod drops `default` from transformed values).
    override: (ctx) => {
      const json = ctx.jsonSchema as Record<string, unknown>;
      if (json.docDefault !== undefined) {
        json.default = json.docDefault;
        delete json.docDefault;
      }
    },
  });
}

/** schema/scenario.schema.json, as text. */
export function scenarioJsonSchema(): string {
  const schema = jsonSchemaOf();
  const out = {
    $schema: schema.$schema,
    $id: "https://iova.invalid/schema/scenario.schema.json",
    ...schema,
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

type Json = Record<string, unknown>;

/** A JSON Schema node's type, in a few words. */
function form(node: Json): string {
  if (Array.isArray(node.enum)) return node.enum.map((v) => `\`${v}\``).join(" \\| ");
  if (node.const !== undefined) return `\`${node.const}\``;
  if (Array.isArray(node.anyOf)) {
    const kinds = (node.anyOf as Json[]).map(form);
    return [...new Set(kinds)].join(" or ");
  }
  if (node.type === "integer") return "number";
  if (node.type === "string" && typeof node.pattern === "string") {
    if (node.pattern.includes("KMGT")) return "size";
    if (node.pattern.includes("0x[0-9a-fA-F]+|[0-9]+")) return "number";
    if (node.pattern.includes("[0-9a-fA-F]{2}")) return "host PCI address";
    if (node.pattern.includes("[\\s_]")) return "hex bytes";
    if (node.pattern.startsWith("^pseries")) return "`pseries` or `pseries-X.Y`";
    return "name";
  }
  if (node.type === "array") return `list of ${form((node.items as Json) ?? {})}`;
  if (node.type === "object" || node.properties) return "map";
  if (Array.isArray(node.type)) return (node.type as string[]).join(" or ");
  return typeof node.type === "string" ? node.type : "any";
}

function table(node: Json): string {
  const props = (node.properties ?? {}) as Record<string, Json>;
  const required = new Set((node.required ?? []) as string[]);
  const rows = Object.entries(props).map(([key, p]) => {
    const def = p.default === undefined ? "" : `\`${String(p.default)}\``;
    const need = required.has(key) ? "yes" : def || "no";
    const description = String(p.description ?? "").replaceAll("|", "\\|");
    return `| \`${key}\` | ${form(p)} | ${need} | ${description} |`;
  });
  return ["| key | form | required (or default) | meaning |", "|---|---|---|---|", ...rows].join(
    "\n",
  );
}

/** The reference tables, in markdown. */
export function referenceTables(): string {
  const schema = jsonSchemaOf() as Json;
  const top = schema.properties as Record<string, Json>;
  const machine = top.machine;
  const machineProps = machine.properties as Record<string, Json>;
  const phb = (machineProps.phbs.items ?? {}) as Json;
  const device = (machineProps.devices.items ?? {}) as Json;
  const host = top.host;
  const hostProps = host.properties as Record<string, Json>;
  const fault = (hostProps.faults.items ?? {}) as Json;
  const steps = ((top.steps.anyOf as Json[])[0].items as Json).anyOf as Json[];
  const flat = steps.flatMap((s) => (Array.isArray(s.anyOf) ? (s.anyOf as Json[]) : [s]));
  const definitions = (schema.definitions ?? {}) as Record<string, Json>;
  const deref = (node: Json): Json => {
    const ref = (node.allOf as Json[] | undefined)?.[0]?.$ref ?? node.$ref;
    return typeof ref === "string"
      ? { ...definitions[ref.replace("#/definitions/", "")], description: node.description }
      : node;
  };
  const out: string[] = [
    "### Top level",
    "",
    table(schema),
    "",
    "### `machine`",
    "",
    table(machine),
    "",
    "### A PHB (`machine.phbs` items; `machine.phb_globals` without `index`)",
    "",
    table(phb),
    "",
    "### A device (`machine.devices` items, and `device_add`)",
    "",
    table(device),
    "",
    "### `host`",
    "",
    table(host),
    "",
    "### A fault (`host.faults` items)",
    "",
    table(fault),
    "",
  ];
  for (const kind of STEP_KINDS) {
    const forms = flat.filter((s) => (s.required as string[] | undefined)?.includes(kind));
    const first = forms[0];
    const props = first.properties as Record<string, Json>;
    const names = forms.map((f) => (f.properties as Record<string, Json>)[kind]);
    const body = props[kind];
    out.push(`### Step \`${kind}\``, "");
    if (forms.length > 1)
      out.push(
        `\`${kind}:\` ${names.map(form).join(" \\| ")}. ${String(body.description ?? "")}`,
        "",
      );
    for (const f of forms.length > 1 ? forms : [first]) {
      const title =
        forms.length > 1
          ? `#### \`${kind}: ${String((f.properties as Record<string, Json>)[kind].const)}\`\n\n`
          : "";
      const p = f.properties as Record<string, Json>;
      const args = p.args;
      const inner = p[kind];
      let text = table({ ...f, properties: omit(p, ["expect"]) });
      if (inner && (inner.properties || inner.type === "object"))
        text += `\n\n\`${kind}\` holds:\n\n${table(inner)}`;
      if (args?.properties) text += `\n\n\`args\` holds:\n\n${table(args)}`;
      out.push(`${title}${text}`, "");
    }
  }
  const expect = flat[0].properties as Record<string, Json>;
  out.push("### `expect` (any step)", "", table(deref(expect.expect)), "");
  return out.join("\n");
}

function omit(o: Record<string, Json>, keys: string[]): Record<string, Json> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

/** Markers around the generated part of docs/scenario-reference.md. */
export const DOC_BEGIN = "<!-- generated from src/scenario/schema.ts: npm run gen:format -->";
export const DOC_END = "<!-- end of generated reference -->";

/** `doc` with its generated part replaced by the current tables. */
export function withReferenceTables(doc: string): string {
  const begin = doc.indexOf(DOC_BEGIN);
  const end = doc.indexOf(DOC_END);
  if (begin === -1 || end < begin) throw new Error("docs/scenario-reference.md lacks the markers");
  return `${doc.slice(0, begin + DOC_BEGIN.length)}\n\n${referenceTables()}\n${doc.slice(end)}`;
}
