/**
 * A QEMU command line as the q35 model needs it: `-M q35`, `-m`, `-smp` and `-device` (with
 * their properties as QEMU spells them). Options that do not change the modelled machine
 * (display, sockets, firmware, accelerator) are skipped with their argument; anything else is
 * an error that names it.
 */

import { isPciBridgeDriver } from "../machine/pci-bridge.ts";
import type { Q35Config, Q35DeviceSpec } from "../machine/q35.ts";
import type { IntelIommuOptions } from "../vtd/intel-iommu.ts";

/** A command line the model cannot build, with what is wrong. */
export class CmdlineError extends Error {
  override name = "CmdlineError";
}

/** Options skipped together with their argument. */
export const SKIPPED_WITH_ARG = new Set([
  "-qmp",
  "-qtest",
  "-qtest-log",
  "-accel",
  "-display",
  "-serial",
  "-monitor",
  "-bios",
  "-chardev",
  "-vga",
  "-name",
  "-D",
  "-d",
  "-trace",
  "-pidfile",
  "-L",
  "-cpu",
  "-rtc",
  "-icount",
  "-global",
]);

/** Options skipped alone. */
export const SKIPPED = new Set([
  "-S",
  "-nographic",
  "-nodefaults",
  "-no-reboot",
  "-no-shutdown",
  "-daemonize",
]);

/** Bridge properties that number hot-plug slots. */
const PORT_NUMBERING = new Set(["chassis", "slot", "port", "chassis_nr", "addr_nr"]);

/** Splits a command line into words: whitespace separates, single or double quotes group. */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of text.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]);
  return words;
}

/** QEMU's size syntax: a number with an optional K/M/G/T suffix; `defaultUnit` without one. */
export function parseSize(text: string, defaultUnit: bigint): bigint {
  const m = /^(\d+)([KMGT]?)i?B?$/i.exec(text);
  if (!m) throw new CmdlineError(`invalid size '${text}'`);
  const unit: Record<string, bigint> = {
    "": defaultUnit,
    K: 1n << 10n,
    M: 1n << 20n,
    G: 1n << 30n,
    T: 1n << 40n,
  };
  return BigInt(m[1]) * unit[m[2].toUpperCase()];
}

/** QEMU's on/off property values. */
export function parseBool(name: string, value: string): boolean {
  if (["on", "true", "yes"].includes(value)) return true;
  if (["off", "false", "no"].includes(value)) return false;
  throw new CmdlineError(`Parameter '${name}' expects 'on' or 'off'`);
}

/** Splits `driver,key=value,...` (QEMU's `,,` escape is an ordinary comma). */
export function splitOptions(text: string): [string, Map<string, string>] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== ",") current += text[i];
    else if (text[i + 1] === ",") {
      current += ",";
      i++;
    } else {
      parts.push(current);
      current = "";
    }
  }
  parts.push(current);
  const props = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const eq = p.indexOf("=");
    if (eq < 0) props.set(p, "on");
    else props.set(p.slice(0, eq), p.slice(eq + 1));
  }
  return [parts[0], props];
}

function intelIommuOptions(props: Map<string, string>): IntelIommuOptions {
  const out: { -readonly [K in keyof IntelIommuOptions]: IntelIommuOptions[K] } = {};
  for (const [k, v] of props) {
    switch (k) {
      case "caching-mode":
        out.cachingMode = parseBool(k, v);
        break;
      case "aw-bits":
        if (!/^\d+$/.test(v)) throw new CmdlineError(`Parameter 'aw-bits' expects uint8`);
        out.awBits = Number(v);
        break;
      case "device-iotlb":
        out.deviceIotlb = parseBool(k, v);
        break;
      case "x-scalable-mode":
        out.scalableMode = parseBool(k, v);
        break;
      case "intremap":
        out.intremap = v !== "off";
        break;
      case "pt":
        out.passThrough = parseBool(k, v);
        break;
      case "dma-drain":
        out.dmaDrain = parseBool(k, v);
        break;
      case "id":
        break;
      default:
        throw new CmdlineError(`intel-iommu property '${k}' is not modelled`);
    }
  }
  return out;
}

/** A `-device` option's driver and properties as a PCI function description. */
export function deviceSpec(driver: string, props: Map<string, string>): Q35DeviceSpec {
  const rest: Record<string, string> = {};
  let id: string | undefined;
  let slot: number | undefined;
  let fn: number | undefined;
  let bus: string | undefined;
  for (const [k, v] of props) {
    if (k === "id") id = v;
    else if (k === "addr") {
      const m = /^(?:0x)?([0-9a-f]{1,2})(?:\.([0-7]))?$/i.exec(v);
      if (!m) throw new CmdlineError(`Property '${driver}.addr' doesn't take value '${v}'`);
      slot = Number.parseInt(m[1], 16);
      fn = m[2] === undefined ? undefined : Number(m[2]);
    } else if (k === "bus") bus = v;
    else if (isPciBridgeDriver(driver) && PORT_NUMBERING.has(k)) {
      // Chassis, slot and port numbers name hot-plug slots: no part of the DMA path.
    } else rest[k] = v;
  }
  return {
    driver,
    ...(id === undefined ? {} : { id }),
    ...(bus === undefined ? {} : { bus }),
    ...(slot === undefined ? {} : { slot }),
    ...(fn === undefined ? {} : { function: fn }),
    properties: rest,
  };
}

