/**
 * A QEMU command line (the text of a shell command, as a user would paste it) read into the
 * machine part of a scenario, as plain data: `-M`, `-m`, `-smp`, the PCI host bridges and
 * devices iova models, `-global spapr-pci-host-bridge.*`. What iova does not model is listed,
 * never guessed at.
 */

import type { MachineSpec } from "../scenario/schema.ts";

/** A command line that cannot be read, with the 1-based line of the file. */
export class CommandLineError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
    this.name = "CommandLineError";
  }
}

/** The machine a command line describes. */
export interface TracedMachine {
  /** The scenario's `machine:` section (plain data). */
  readonly machine: Record<string, unknown>;
  /** The scenario's `host:` section when vfio-pci devices are assigned. */
  readonly host?: Record<string, unknown>;
  /** Options and devices that are not modelled, as written. */
  readonly ignored: readonly string[];
  /** Whether KVM accelerates the guest (then KVM may handle hypercalls without tracing them). */
  readonly kvm: boolean;
}

/** Splits shell text into words: quotes, backslashes, line continuations, `#` comments. */
export function shellWords(text: string): { word: string; line: number }[] {
  const words: { word: string; line: number }[] = [];
  let word: string | undefined;
  let line = 1;
  let wordLine = 1;
  const start = () => {
    if (word === undefined) {
      word = "";
      wordLine = line;
    }
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") line++;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (word !== undefined) words.push({ word, line: wordLine });
      word = undefined;
      continue;
    }
    if (c === "#" && word === undefined) {
      while (i + 1 < text.length && text[i + 1] !== "\n") i++;
      continue;
    }
    if (c === "\\") {
      const next = text[i + 1];
      i++;
      if (next === "\n") {
        line++;
        continue;
      }
      if (next === undefined)
        throw new CommandLineError(line, "a backslash at the end of the text");
      start();
      word += next;
      continue;
    }
    if (c === "'") {
      start();
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new CommandLineError(line, "an unclosed single quote");
      const quoted = text.slice(i + 1, end);
      for (const ch of quoted) if (ch === "\n") line++;
      word += quoted;
      i = end;
      continue;
    }
    if (c === '"') {
      start();
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\n") line++;
        if (text[j] === "\\" && j + 1 < text.length && '"\\$`\n'.includes(text[j + 1])) {
          j++;
          if (text[j] === "\n") {
            line++;
            continue;
          }
        }
        word += text[j];
      }
      if (j >= text.length) throw new CommandLineError(line, "an unclosed double quote");
      i = j;
      continue;
    }
    start();
    word += c;
  }
  if (word !== undefined) words.push({ word, line: wordLine });
  return words;
}

/** Options that take no argument. */
const FLAGS = new Set([
  "-nodefaults",
  "-nographic",
  "-S",
  "-no-reboot",
  "-no-shutdown",
  "-snapshot",
  "-enable-kvm",
  "-daemonize",
  "-no-user-config",
  "-s",
]);

/** Options that do not change the DMA path. */
const NEUTRAL = new Set([
  "-accel",
  "-nodefaults",
  "-nographic",
  "-S",
  "-no-reboot",
  "-no-shutdown",
  "-kernel",
  "-initrd",
  "-append",
  "-serial",
  "-qmp",
  "-trace",
  "-D",
  "-d",
  "-msg",
  "-display",
  "-name",
  "-monitor",
  "-chardev",
  "-cpu",
  "-bios",
  "-boot",
  "-rtc",
  "-pidfile",
  "-daemonize",
  "-qtest",
  "-L",
  "-vga",
  "-no-user-config",
  "-snapshot",
  "-drive",
  "-blockdev",
  "-netdev",
  "-nic",
  "-s",
  "-gdb",
  "-vnc",
  "-uuid",
]);

const SIZE = /^(\d+)([kKmMgGtT]?)[bB]?$/;
const UNIT: Record<string, bigint> = { k: 10n, m: 20n, g: 30n, t: 40n };

/** A size as QEMU's -m reads it: a plain number is MiB. */
function memorySize(text: string, line: number): bigint {
  const m = SIZE.exec(text);
  if (!m) throw new CommandLineError(line, `-m: expected a size like 4G or 4096; got '${text}'`);
  const unit = m[2].toLowerCase() || "m";
  return BigInt(m[1]) << UNIT[unit];
}

/** A number as QEMU's properties read it (decimal, 0x hex, or a size with K/M/G/T). */
function propertyNumber(text: string, what: string, line: number): bigint {
  if (/^0x[0-9a-f]+$/i.test(text)) return BigInt(text);
  const m = SIZE.exec(text);
  if (!m) throw new CommandLineError(line, `${what}: expected a number; got '${text}'`);
  return m[2] ? BigInt(m[1]) << UNIT[m[2].toLowerCase()] : BigInt(m[1]);
}

