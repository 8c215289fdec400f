/**
 * Turns a recorded case's `cmdline.txt` (the QEMU command line and the steps done before the
 * dumps) into a scenario file, for the machines and steps iova models. Anything else makes the
 * case unsupported, with the reason.
 */

/** A converted case, or why it cannot be. */
export type Conversion = { readonly yaml: string } | { readonly unsupported: string };

const SIZE = /^(\d+)([KMGT]?)$/i;

function size(text: string): string | undefined {
  const m = SIZE.exec(text);
  return m ? `${m[1]}${m[2].toUpperCase() || ""}` : undefined;
}

/** Converts cmdline.txt text. */
export function cmdlineToScenario(name: string, text: string): Conversion {
  const [command, ...rest] = text.replace(/\r/g, "").split("\n");
  const argv = command.trim().split(/\s+/);
  if (!argv[0]?.endsWith("qemu-system-ppc64")) return { unsupported: `binary ${argv[0]}` };
  const machine: string[] = [];
  const phbs: string[] = [];
  const devices: string[] = [];
  const globals: string[] = [];
  let type = "pseries";
  let memory: string | undefined;
  let maxmem: string | undefined;
  let smp: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const value = argv[i + 1];
    switch (a) {
      case "-S":
      case "-nographic":
      case "-nodefaults":
        continue;
      case "-qmp":
      case "-qtest":
      case "-qtest-log":
        i++;
        continue;
      case "-M": {
        i++;
        const [t, ...opts] = value.split(",");
        if (opts.length) return { unsupported: `machine options ${opts.join(",")}` };
        type = t;
        continue;
      }
      case "-m": {
        i++;
        const [m, ...opts] = value.split(",");
        memory = size(
          m.endsWith("M") || m.endsWith("G") || /\d$/.test(m) ? (/\d$/.test(m) ? `${m}M` : m) : m,
        );
        for (const o of opts) {
          const [k, v] = o.split("=");
          if (k === "maxmem") maxmem = size(v);
          else if (k !== "slots") return { unsupported: `-m option ${o}` };
        }
        continue;
      }
      case "-smp":
        i++;
        smp = value;
        continue;
      case "-global": {
        i++;
        const m =
          /^spapr-pci-host-bridge\.(ddw|dma_win_addr|dma_win_size|dma64_win_addr|pgsz)=(.+)$/.exec(
            value,
          );
        if (!m) return { unsupported: `-global ${value}` };
        globals.push(`${m[1]}: ${m[2] === "off" ? "false" : m[2] === "on" ? "true" : m[2]}`);
        continue;
      }
      case "-device": {
        i++;
        const [driver, ...opts] = value.split(",");
        const props = new Map(opts.map((o) => o.split("=") as [string, string]));
        if (driver === "spapr-pci-host-bridge") {
          if ([...props.keys()].some((k) => k !== "index"))
            return { unsupported: `-device ${value}` };
          phbs.push(`    - { index: ${props.get("index")} }`);
        } else if (driver === "qemu-xhci") {
          const fields = [`driver: qemu-xhci`];
          for (const [k, v] of props) {
            if (k === "bus") fields.push(`bus: ${v.replace(/^pci\./, "")}`);
            else if (k === "id") fields.push(`id: ${v}`);
            else if (k === "addr") fields.push(`slot: ${Number.parseInt(v, 16)}`);
            else return { unsupported: `-device ${value}` };
          }
          devices.push(`    - { ${fields.join(", ")} }`);
        } else {
          return { unsupported: `-device ${driver}` };
        }
        continue;
      }
      default:
        return { unsupported: `option ${a}` };
    }
  }
  machine.push(`  type: ${type}`, `  memory: ${memory ?? "512M"}`);
  if (maxmem) machine.push(`  maxmem: ${maxmem}`);
  if (smp) machine.push(`  smp: ${smp}`);
  if (phbs.length) machine.push("  phbs:", ...phbs);
  if (globals.length) machine.push(`  phb_globals: { ${globals.join(", ")} }`);
  if (devices.length) machine.push("  devices:", ...devices);

  const steps: string[] = [];
  for (const line of rest) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const cfg =
      /^rtas (ibm,\S+-pci-config) buid (0x[0-9a-f]+) ([0-9a-f]+):([0-9a-f]+)\.([0-7]) reg (0x[0-9a-f]+) size (\d+) value (0x[0-9a-f]+)\s+-> rets \[(.*)\]$/.exec(
        line,
      );
    if (cfg) {
      const buid = BigInt(cfg[2]);
      const bdf =
        (Number.parseInt(cfg[3], 16) << 16) |
        (Number.parseInt(cfg[4], 16) << 11) |
        (Number(cfg[5]) << 8);
      const reg = Number(cfg[6]);
      const addr = (bdf | (reg & 0xff) | ((reg & 0xf00) << 20)) >>> 0;
      const args = [
        addr,
        Number(buid >> 32n),
        Number(buid & 0xffffffffn),
        Number(cfg[7]),
        Number(cfg[8]),
      ];
      steps.push(
        `  - rtas: ${cfg[1]}`,
        `    args: [${args.map((x) => `0x${x.toString(16)}`).join(", ")}]`,
        `    expect: { rets: [${cfg[9]}] }`,
      );
      continue;
    }
    const raw = /^rtas (ibm,\S+) args \[(.*)\]\s+-> rets \[(.*)\]$/.exec(line);
    if (raw) {
      const nret = raw[3].split(",").length;
      steps.push(
        `  - rtas: ${raw[1]}`,
        `    args: [${raw[2]}]`,
        `    nret: ${nret}`,
        `    expect: { rets: [${raw[3]}] }`,
      );
      continue;
    }
    const qmp = /^qmp (\{.*\})$/.exec(line);
    if (qmp) {
      const cmd = JSON.parse(qmp[1]) as { execute: string; arguments?: Record<string, string> };
      const args = cmd.arguments ?? {};
      if (
        cmd.execute === "device_add" &&
        args.driver === "qemu-xhci" &&
        Object.keys(args).every((k) => ["driver", "id", "bus"].includes(k))
      ) {
        steps.push(
          `  - device_add: { id: ${args.id}, driver: qemu-xhci${args.bus ? `, bus: ${args.bus.replace(/^pci\./, "")}` : ""} }`,
          "    expect: { ok: true }",
        );
        continue;
      }
      return { unsupported: `qmp ${cmd.execute} ${args.driver ?? ""}`.trim() };
    }
    return { unsupported: `step ${line}` };
  }
  const yaml = [
    `name: ${name}`,
    "machine:",
    ...machine,
    ...(steps.length ? ["steps:", ...steps] : []),
  ].join("\n");
  return { yaml: `${yaml}\n` };
}