/** What a machine's command-line reader adds to the options every machine shares. */
export interface MachineCommandLine {
  /** The emulator binary's name, and the refusal of another. */
  readonly binary: RegExp;
  readonly otherBinary: (name: string) => string;
  /** The machine named in a refusal of memory hot-plug (`q35`, `arm virt`). */
  readonly machineName: string;
  /** The most CPUs `-smp` may ask for. */
  readonly maxCpus: number;
  /** A `-M` property other than `accel`, in the order written. */
  readonly machineProperty: (key: string, value: string) => void;
  /** A `-device`, in the order written. */
  readonly device: (driver: string, props: Map<string, string>) => void;
}

/**
 * Walks QEMU's argv (the binary first, or not): skips the options that do not change the modelled
 * machine, reads `-M` (its type; `accel` must be TCG or qtest), `-m` and `-smp`, hands machine
 * properties and devices to the machine's reader as they come, and refuses anything else.
 */
export function readCommandLine(
  argv: readonly string[],
  reader: MachineCommandLine,
): { machine: string | undefined; memory: bigint | undefined; smp: number | undefined } {
  let machine: string | undefined;
  let memory: bigint | undefined;
  let smp: number | undefined;
  let i = 0;
  if (argv[0] && !argv[0].startsWith("-")) {
    if (!reader.binary.test(argv[0])) throw new CmdlineError(reader.otherBinary(argv[0]));
    i = 1;
  }
  for (; i < argv.length; i++) {
    const a = argv[i];
    const value = argv[i + 1];
    const needValue = () => {
      if (value === undefined) throw new CmdlineError(`option ${a} needs an argument`);
      i++;
      return value;
    };
    if (SKIPPED.has(a)) continue;
    if (SKIPPED_WITH_ARG.has(a)) {
      const v = needValue();
      if (a === "-accel" && !v.startsWith("tcg") && !v.startsWith("qtest")) {
        throw new CmdlineError(`-accel ${v}: only TCG and qtest are modelled`);
      }
      continue;
    }
    switch (a) {
      case "-M":
      case "-machine": {
        const [type, props] = splitOptions(needValue());
        machine = type;
        for (const [k, v] of props) {
          if (k !== "accel") reader.machineProperty(k, v);
          else if (v !== "tcg" && v !== "qtest") {
            throw new CmdlineError(`-M accel=${v}: only TCG and qtest are modelled`);
          }
        }
        break;
      }
      case "-m": {
        const [size, props] = splitOptions(needValue());
        memory = parseSize(size.replace(/^size=/, ""), 1n << 20n);
        for (const k of props.keys()) {
          if (k === "size") memory = parseSize(props.get(k)!, 1n << 20n);
          else {
            throw new CmdlineError(
              `-m ${k}: memory hot-plug is not modelled on ${reader.machineName}`,
            );
          }
        }
        break;
      }
      case "-smp": {
        const [n, props] = splitOptions(needValue());
        const cpus = props.get("cpus") ?? n;
        if (!/^\d+$/.test(cpus) || Number(cpus) < 1 || Number(cpus) > reader.maxCpus) {
          throw new CmdlineError(`-smp ${cpus}: expected a CPU count`);
        }
        smp = Number(cpus);
        break;
      }
      case "-device": {
        const [driver, props] = splitOptions(needValue());
        reader.device(driver, props);
        break;
      }
      default:
        throw new CmdlineError(`option ${a} is not modelled`);
    }
  }
  return { machine, memory, smp };
}

/** Builds a q35 description from QEMU's argv (the binary first, or not). */
export function q35ConfigFromArgv(argv: readonly string[]): Q35Config {
  let intelIommu: IntelIommuOptions | undefined;
  let amdIommu = false;
  const devices: Q35DeviceSpec[] = [];
  const { machine, memory, smp } = readCommandLine(argv, {
    binary: /qemu-system-(x86_64|i386)$/,
    otherBinary: (name) => `binary ${name}: only qemu-system-x86_64 is modelled`,
    machineName: "q35",
    maxCpus: 288,
    // q35's own properties change nothing the model covers.
    machineProperty: () => {},
    device: (driver, props) => {
      if (driver === "intel-iommu") {
        if (intelIommu || amdIommu) throw new CmdlineError("only one IOMMU may be specified");
        intelIommu = intelIommuOptions(props);
      } else if (driver === "amd-iommu") {
        if (intelIommu || amdIommu) throw new CmdlineError("only one IOMMU may be specified");
        for (const k of props.keys()) {
          if (k !== "id") throw new CmdlineError(`amd-iommu property '${k}' is not modelled`);
        }
        amdIommu = true;
      } else devices.push(deviceSpec(driver, props));
    },
  });
  // Which pc-q35-X.Y the modelled QEMU has is the machine's to say (it differs by release).
  if (machine !== "q35" && !machine?.startsWith("pc-q35-")) {
    throw new CmdlineError(`machine '${machine ?? "pc"}': only q35 is modelled for x86`);
  }
  return {
    ...(machine === "q35" ? {} : { machineType: machine }),
    ...(memory === undefined ? {} : { memory }),
    ...(smp === undefined ? {} : { smp }),
    ...(intelIommu === undefined ? {} : { intelIommu }),
    ...(amdIommu ? { amdIommu } : {}),
    devices,
  };
}