function onOff(text: string, what: string, line: number): boolean {
  if (["on", "true", "yes"].includes(text)) return true;
  if (["off", "false", "no"].includes(text)) return false;
  throw new CommandLineError(line, `${what}: expected on or off; got '${text}'`);
}

/** `driver,key=value,...` (`,,` is a literal comma, as QEMU reads it). */
function options(text: string): { head: string; props: Map<string, string> } {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "," && text[i + 1] === ",") {
      cur += ",";
      i++;
    } else if (text[i] === ",") {
      parts.push(cur);
      cur = "";
    } else cur += text[i];
  }
  parts.push(cur);
  const [head, ...rest] = parts;
  const props = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf("=");
    props.set(eq < 0 ? p : p.slice(0, eq), eq < 0 ? "on" : p.slice(eq + 1));
  }
  return { head, props };
}

const PHB_PROPS = ["ddw", "dma_win_addr", "dma_win_size", "dma64_win_addr", "pgsz"] as const;

function phbProp(key: string, value: string, line: number): unknown {
  return key === "ddw" ? onOff(value, key, line) : propertyNumber(value, key, line);
}

/** Reads a QEMU command line. */
export function parseCommandLine(text: string): TracedMachine {
  const words = shellWords(text);
  const ignored: string[] = [];
  let type = "pseries";
  let memory = 512n << 20n;
  let maxmem: bigint | undefined;
  let smp: number | undefined;
  let kvm = false;
  const phbs: { id?: string; spec: Record<string, unknown> }[] = [];
  const globals: Record<string, unknown> = {};
  const devices: { bus?: string; spec: Record<string, unknown> }[] = [];
  let vfio = false;
  let i = 0;
  if (words.length && !words[0].word.startsWith("-")) {
    const binary = words[0].word;
    if (!/qemu-system-ppc64(\.exe)?$/.test(binary))
      throw new CommandLineError(
        words[0].line,
        `expected a qemu-system-ppc64 command line; got '${binary}'`,
      );
    i = 1;
  }
  for (; i < words.length; i++) {
    const { word, line } = words[i];
    const opt = word.startsWith("--") ? word.slice(1) : word;
    if (!opt.startsWith("-")) throw new CommandLineError(line, `expected an option; got '${word}'`);
    if (FLAGS.has(opt)) {
      if (opt === "-enable-kvm") kvm = true;
      else if (!NEUTRAL.has(opt)) ignored.push(opt);
      continue;
    }
    const arg = words[i + 1];
    if (!arg) throw new CommandLineError(line, `${opt} needs an argument`);
    i++;
    const value = arg.word;
    switch (opt) {
      case "-M":
      case "-machine": {
        const { head, props } = options(value);
        const t = head.includes("=") ? (head.startsWith("type=") ? head.slice(5) : "") : head;
        if (t && !/^pseries(-\d+\.\d+)?$/.test(t))
          throw new CommandLineError(arg.line, `-M: iova models pseries machines; got '${t}'`);
        if (t) type = t;
        for (const [k, v] of props) {
          if (k === "accel") kvm = v.split(":")[0] === "kvm";
          else if (k === "type") type = v;
          else ignored.push(`-M ${k}=${v}`);
        }
        continue;
      }
      case "-accel":
        if (options(value).head === "kvm") kvm = true;
        continue;
      case "-m": {
        const { head, props } = options(value);
        const sizeText = head.startsWith("size=") ? head.slice(5) : head;
        if (sizeText) memory = memorySize(sizeText, arg.line);
        for (const [k, v] of props) {
          if (k === "size") memory = memorySize(v, arg.line);
          else if (k === "maxmem") maxmem = memorySize(v, arg.line);
          else if (k !== "slots") ignored.push(`-m ${k}=${v}`);
        }
        continue;
      }
      case "-smp": {
        const m = /^(?:cpus=)?(\d+)/.exec(value);
        if (!m)
          throw new CommandLineError(arg.line, `-smp: expected a number of CPUs; got '${value}'`);
        smp = Number(m[1]);
        continue;
      }
      case "-global": {
        const m = /^spapr-pci-host-bridge\.([a-z0-9_]+)=(.*)$/.exec(value);
        if (m && (PHB_PROPS as readonly string[]).includes(m[1]))
          globals[m[1]] = phbProp(m[1], m[2], arg.line);
        else ignored.push(`-global ${value}`);
        continue;
      }
      case "-device": {
        const { head, props } = options(value);
        if (head === "spapr-pci-host-bridge") {
          const index = props.get("index");
          if (index === undefined)
            throw new CommandLineError(arg.line, "-device spapr-pci-host-bridge needs index=N");
          const spec: Record<string, unknown> = {
            index: Number(propertyNumber(index, "index", arg.line)),
          };
          for (const [k, v] of props) {
            if ((PHB_PROPS as readonly string[]).includes(k)) spec[k] = phbProp(k, v, arg.line);
            else if (k !== "index" && k !== "id")
              ignored.push(`-device spapr-pci-host-bridge ${k}=${v}`);
          }
          phbs.push({ id: props.get("id"), spec });
        } else if (head === "qemu-xhci" || head === "vfio-pci") {
          const spec: Record<string, unknown> = { driver: head };
          if (props.has("id")) spec.id = props.get("id");
          if (props.has("addr"))
            spec.slot = Number.parseInt((props.get("addr") ?? "").split(".")[0], 16);
          if (head === "vfio-pci") {
            if (!props.has("host"))
              throw new CommandLineError(
                arg.line,
                "-device vfio-pci needs host=DDDD:BB:SS.F (sysfsdev is not modelled)",
              );
            spec.host = props.get("host");
            vfio = true;
          }
          for (const k of props.keys())
            if (!["id", "addr", "host", "bus"].includes(k))
              ignored.push(`-device ${head} ${k}=${props.get(k)}`);
          devices.push({ bus: props.get("bus"), spec });
        } else {
          ignored.push(`-device ${head}`);
        }
        continue;
      }
      default:
        if (!NEUTRAL.has(opt)) ignored.push(`${opt} ${value}`);
    }
  }
  // A PHB's bus is `pci.N` (N counts PHBs without an id, the machine's own first) or `ID.0`.
  const busIndex = new Map<string, number>([["pci.0", 0]]);
  let anonymous = 1;
  for (const p of phbs) {
    if (p.id) busIndex.set(`${p.id}.0`, p.spec.index as number);
    else busIndex.set(`pci.${anonymous++}`, p.spec.index as number);
  }
  const machine: Record<string, unknown> = { type, memory };
  if (maxmem !== undefined) machine.maxmem = maxmem;
  if (smp !== undefined) machine.smp = smp;
  if (phbs.length) machine.phbs = phbs.map((p) => p.spec);
  if (Object.keys(globals).length) machine.phb_globals = globals;
  const devs = devices.map((d) => {
    if (d.bus === undefined) return d.spec;
    const index = busIndex.get(d.bus);
    if (index === undefined) {
      ignored.push(
        `bus=${d.bus} of ${String(d.spec.driver)} (not a PHB's bus; put on the first PHB)`,
      );
      return d.spec;
    }
    return { ...d.spec, bus: index };
  });
  if (devs.length) machine.devices = devs;
  return { machine, ...(vfio ? { host: { iommu: "spapr-tce-v2" } } : {}), ignored, kvm };
}

