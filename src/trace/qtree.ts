/**
 * A live QEMU's machine, for `iova trace --qmp`: what `info qtree` says of the PCI host bridges
 * (every DMA property, as QEMU resolved it) and the devices on their buses, with the machine type
 * and RAM size from QMP, read into the same machine description as a command line gives.
 */
import type { TracedMachine } from "./cmdline.ts";

interface QtreeDev {
  readonly driver: string;
  readonly id: string;
  readonly indent: number;
  readonly props: Map<string, string>;
  /** The PHB whose bus the device sits on directly. */
  readonly phb?: QtreeDev;
}

const DEV = /^( *)dev: ([^,]+), id "([^"]*)"$/;
const PROP = /^( *)([A-Za-z0-9_-]+) = (.*)$/;
const BUS = /^( *)bus: (.*)$/;

/** The devices of `info qtree` text, each with its properties and PHB. */
function devices(text: string): QtreeDev[] {
  const out: QtreeDev[] = [];
  // The open devices and buses, innermost last, by indentation.
  const stack: { indent: number; dev?: QtreeDev; busOf?: QtreeDev }[] = [];
  for (const line of text.replace(/\r/g, "").split("\n")) {
    const indent = line.length - line.trimStart().length;
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    const dev = DEV.exec(line);
    if (dev) {
      const parentBus = stack[stack.length - 1];
      const phb =
        parentBus?.busOf?.driver === "spapr-pci-host-bridge" ? parentBus.busOf : undefined;
      const d: QtreeDev = { driver: dev[2], id: dev[3], indent, props: new Map(), phb };
      out.push(d);
      stack.push({ indent, dev: d });
      continue;
    }
    const bus = BUS.exec(line);
    if (bus) {
      const owner = stack[stack.length - 1]?.dev;
      stack.push({ indent, busOf: owner });
      continue;
    }
    const prop = PROP.exec(line);
    const owner = stack[stack.length - 1]?.dev;
    if (prop && owner && indent === owner.indent + 2) owner.props.set(prop[2], prop[3]);
  }
  return out;
}

/** `1073741824 (0x40000000)` or `true` or `"text"`: the value as QEMU printed it first. */
function value(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const quoted = /^"(.*)"$/.exec(text);
  if (quoted) return quoted[1];
  return text.split(" ")[0];
}

/** The machine of a live QEMU. */
export function machineFromQtree(
  qtree: string,
  machineType: string,
  memory: bigint,
  smp: number,
): TracedMachine {
  const all = devices(qtree);
  const ignored: string[] = [];
  const phbs = all
    .filter((d) => d.driver === "spapr-pci-host-bridge")
    .map((d) => {
      const spec: Record<string, unknown> = { index: Number(value(d.props.get("index")) ?? 0) };
      const ddw = value(d.props.get("ddw"));
      if (ddw !== undefined) spec.ddw = ddw === "true";
      for (const k of ["dma_win_addr", "dma_win_size", "dma64_win_addr", "pgsz"]) {
        const v = value(d.props.get(k));
        if (v !== undefined && /^\d+$/.test(v)) spec[k] = BigInt(v);
      }
      return spec;
    });
  const devs: Record<string, unknown>[] = [];
  let vfio = false;
  for (const d of all) {
    if (!d.phb) continue;
    const bus = Number(value(d.phb.props.get("index")) ?? 0);
    if (d.driver !== "qemu-xhci" && d.driver !== "vfio-pci") {
      ignored.push(`-device ${d.driver}`);
      continue;
    }
    const spec: Record<string, unknown> = { driver: d.driver };
    if (d.id) spec.id = d.id;
    if (bus !== 0) spec.bus = bus;
    const addr = value(d.props.get("addr"));
    if (addr && /^[0-9a-f]+\.\d$/i.test(addr)) spec.slot = Number.parseInt(addr.split(".")[0], 16);
    if (d.driver === "vfio-pci") {
      spec.host = value(d.props.get("host"));
      vfio = true;
    }
    devs.push(spec);
  }
  const type = machineType.replace(/-machine$/, "");
  const machine: Record<string, unknown> = { type, memory, smp };
  if (phbs.length) machine.phbs = phbs;
  if (devs.length) machine.devices = devs;
  return { machine, ...(vfio ? { host: { iommu: "spapr-tce-v2" } } : {}), ignored, kvm: false };
}