const sizeWord = (bytes: bigint): string => {
  for (const [unit, shift] of [
    ["T", 40n],
    ["G", 30n],
    ["M", 20n],
  ] as const) {
    if (bytes % (1n << shift) === 0n) return `${bytes >> shift}${unit}`;
  }
  return `${bytes}B`;
};

/** A scenario's machine as the QEMU command line that builds it (what `parseCommandLine` reads). */
export function machineCommandLine(spec: MachineSpec): string {
  const args: string[] = [
    "qemu-system-ppc64",
    "-M",
    spec.machineType ?? "pseries",
    "-accel",
    "tcg",
  ];
  args.push(
    "-m",
    spec.maxMemory
      ? `${sizeWord(spec.memory)},maxmem=${sizeWord(spec.maxMemory)}`
      : sizeWord(spec.memory),
  );
  if (spec.smp !== undefined && spec.smp !== 1) args.push("-smp", String(spec.smp));
  const phbProps = (p: Record<string, unknown>) =>
    Object.entries({
      ddw: p.ddw,
      dma_win_addr: p.dmaWinAddr,
      dma_win_size: p.dmaWinSize,
      dma64_win_addr: p.dma64WinAddr,
      pgsz: p.pgsz,
    })
      .filter(([, v]) => v !== undefined)
      .map(
        ([k, v]) =>
          `${k}=${typeof v === "boolean" ? (v ? "on" : "off") : `0x${(v as bigint).toString(16)}`}`,
      );
  for (const g of phbProps((spec.phbGlobals ?? {}) as Record<string, unknown>))
    args.push("-global", `spapr-pci-host-bridge.${g}`);
  for (const p of spec.phbs ?? [])
    args.push(
      "-device",
      [
        "spapr-pci-host-bridge",
        `index=${p.index}`,
        `id=phb${p.index}`,
        ...phbProps(p as unknown as Record<string, unknown>),
      ].join(","),
    );
  for (const d of spec.devices) {
    const props = [d.driver];
    if (d.id) props.push(`id=${d.id}`);
    if (d.host) props.push(`host=${d.host}`);
    if (d.bus) props.push(`bus=phb${d.bus}.0`);
    if (d.slot !== undefined) props.push(`addr=${d.slot.toString(16)}`);
    args.push("-device", props.join(","));
  }
  return `${args.map((a) => (/^[A-Za-z0-9_.,:/=@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ")}\n`;
}
