/**
 * The scenario format, defined once. From these zod definitions come the loader's validation
 * (load.ts), the TypeScript types below (z.output), schema/scenario.schema.json
 * (scripts/gen-scenario-schema.ts, z.toJSONSchema) and the reference tables in
 * docs/scenario-reference.md (generated from the descriptions).
 *
 * Leaves are written for YAML: numbers arrive as bigints (exact to 2^64), as floats (refused), or
 * as strings ("0x1000", "2G"); each leaf says in its own words what it expected. Rules JSON Schema
 * cannot state are tagged with a name in `LOADER_ONLY_RULES`.
 */

import { z } from "zod";
import { Errno, errnoByName } from "../host/errno.ts";
import type { DmaStatus } from "../iommu/dma.ts";
import { type Behaviour, BEHAVIOURS as MACHINE_BEHAVIOURS } from "../machine/behaviour.ts";
import { pseriesCompat, pseriesRange, q35Compat, q35Range } from "../machine/machine-type.ts";
import type { PseriesConfig } from "../machine/pseries.ts";
import { isQemuLine, QEMU_LINES, type QemuLine } from "../machine/qemu-line.ts";
import { SIZE_2_64 } from "../memory/int.ts";
import { parseTranscript, type TranscriptLine } from "../qtest/transcript.ts";
import { RTAS_CALLS } from "../spapr/rtas.ts";
import { FloatScalar, parseNumber } from "./reader.ts";

/**
 * Rules the loader checks that JSON Schema cannot express; they are the only places where an
 * editor using schema/scenario.schema.json may accept what the loader refuses.
 */
export const LOADER_ONLY_RULES = {
  "whole-number":
    "an integer written as 8.0 or 1e9 is refused (JSON has one number type, so the schema takes it)",
  "number-text":
    "bounds, powers of two and multiples of a number written as a string (quoted, or with K/M/G/T)",
  "exact-range": "bounds beyond 2^53, where JSON numbers are no longer exact",
  "power-of-two": "page sizes are powers of two",
  "machine-version":
    "pseries-X.Y exists only for 2.1 to 7.2 under QEMU 7.2, and for 3.0 to 10.0 under QEMU 10.0; pc-q35-X.Y for 2.4 to the release",
  "qemu-as-written":
    "qemu given as a number is read as written: 10.0 (or 7.2), not 10 (JSON numbers cannot tell the two apart)",
  "machine-devices":
    "a device's driver and properties are ones its machine has (as listed in DEVICE_DRIVERS)",
  "maxmem-at-least-memory": "maxmem is at least memory",
  "unique-phb-index": "PHB indexes are unique",
  "device-bus": "a device's bus names a PHB in machine.phbs",
  "device-ids":
    "device ids are unique, and steps name devices plugged at that point (cross-references)",
  "data-size": "data holds at most 16 MiB",
  "range-order": "a reserved IOVA range ends at or after its start",
} as const;

/** A rule of `LOADER_ONLY_RULES`. */
export type LoaderOnlyRule = keyof typeof LOADER_ONLY_RULES;

/** What a leaf found wrong. */
class Problem {
  constructor(
    readonly message: string,
    readonly rule?: LoaderOnlyRule,
  ) {}
}

type Json = Record<string, unknown>;

/** JSON Schema's if/then/else (the key is built: a literal `then` key reads as a thenable). */
const THEN = ["th", "en"].join("");
const ifThen = (condition: Json, yes: Json, no?: Json): Json => ({
  if: condition,
  [THEN]: yes,
  ...(no ? { else: no } : {}),
});

/** A leaf: parses one YAML value, or says what it expected; `json` is its JSON Schema. */
function leaf<T>(json: Json, parse: (value: unknown) => T | Problem) {
  return z
    .unknown()
    .transform((value, ctx): T => {
      const r = parse(value);
      if (r instanceof Problem) {
        ctx.addIssue({
          code: "custom",
          message: r.message,
          input: value,
          params: r.rule ? { leaf: true, rule: r.rule } : { leaf: true },
        });
        return z.NEVER;
      }
      return r;
    })
    .meta(json);
}

const isScalar = (v: unknown) =>
  v === null || v instanceof FloatScalar || (typeof v !== "object" && typeof v !== "function");

const NUMBER_TEXT = "^\\s*(0x[0-9a-fA-F]+|[0-9]+)\\s*$";
const SIZE_TEXT = "^\\s*(0x[0-9a-fA-F]+|[0-9]+[KMGTkmgt]?)\\s*$";

interface NumberOptions {
  readonly sizes?: boolean;
  readonly min?: bigint;
  readonly max?: bigint;
  readonly powerOfTwo?: boolean;
  readonly multipleOf?: bigint;
}

/** Reads a YAML number: a bigint, "123", "0x7b", and with `sizes` "2G"; floats are refused. */
function readNumber(value: unknown, what: string, o: NumberOptions): bigint | Problem {
  const form = o.sizes ? "a number like 4096, 0x1000 or 2G" : "a whole number, decimal or 0x hex";
  if (!isScalar(value)) return new Problem(`expected ${what} (a number)`);
  let v: bigint | undefined;
  if (typeof value === "bigint") v = value;
  else if (typeof value === "string") v = parseNumber(value, o.sizes ?? false);
  else if (value instanceof FloatScalar) {
    const whole = Number.isInteger(value.value);
    return new Problem(
      `expected ${what} as ${form}; got ${value.text}${whole ? ", which is written as a floating-point number" : ""}`,
      whole ? "whole-number" : undefined,
    );
  }
  if (v === undefined) return new Problem(`expected ${what} as ${form}`);
  const text = typeof value === "string";
  const min = o.min ?? 0n;
  const max = o.max ?? (o.sizes ? SIZE_2_64 : SIZE_2_64 - 1n);
  if (v < min || v > max) {
    // JSON Schema sees this integer as a double: past 2^53 it may not tell it is out of range.
    const asDouble = Number(v) >= Number(min) && Number(v) <= Number(max);
    return new Problem(
      `${what} ${v < 0n ? v : `0x${v.toString(16)}`} is out of range 0x${min.toString(16)}..0x${max.toString(16)}`,
      text ? "number-text" : asDouble ? "exact-range" : undefined,
    );
  }
  if (o.powerOfTwo && (v & (v - 1n)) !== 0n)
    return new Problem(`${what} must be a power of two`, text ? "number-text" : "power-of-two");
  if (o.multipleOf !== undefined && v % o.multipleOf !== 0n)
    return new Problem(
      `${what} must be a multiple of ${sizeText(o.multipleOf)}`,
      text ? "number-text" : undefined,
    );
  return v;
}

function sizeText(v: bigint): string {
  for (const [s, n] of [
    ["T", 40n],
    ["G", 30n],
    ["M", 20n],
    ["K", 10n],
  ] as const)
    if (v >= 1n << n && v % (1n << n) === 0n) return `${v >> n}${s}`;
  return String(v);
}

function numberJson(o: NumberOptions): Json {
  const min = o.min ?? 0n;
  const max = o.max ?? (o.sizes ? SIZE_2_64 : SIZE_2_64 - 1n);
  return {
    anyOf: [
      {
        type: "integer",
        minimum: Number(min),
        maximum: Number(max),
        ...(o.multipleOf !== undefined ? { multipleOf: Number(o.multipleOf) } : {}),
      },
      { type: "string", pattern: o.sizes ? SIZE_TEXT : NUMBER_TEXT },
    ],
  };
}

/** An unsigned integer exact to 2^64 (decimal or 0x hex; sizes also take K/M/G/T). */
const u64 = (what: string, o: NumberOptions = {}) =>
  leaf(numberJson(o), (v) => readNumber(v, what, o));

/** A small integer in [min, max]. */
const int = (what: string, min: number, max: number) =>
  leaf(numberJson({ min: BigInt(min), max: BigInt(max) }), (v) => {
    const n = readNumber(v, what, { min: BigInt(min), max: BigInt(max) });
    return n instanceof Problem ? n : Number(n);
  });

/** A signed 32-bit word: negative, or unsigned up to 2^32 - 1 (read as the signed word). */
function readSigned(v: unknown, what: string): number | Problem {
  if (typeof v === "bigint" && v < 0n) {
    if (v < -(2n ** 31n)) return new Problem(`${what} is out of range`);
    return Number(v);
  }
  const n = readNumber(v, what, { max: 0xffffffffn });
  return n instanceof Problem ? n : Number(n);
}
const SIGNED_JSON: Json = {
  anyOf: [
    { type: "integer", minimum: -(2 ** 31), maximum: 2 ** 32 - 1 },
    { type: "string", pattern: NUMBER_TEXT },
  ],
};

const str = (what: string) =>
  leaf({ type: "string" }, (v) => {
    if (!isScalar(v)) return new Problem(`expected ${what}`);
    return typeof v === "string" ? v : new Problem(`expected ${what} as a string`);
  });

const words = <T extends string>(what: string, list: readonly T[]) =>
  leaf({ enum: [...list] }, (v): T | Problem => {
    if (!isScalar(v)) return new Problem(`expected ${what} (one of: ${list.join(", ")})`);
    if (typeof v !== "string" || !list.includes(v as T))
      return new Problem(`expected ${what} to be one of: ${list.join(", ")}; got '${show(v)}'`);
    return v as T;
  });

const bool = (what: string) =>
  leaf({ type: "boolean" }, (v) => {
    if (!isScalar(v)) return new Problem(`expected ${what} (true or false)`);
    return typeof v === "boolean" ? v : new Problem(`expected ${what} to be true or false`);
  });

function show(v: unknown): string {
  return v instanceof FloatScalar ? v.text : String(v);
}

/** A string matching a pattern checked by hand (so the loader does not depend on regex engines). */
const patterned = (what: string, pattern: RegExp, example: string, lower = false) =>
  leaf({ type: "string", pattern: pattern.source }, (v) => {
    if (!isScalar(v)) return new Problem(`expected ${what}`);
    if (typeof v !== "string") return new Problem(`expected ${what} as a string`);
    if (!pattern.test(v)) return new Problem(`expected ${example}; got '${v}'`);
    return lower ? v.toLowerCase() : v;
  });

const deviceId = (what = "a device id") =>
  patterned(
    what,
    /^[A-Za-z][A-Za-z0-9_.-]*$/,
    "a device id made of letters, digits, '-', '.', '_' starting with a letter",
  );
const hostAddress = patterned(
  "a host PCI address",
  /^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/,
  'a host PCI address like "0001:01:00.0"',
  true,
);

/** The value of a hex digit's character code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
const isSpace = (c: string) => c === "_" || /\s/.test(c);

/** Hex bytes: an optional 0x, then pairs of hex digits; spaces and '_' between digits are ignored. */
function readHex(v: unknown, what: string, atLeastOne: boolean): Uint8Array | Problem {
  const expected = `expected ${what} as hex bytes in quotes, like "deadbeef"`;
  if (!isScalar(v)) return new Problem(`${what} (hex bytes in quotes, like "deadbeef")`);
  if (typeof v !== "string") return new Problem(expected);
  const start = v.startsWith("0x") ? 2 : 0;
  // Two passes, so that 16 MiB of data costs 16 MiB and not an array of digits.
  let digits = 0;
  for (let i = start; i < v.length; i++) {
    if (hexValue(v.charCodeAt(i)) >= 0) digits++;
    else if (!isSpace(v[i])) return new Problem(expected);
  }
  if (digits % 2 !== 0 || (atLeastOne && digits === 0)) return new Problem(expected);
  if (digits / 2 > 1 << 24) return new Problem(`${what} must hold 1 byte to 16 MiB`, "data-size");
  const out = new Uint8Array(digits / 2);
  let n = 0;
  for (let i = start; i < v.length; i++) {
    const d = hexValue(v.charCodeAt(i));
    if (d < 0) continue;
    if (n % 2 === 0) out[n >> 1] = d << 4;
    else out[n >> 1] |= d;
    n++;
  }
  return out;
}
const HEX_SEP = "[\\s_]*";
const hexJson = (atLeastOne: boolean): Json => ({
  type: "string",
  pattern: `^(0x)?${HEX_SEP}([0-9a-fA-F]${HEX_SEP}[0-9a-fA-F]${HEX_SEP})${atLeastOne ? "+" : "*"}$`,
});
const hexData = (what: string, atLeastOne: boolean) =>
  leaf(hexJson(atLeastOne), (v) => readHex(v, what, atLeastOne));

/** What the loader calls each map (in `X needs 'key'`, `unknown key 'k' in X`). */
export interface MapName {
  readonly what: string;
  /** A message for an unknown key, when the generic one would say less. */
  readonly unknownKey?: (key: string, allowed: readonly string[]) => string;
}
/** Map names by schema (clones made by refinements find their original's), for the loader. */
export const MAP_NAMES = z.registry<MapName>();

/** A map with exactly these keys (each optional unless its schema requires it). */
function map<S extends z.ZodRawShape>(name: string | MapName, shape: S) {
  const schema = z.strictObject(shape);
  MAP_NAMES.add(schema, typeof name === "string" ? { what: name } : name);
  return schema;
}

/** The issue a cross-field rule raises. */
function issue(
  ctx: z.RefinementCtx,
  path: readonly PropertyKey[],
  message: string,
  rule?: LoaderOnlyRule,
  at?: "key",
) {
  ctx.addIssue({ code: "custom", path: [...path], message, params: { rule, at } });
}

const has = (o: object, k: string) => (o as Record<string, unknown>)[k] !== undefined;
const needs = (what: string, keys: readonly string[]) => (o: object, ctx: z.RefinementCtx) => {
  for (const k of keys) if (!has(o, k)) issue(ctx, [], `${what} needs '${k}'`);
};

// ---------------------------------------------------------------------------------------------
// Machine

/** The words of `behaviour`: the machine layer owns the list (`machine/behaviour.ts`). */
const BEHAVIOURS = MACHINE_BEHAVIOURS as readonly Behaviour[] as readonly [
  Behaviour,
  ...Behaviour[],
];

export type { Behaviour };

/** The machine families a scenario can build: POWER's pseries and x86's q35. */
export const MACHINE_FAMILIES = ["pseries", "q35"] as const;
/** A machine family. */
export type MachineFamily = (typeof MACHINE_FAMILIES)[number];

/** q35's machine types by name (whether the release has the version is the loader's check). */
const Q35_TYPE_PATTERN = "^(q35|pc-q35-[0-9]+\\.[0-9]+(\\.[0-9]+)?)$";
const Q35_TYPE = new RegExp(Q35_TYPE_PATTERN);

/** The family of a machine type (`pseries`, `pseries-X.Y`, `q35`, `pc-q35-X.Y`). */
export function machineFamily(machineType: string | undefined): MachineFamily {
  return machineType !== undefined && Q35_TYPE.test(machineType) ? "q35" : "pseries";
}

// Whether the type exists under the scenario's `qemu` is checked with it (load.ts).
const machineType = leaf(
  {
    type: "string",
    anyOf: [{ pattern: "^pseries(-[0-9]+\\.[0-9]+)?$" }, { pattern: Q35_TYPE_PATTERN }],
  },
  (v) => {
    if (!isScalar(v)) return new Problem("expected machine type");
    if (typeof v !== "string") return new Problem("expected machine type as a string");
    if (QEMU_LINES.some((line) => pseriesCompat(v, line) || q35Compat(v, line))) return v;
    const ranges = (range: (l: (typeof QEMU_LINES)[number]) => string) =>
      QEMU_LINES.map((l) => `${range(l)} under QEMU ${l}`).join(", ");
    return new Problem(
      `expected machine type pseries, pseries-X.Y (${ranges(pseriesRange)}), q35 or pc-q35-X.Y (${ranges(q35Range)}); got '${v}'`,
      /^(pseries|pc-q35)-[0-9]+\.[0-9]+/.test(v) ? "machine-version" : undefined,
    );
  },
);

/**
 * `qemu:` names a release line. YAML reads an unquoted `10.0` as the number 10, so a number is
 * taken as the text it was written as (`7.2`, `10.0`), never as its value.
 */
const qemuLine = leaf({ enum: [...QEMU_LINES, 7.2, 10] }, (v): QemuLine | Problem => {
  const expected = `expected qemu to be one of: ${QEMU_LINES.join(", ")}`;
  if (!isScalar(v)) return new Problem(expected);
  const text = v instanceof FloatScalar ? v.text : typeof v === "string" ? v : String(v);
  if (isQemuLine(text)) return text;
  // `10` equals `10.0` as a JSON number: the schema takes it, the loader does not.
  const asNumber = typeof v === "bigint" && QEMU_LINES.some((l) => Number(l) === Number(v));
  return new Problem(`${expected}; got '${text}'`, asNumber ? "qemu-as-written" : undefined);
});

const phbFields = {
  ddw: bool("ddw").optional().describe("dynamic DMA windows (QEMU's `ddw` property)"),
  dma_win_addr: u64("dma_win_addr").optional().describe("bus address of the default window"),
  dma_win_size: u64("dma_win_size", { sizes: true, min: 0x1000n, max: 1n << 44n })
    .optional()
    .describe("size of the default 32-bit window"),
  dma64_win_addr: u64("dma64_win_addr").optional().describe("bus address of a DDW"),
  pgsz: u64("pgsz").optional().describe("allowed DDW page sizes: bit n allows 2^n"),
};
type PhbOut = {
  index: number;
  ddw?: boolean;
  dmaWinAddr?: bigint;
  dmaWinSize?: bigint;
  dma64WinAddr?: bigint;
  pgsz?: bigint;
};
function phbOut(p: {
  ddw?: boolean;
  dma_win_addr?: bigint;
  dma_win_size?: bigint;
  dma64_win_addr?: bigint;
  pgsz?: bigint;
}): Omit<PhbOut, "index"> {
  const out: Omit<PhbOut, "index"> = {};
  if (p.ddw !== undefined) out.ddw = p.ddw;
  if (p.dma_win_addr !== undefined) out.dmaWinAddr = p.dma_win_addr;
  if (p.dma_win_size !== undefined) out.dmaWinSize = p.dma_win_size;
  if (p.dma64_win_addr !== undefined) out.dma64WinAddr = p.dma64_win_addr;
  if (p.pgsz !== undefined) out.pgsz = p.pgsz;
  return out;
}

const phb = map("a PHB", {
  index: int("PHB index", 0, 30).describe(
    "0 configures the default PHB; others add `spapr-pci-host-bridge,index=N`",
  ),
  ...phbFields,
}).transform((p): PhbOut => ({ index: p.index, ...phbOut(p) }));

const phbGlobals = map("phb_globals", phbFields).transform(phbOut);

/**
 * The devices a scenario can give, by QEMU's driver name: which machines have them and which of
 * QEMU's `-device` properties iova takes for them (beside `id`, `bus`, `slot`, `function`). A new
 * device is a row here, its properties in `DEVICE_PROPERTIES`, and its model in the machine's
 * device table (`Q35_DRIVERS`, `EMULATED_DRIVERS`).
 */
export const DEVICE_DRIVERS = {
  "qemu-xhci": { machines: ["pseries", "q35"], properties: [], what: "USB controller (emulated)" },
  "vfio-pci": {
    machines: ["pseries", "q35"],
    properties: ["host"],
    what: "a host device assigned to the guest",
  },
  edu: { machines: ["q35"], properties: ["dma_mask"], what: "QEMU's teaching device with DMA" },
  e1000: { machines: ["q35"], properties: [], what: "NIC (emulated)" },
  e1000e: { machines: ["q35"], properties: [], what: "NIC (emulated)" },
  "virtio-net-pci": { machines: ["q35"], properties: [], what: "NIC (emulated)" },
  "intel-iommu": {
    machines: ["q35"],
    properties: [
      "caching-mode",
      "aw-bits",
      "intremap",
      "pt",
      "dma-drain",
      "device-iotlb",
      "x-scalable-mode",
    ],
    what: "VT-d (not a PCI function: no slot)",
  },
  "amd-iommu": {
    machines: ["q35"],
    properties: [],
    what: "AMD-Vi (refuses vfio-pci, as QEMU 7.2)",
  },
  "virtio-iommu-pci": {
    machines: ["q35"],
    properties: ["boot-bypass", "granule", "aw-bits"],
    what: "virtio-iommu (a PCI function; the guest drives it with `virtio_iommu` steps)",
  },
} as const satisfies Record<
  string,
  { machines: readonly MachineFamily[]; properties: readonly string[]; what: string }
>;
/** A driver of `DEVICE_DRIVERS`. */
export type DriverName = keyof typeof DEVICE_DRIVERS;
/** The drivers a device may have. */
export const DRIVERS = Object.keys(DEVICE_DRIVERS) as DriverName[];
/** The drivers of a machine family. */
export const driversOf = (family: MachineFamily): DriverName[] =>
  DRIVERS.filter((d) => (DEVICE_DRIVERS[d].machines as readonly string[]).includes(family));
/** Drivers that are not PCI functions (no slot, no hot-plug). */
const NOT_PCI: readonly string[] = ["intel-iommu", "amd-iommu"];

/** QEMU `-device` properties, by name as on QEMU's command line. */
const DEVICE_PROPERTIES = {
  host: hostAddress
    .optional()
    .describe('vfio-pci: the host device\'s address, like "0001:01:00.0"'),
  dma_mask: u64("dma_mask")
    .optional()
    .describe("edu: the DMA address mask (QEMU's default 28 bits, `0xfffffff`)"),
  "caching-mode": bool("caching-mode")
    .optional()
    .describe("intel-iommu: caching mode, which vfio-pci behind it needs")
    .meta({ docDefault: false }),
  "aw-bits": int("aw-bits", 0, 255)
    .optional()
    .describe(
      "intel-iommu: guest address width, 39 or 48 (QEMU refuses others); virtio-iommu-pci (QEMU 10.0 only): the input range's width, 32 to 64 (q35 39, 64 up to pc-q35-8.2)",
    )
    .meta({ docDefault: 39 }),
  intremap: bool("intremap").optional().describe("intel-iommu: interrupt remapping capability"),
  pt: bool("pt")
    .optional()
    .describe("intel-iommu: pass-through contexts (default on; off up to pc-q35-2.9)"),
  "dma-drain": bool("dma-drain")
    .optional()
    .describe("intel-iommu: DMA draining (default on; off up to pc-q35-3.1)"),
  "device-iotlb": bool("device-iotlb")
    .optional()
    .describe("intel-iommu: device IOTLB (ATS); not modelled, `true` is refused"),
  "x-scalable-mode": bool("x-scalable-mode")
    .optional()
    .describe("intel-iommu: scalable mode; not modelled, `true` is refused"),
  granule: words("granule", ["4k", "8k", "16k", "64k", "host"] as const)
    .optional()
    .describe(
      "virtio-iommu-pci (QEMU 10.0 only): the initial page-size mask's granule; `host` (the default) is the host's page, `4k` up to pc-q35-8.2",
    ),
  "boot-bypass": bool("boot-bypass")
    .optional()
    .describe("virtio-iommu-pci: DMA bypasses the IOMMU until the guest attaches the function")
    .meta({ docDefault: true }),
};
type PropertyName = keyof typeof DEVICE_PROPERTIES;
const PROPERTY_NAMES = Object.keys(DEVICE_PROPERTIES) as PropertyName[];

const deviceFields = {
  id: deviceId().optional().describe("names the device in steps (QEMU's `id=`)"),
  // Typed as a string, as the machine's device table is open to more drivers.
  driver: words<string>("driver", DRIVERS).describe(
    "QEMU's driver name: `qemu-xhci` and `vfio-pci` on both machines; on q35 also `edu`, `e1000`, `e1000e`, `virtio-net-pci`, `intel-iommu`, `amd-iommu`, `virtio-iommu-pci`",
  ),
  bus: int("bus (a PHB index)", 0, 30).optional().describe("pseries: the PHB index (default 0)"),
  slot: int("slot", 0, 31).optional().describe("PCI slot (default: the first free)"),
  function: int("function", 0, 7)
    .optional()
    .describe("q35: PCI function (QEMU's `addr=SLOT.FN`; default 0)"),
  ...DEVICE_PROPERTIES,
};
const DEVICE_FORMS: Json = {
  allOf: [
    ifThen({ properties: { driver: { const: "vfio-pci" } } }, { required: ["host"] }),
    ...PROPERTY_NAMES.map((p) =>
      ifThen(
        { required: [p] },
        {
          properties: {
            driver: {
              enum: DRIVERS.filter((d) =>
                (DEVICE_DRIVERS[d].properties as readonly string[]).includes(p),
              ),
            },
          },
        },
      ),
    ),
    ifThen(
      { properties: { driver: { enum: [...NOT_PCI] } } },
      {
        not: { anyOf: [{ required: ["slot"] }, { required: ["function"] }, { required: ["bus"] }] },
      },
    ),
  ],
};
function checkDevice(d: Record<string, unknown> & { driver: string }, ctx: z.RefinementCtx) {
  const row = DEVICE_DRIVERS[d.driver as DriverName];
  if (d.driver === "vfio-pci" && d.host === undefined)
    issue(ctx, [], `a vfio-pci device needs 'host' (like "0001:01:00.0")`);
  for (const p of PROPERTY_NAMES) {
    if (d[p] === undefined || (row.properties as readonly string[]).includes(p)) continue;
    const owners = DRIVERS.filter((x) =>
      (DEVICE_DRIVERS[x].properties as readonly string[]).includes(p),
    );
    issue(
      ctx,
      [p],
      `'${p}' is a property of ${owners.join(", ")}, not of ${d.driver}`,
      undefined,
      "key",
    );
  }
  if (NOT_PCI.includes(d.driver))
    for (const k of ["bus", "slot", "function"])
      if (d[k] !== undefined)
        issue(ctx, [k], `${d.driver} is not a PCI function: it takes no '${k}'`, undefined, "key");
}
const device = map("a device", deviceFields).superRefine(checkDevice).meta(DEVICE_FORMS);

/** A cold-plugged device, emulated or assigned. */
export type MachineDevice = z.output<typeof device>;

/** A device's QEMU properties (beyond id and placement) as command-line text, for the machine. */
export function deviceProperties(
  d: Partial<Record<PropertyName, unknown>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of PROPERTY_NAMES) {
    const v = d[p];
    if (v === undefined) continue;
    out[p] =
      typeof v === "bigint"
        ? `0x${v.toString(16)}`
        : typeof v === "boolean"
          ? v
            ? "on"
            : "off"
          : String(v);
  }
  return out;
}

const machine = map("machine", {
  type: machineType
    .optional()
    .describe(
      "`pseries` (the release's newest: pseries-7.2 under QEMU 7.2, pseries-10.0 under 10.0) or `pseries-X.Y` (2.1 to 7.2 under 7.2, 3.0 to 10.0 under 10.0); `q35` (the release's newest) or `pc-q35-X.Y` (2.4 to the release); with that type's defaults",
    )
    .meta({ docDefault: "pseries" }),
  smp: int("smp", 1, 64)
    .optional()
    .describe("CPUs: one `cpu-memory-N` address space each")
    .meta({ docDefault: 1 }),
  memory: u64("memory", {
    sizes: true,
    min: 1n << 20n,
    max: 1n << 50n,
    multipleOf: 1n << 16n,
  }).describe("guest RAM, a multiple of 64K"),
  maxmem: u64("maxmem", { sizes: true, min: 1n << 20n, max: 1n << 50n })
    .optional()
    .describe("pseries, with memory hot-plug: the device-memory area is `maxmem - memory`"),
  phbs: z
    .array(phb)
    .optional()
    .describe("pseries: PHB settings; PHB 0 always exists, others are added"),
  phb_globals: phbGlobals
    .optional()
    .describe(
      "pseries: the same settings for every PHB (QEMU's `-global spapr-pci-host-bridge.X=Y`)",
    ),
  devices: z.array(device).optional().describe("cold-plugged devices"),
})
  .superRefine((m, ctx) => {
    const family = machineFamily(m.type);
    if (family === "q35") {
      for (const k of ["maxmem", "phbs", "phb_globals"] as const)
        if (m[k] !== undefined)
          issue(
            ctx,
            [k],
            `'${k}' is for pseries machines, not ${m.type}`,
            "machine-devices",
            "key",
          );
    }
    const allowed = driversOf(family);
    (m.devices ?? []).forEach((d, i) => {
      if (!(allowed as string[]).includes(d.driver))
        issue(
          ctx,
          ["devices", i, "driver"],
          `driver ${d.driver} is not on ${family} machines; expected one of: ${allowed.join(", ")}`,
          "machine-devices",
        );
      const wrong = family === "q35" ? "bus" : "function";
      if (d[wrong] !== undefined)
        issue(
          ctx,
          ["devices", i, wrong],
          family === "q35"
            ? "'bus' names a pseries PHB; q35 devices sit on pcie.0"
            : "'function' is for q35 devices",
          "machine-devices",
          "key",
        );
    });
    const iommus = (m.devices ?? []).filter((d) => NOT_PCI.includes(d.driver));
    if (iommus.length > 1)
      issue(ctx, ["devices"], "only one IOMMU may be specified", "machine-devices");
    if (m.maxmem !== undefined && m.maxmem < m.memory)
      issue(
        ctx,
        ["maxmem"],
        `maxmem 0x${m.maxmem.toString(16)} is out of range 0x${m.memory.toString(16)}..0x${(1n << 50n).toString(16)}`,
        "maxmem-at-least-memory",
      );
    const seen = new Set<number>();
    (m.phbs ?? []).forEach((p, i) => {
      if (seen.has(p.index))
        issue(ctx, ["phbs", i], `duplicate PHB index ${p.index}`, "unique-phb-index");
      seen.add(p.index);
    });
    (m.devices ?? []).forEach((d, i) => {
      const bus = d.bus ?? 0;
      if (bus !== 0 && !seen.has(bus))
        issue(
          ctx,
          ["devices", i],
          `device bus ${bus}: no PHB with index ${bus} in machine.phbs`,
          "device-bus",
        );
    });
  })
  .meta(
    ifThen(
      { properties: { type: { pattern: Q35_TYPE_PATTERN } }, required: ["type"] },
      {
        not: {
          anyOf: [{ required: ["maxmem"] }, { required: ["phbs"] }, { required: ["phb_globals"] }],
        },
        properties: {
          devices: {
            items: {
              properties: { driver: { enum: driversOf("q35") } },
              not: { required: ["bus"] },
            },
          },
        },
      },
      {
        properties: {
          devices: {
            items: {
              properties: { driver: { enum: driversOf("pseries") } },
              not: { required: ["function"] },
            },
          },
        },
      },
    ),
  )
  .transform((m) =>
    machineFamily(m.type) === "q35"
      ? {
          family: "q35" as const,
          machineType: m.type as string,
          memory: m.memory,
          smp: m.smp ?? 1,
          devices: m.devices ?? [],
        }
      : {
          family: "pseries" as const,
          machineType: m.type ?? "pseries",
          memory: m.memory,
          maxMemory: m.maxmem,
          smp: m.smp ?? 1,
          phbs: m.phbs ?? [],
          phbGlobals: m.phb_globals,
          devices: m.devices ?? [],
        },
  );

/** The machine part of a scenario: a pseries or a q35 machine. */
export type MachineSpec = z.output<typeof machine>;
/** A pseries machine of a scenario. */
export type PseriesMachineSpec = Extract<MachineSpec, { family: "pseries" }> &
  Omit<PseriesConfig, "devices">;
/** A q35 machine of a scenario. */
export type Q35MachineSpec = Extract<MachineSpec, { family: "q35" }>;

// ---------------------------------------------------------------------------------------------
// Host

/** The host IOMMU backends (VFIO container types). */
export const HOST_IOMMUS = ["spapr-tce-v2", "spapr-tce", "type1"] as const;
/** What a scenario's host offers VFIO: a container type, or QEMU 10's iommufd backend. */
export const HOST_BACKENDS = [...HOST_IOMMUS, "iommufd"] as const;
/** The ioctls an `ioctl` step can make. */
export const IOCTLS = [
  "SET_IOMMU",
  "GET_INFO",
  "ENABLE",
  "DISABLE",
  "REGISTER_MEMORY",
  "UNREGISTER_MEMORY",
  "TCE_CREATE",
  "TCE_REMOVE",
  "MAP_DMA",
  "UNMAP_DMA",
] as const;
/** The ioctls a fault can name: those of `ioctl` steps, and the group attach and detach. */
export const FAULT_IOCTLS = [...IOCTLS, "GROUP_SET_CONTAINER", "GROUP_UNSET_CONTAINER"] as const;
/** The errno names the host kernel model knows. */
export const ERRNO_NAMES = Object.keys(Errno) as (keyof typeof Errno)[];

const fault = map("a fault", {
  ioctl: words("an ioctl name", FAULT_IOCTLS).describe("the ioctl that fails"),
  errno: leaf({ enum: ERRNO_NAMES }, (v) =>
    typeof v === "string" && (ERRNO_NAMES as string[]).includes(v)
      ? v
      : new Problem(
          `expected an errno name like EINVAL, ENOMEM, ENOSPC (one of: ${ERRNO_NAMES.join(", ")}); got '${show(v)}'`,
        ),
  ).describe("its errno, like `EINVAL` or `ENOMEM`"),
  from: int("from (the Nth call)", 1, 2 ** 31 - 1)
    .optional()
    .describe("the first call that fails (1-based; default 1)"),
  once: bool("once").optional().describe("only that call fails, not every one from it on"),
});

const hostSize = (what: string, max: bigint) =>
  u64(what, { sizes: true, min: 0x1000n, max, powerOfTwo: true });

const host = map("host", {
  iommu: words("host iommu", HOST_BACKENDS)
    .optional()
    .describe(
      "`spapr-tce-v2`, `spapr-tce` (v1), `type1` (q35's default), or `iommufd` (QEMU 10's `-object iommufd`, q35 under QEMU 10.0 only; no pseries QEMU has it: the machine does not start)",
    )
    .meta({ docDefault: "spapr-tce-v2 (q35: type1)" }),
  page_size: hostSize("page_size", 1n << 30n)
    .optional()
    .describe("host PAGE_SIZE")
    .meta({ docDefault: "64K (q35: 4K)" }),
  pgsizes: z
    .array(hostSize("an IOMMU page size", 1n << 40n))
    .optional()
    .describe("IOMMU page sizes")
    .meta({ docDefault: "[4K, 64K, 2M, 1G] (q35: [4K, 2M, 1G])" }),
  max_levels: int("max_levels", 1, 5)
    .optional()
    .describe("most TCE table levels")
    .meta({ docDefault: 5 }),
  window_starts: z
    .array(u64("a window start"))
    .optional()
    .describe("bus address of each window slot")
    .meta({ docDefault: "[0, 1<<59]" }),
  memlock_limit: u64("memlock_limit", { sizes: true })
    .optional()
    .describe("RLIMIT_MEMLOCK in bytes")
    .meta({ docDefault: "unlimited" }),
  dma_entry_limit: int("dma_entry_limit", 0, 2 ** 31 - 1)
    .optional()
    .describe("type1: most mappings")
    .meta({ docDefault: 65535 }),
  reserved_iova: z
    .array(
      z
        .tuple([u64("the range's first address"), u64("the range's last address")], {
          error: "expected a reserved range as [first, last]",
        })
        .superRefine(([first, last], ctx) => {
          if (last < first) issue(ctx, [], "a reserved range ends before it starts", "range-order");
        }),
    )
    .optional()
    .describe(
      "type1: IOVA ranges the platform reserves (`[first, last]` each), refused by MAP_DMA and left out of GET_INFO's IOVA ranges",
    )
    .meta({ docDefault: "[[0xfee00000, 0xfeefffff]]" }),
  faults: z
    .array(fault)
    .optional()
    .describe(
      "planned failures: the named ioctl fails with `errno` from its `from`-th call (or only then, with `once`)",
    ),
  ram_page_size: hostSize("ram_page_size", 1n << 34n)
    .optional()
    .describe("page size backing guest RAM (a hugepage size)")
    .meta({ docDefault: "page_size" }),
  ddw: bool("ddw")
    .optional()
    .describe("dynamic windows; without them sPAPR TCE v2 is refused and VFIO falls back to v1")
    .meta({ docDefault: true }),
}).transform((h) => {
  const out: {
    /** Absent: the machine's default (spapr-tce-v2 on pseries, type1 on q35). */
    iommu?: (typeof HOST_BACKENDS)[number];
    pageSize?: bigint;
    pgsizes?: readonly bigint[];
    maxLevels?: number;
    windowStarts?: readonly bigint[];
    memlockLimit?: bigint;
    dmaEntryLimit?: number;
    /** type1: IOVA ranges the platform reserves (both ends included); default x86's MSI window. */
    reservedIova?: readonly (readonly [bigint, bigint])[];
    faults?: readonly {
      ioctl: string;
      errno: string;
      from?: number;
      once?: boolean;
    }[];
    /** The page size backing guest RAM (a hugepage size when RAM is on hugepages). */
    ramPageSize?: bigint;
    /** Whether the host has dynamic DMA windows (powernv IODA2); without, only sPAPR TCE v1 works. */
    ddw?: boolean;
  } = {};
  if (h.iommu !== undefined) out.iommu = h.iommu;
  if (h.page_size !== undefined) out.pageSize = h.page_size;
  if (h.pgsizes !== undefined) out.pgsizes = h.pgsizes;
  if (h.max_levels !== undefined) out.maxLevels = h.max_levels;
  if (h.window_starts !== undefined) out.windowStarts = h.window_starts;
  if (h.memlock_limit !== undefined) out.memlockLimit = h.memlock_limit;
  if (h.dma_entry_limit !== undefined) out.dmaEntryLimit = h.dma_entry_limit;
  if (h.reserved_iova !== undefined) out.reservedIova = h.reserved_iova;
  if (h.faults !== undefined) out.faults = h.faults;
  if (h.ram_page_size !== undefined) out.ramPageSize = h.ram_page_size;
  if (h.ddw !== undefined) out.ddw = h.ddw;
  return out;
});

/** The simulated host the VFIO devices come from. */
export type HostSpec = z.output<typeof host>;

// ---------------------------------------------------------------------------------------------
// Expectations

/** Hypercall return codes by name (those QEMU's TCE hypercalls return). */
export const H_RETURNS = { H_SUCCESS: 0, H_HARDWARE: -1, H_FUNCTION: -2, H_PARAMETER: -4 } as const;
/** How a DMA ends. */
export const DMA_STATUSES = [
  "ok",
  "permission-fault",
  "decode-error",
  "device-error",
] as const satisfies readonly DmaStatus[];
/** virtio-iommu's status codes by name (a `virtio_iommu` step's `status`). */
export const VIRTIO_IOMMU_STATUSES = [
  "OK",
  "IOERR",
  "UNSUPP",
  "DEVERR",
  "INVAL",
  "RANGE",
  "NOENT",
  "FAULT",
  "NOMEM",
] as const;
/** A virtio-iommu status name. */
export type VirtioIommuStatus = (typeof VIRTIO_IOMMU_STATUSES)[number];
/** QEMU's MemTxResult bits, by name (a CPU access's `result`). */
export const MEMTX_RESULTS = {
  MEMTX_OK: 0,
  MEMTX_ERROR: 1,
  MEMTX_DECODE_ERROR: 2,
  MEMTX_ACCESS_ERROR: 4,
} as const;

const ERRNO_RETS = ERRNO_NAMES.map((n) => `-${n}`);
const ret = leaf(
  { anyOf: [SIGNED_JSON, { enum: [...Object.keys(H_RETURNS), ...ERRNO_RETS] }] },
  (v): number | Problem => {
    if (typeof v === "string" && v.startsWith("-E")) {
      const errno = (ERRNO_NAMES as string[]).includes(v.slice(1))
        ? errnoByName(v.slice(1))
        : undefined;
      if (errno === undefined)
        return new Problem(`expected ret as -ERRNO with a known errno; got '${v}'`);
      return -errno;
    }
    if (typeof v === "string" && !/^\s*-?[0-9]/.test(v)) {
      const code = Object.hasOwn(H_RETURNS, v) ? H_RETURNS[v as keyof typeof H_RETURNS] : undefined;
      if (code === undefined)
        return new Problem(
          `expected ret as one of ${Object.keys(H_RETURNS).join(", ")}, -ERRNO or a number; got '${v}'`,
        );
      return code;
    }
    return readSigned(v, "ret");
  },
);

const status = leaf(
  { anyOf: [SIGNED_JSON, { enum: [...DMA_STATUSES, ...VIRTIO_IOMMU_STATUSES] }] },
  (v): number | DmaStatus | VirtioIommuStatus | Problem => {
    if (typeof v === "string" && (DMA_STATUSES as readonly string[]).includes(v))
      return v as DmaStatus;
    if (typeof v === "string" && (VIRTIO_IOMMU_STATUSES as readonly string[]).includes(v))
      return v as VirtioIommuStatus;
    if (typeof v === "string" && !/^\s*-?[0-9]/.test(v))
      return new Problem(
        `expected status as an RTAS status word, a DMA status (${DMA_STATUSES.join(", ")}) or a virtio-iommu status (${VIRTIO_IOMMU_STATUSES.join(", ")}); got '${v}'`,
      );
    return readSigned(v, "status");
  },
);

const memtx = leaf(
  {
    anyOf: [{ type: "integer", minimum: 0, maximum: 7 }, { enum: Object.keys(MEMTX_RESULTS) }],
  },
  (v): number | Problem => {
    if (typeof v === "string" && Object.hasOwn(MEMTX_RESULTS, v))
      return MEMTX_RESULTS[v as keyof typeof MEMTX_RESULTS];
    if (typeof v === "string")
      return new Problem(
        `expected result as one of ${Object.keys(MEMTX_RESULTS).join(", ")} or a number; got '${v}'`,
      );
    const n = readNumber(v, "result", { max: 7n });
    return n instanceof Problem ? n : Number(n);
  },
);

const expectation = map("expect", {
  rets: z
    .array(u64("a return cell", { max: 0xffffffffn }))
    .optional()
    .describe("rtas: every return cell"),
  status: status
    .optional()
    .describe(
      "rtas: the status word (signed); dma: `ok`, `permission-fault`, `decode-error` or `device-error`; virtio_iommu: `OK`, `INVAL`, `RANGE`, `NOENT`, ... (QEMU's status code)",
    ),
  liobn: u64("liobn", { max: 0xffffffffn })
    .optional()
    .describe("rtas create: the new window's LIOBN"),
  start: u64("start")
    .optional()
    .describe("rtas create: the new window's bus address; ioctl TCE_CREATE: the window start"),
  value: u64("value")
    .optional()
    .describe("rtas read-pci-config: the value; cpu sized reads: the value loaded"),
  available: int("available", 0, 2).optional().describe("rtas query: windows still available"),
  ret: ret
    .optional()
    .describe(
      "hcall: `H_SUCCESS`, `H_PARAMETER`, ... or a number; ioctl: 0, a number or `-EINVAL`-style",
    ),
  tce: u64("tce").optional().describe("hcall H_GET_TCE: the TCE read"),
  written: u64("written")
    .optional()
    .describe("hcall H_PUT_TCE_INDIRECT, H_STUFF_TCE: entries written before it stopped"),
  data: hexData("data", false).optional().describe("dma, cpu reads: the bytes read"),
  fault: bool("fault").optional().describe("dma, cpu: whether the access failed"),
  fault_address: u64("fault_address")
    .optional()
    .describe("dma: the first bus address an IOMMU refused"),
  result: memtx
    .optional()
    .describe("cpu: QEMU's MemTxResult, `MEMTX_OK`, `MEMTX_DECODE_ERROR`, ... or a number"),
  ok: bool("ok").optional().describe("device_add, device_del, check: whether it succeeded"),
  holds: bool("holds").optional().describe("expect_mtree: whether the text matched"),
  violations: int("violations", 0, 2 ** 31 - 1)
    .optional()
    .describe("check: how many violations it found"),
  locked_pages: u64("locked_pages").optional().describe("ioctl: locked pages after the call"),
  error: str("error (a substring of the error)")
    .optional()
    .describe("any step: a substring of its error"),
  qemu_aborts: bool("qemu_aborts")
    .optional()
    .describe("any step: whether real QEMU 7.2 would abort the VM here"),
}).transform((e) => {
  const out: {
    rets?: readonly bigint[];
    status?: number | DmaStatus | VirtioIommuStatus;
    liobn?: bigint;
    start?: bigint;
    value?: bigint;
    available?: number;
    ret?: number;
    tce?: bigint;
    written?: bigint;
    data?: Uint8Array;
    fault?: boolean;
    faultAddress?: bigint;
    result?: number;
    ok?: boolean;
    holds?: boolean;
    violations?: number;
    lockedPages?: bigint;
    error?: string;
    /** Whether real QEMU 7.2 would abort the VM at this step. */
    qemuAborts?: boolean;
  } = {};
  const { fault_address, locked_pages, qemu_aborts, ...same } = e;
  for (const [k, v] of Object.entries(same)) if (v !== undefined) (out as Json)[k] = v;
  if (fault_address !== undefined) out.faultAddress = fault_address;
  if (locked_pages !== undefined) out.lockedPages = locked_pages;
  if (qemu_aborts !== undefined) out.qemuAborts = qemu_aborts;
  return out;
});

/** The expectation a step may carry; only the named fields are checked. */
export type Expectation = z.output<typeof expectation>;

// ---------------------------------------------------------------------------------------------
// Steps

const expectField = expectation
  .meta({ id: "expectation" })
  .optional()
  .describe("fields of the step's result to check; the run fails when one differs");

interface StepBase {
  /** 1-based line of the step in its file. */
  readonly line: number;
  readonly expect?: Expectation;
}

/** A step schema: the kind key, what may stand beside it, and the output without `line`. */
function stepMap<S extends z.ZodRawShape>(name: string | MapName, shape: S) {
  return map(name, { ...shape, expect: expectField });
}

/** Which PHB an RTAS call addresses: through a device, or directly. */
export type PhbRef = { readonly device: string } | { readonly phb: number };

/** The friendly fields of an `rtas` step, which name what raw `args` would encode. */
export const RTAS_FRIENDLY_FIELDS = [
  "device",
  "phb",
  "reg",
  "size",
  "value",
  "page_shift",
  "window_shift",
  "liobn",
] as const;

const rtasStep = stepMap("an rtas step", {
  rtas: words("RTAS call", RTAS_CALLS).describe("the call"),
  args: z
    .array(u64("an argument cell", { max: 0xffffffffn }))
    .optional()
    .describe("raw argument cells (then no friendly fields)"),
  nret: int("nret", 0, 16).optional().describe("how many return cells (default: the call's)"),
  device: deviceId().optional().describe("the device whose PHB (and config space) is addressed"),
  phb: int("phb index", 0, 30).optional().describe("the PHB addressed, by index"),
  reg: int("reg", 0, 0xfff).optional().describe("config space register (read/write-pci-config)"),
  size: int("size", 0, 0xffffffff).optional().describe("access size in bytes (1, 2 or 4)"),
  value: u64("value", { max: 0xffffffffn }).optional().describe("the value written"),
  page_shift: int("page_shift", 0, 0xffffffff)
    .optional()
    .describe("create: the window's page shift"),
  window_shift: int("window_shift", 0, 0xffffffff)
    .optional()
    .describe("create: log2 of the window size"),
  liobn: u64("liobn", { max: 0xffffffffn }).optional().describe("remove: the window's LIOBN"),
})
  .superRefine((s, ctx) => {
    if (s.args !== undefined) {
      const friendly = RTAS_FRIENDLY_FIELDS.find((k) => has(s, k));
      if (friendly)
        issue(
          ctx,
          [friendly],
          `'${friendly}' cannot be combined with raw 'args'`,
          undefined,
          "key",
        );
      return;
    }
    if (s.device !== undefined && s.phb !== undefined)
      issue(ctx, ["phb"], "give either 'device' or 'phb', not both", undefined, "key");
    const what = `${s.rtas} (friendly form)`;
    const need: Record<string, readonly string[]> = {
      "ibm,read-pci-config": ["device", "reg", "size"],
      "ibm,write-pci-config": ["device", "reg", "size", "value"],
      "ibm,create-pe-dma-window": ["page_shift", "window_shift"],
      "ibm,remove-pe-dma-window": ["liobn"],
    };
    needs(what, need[s.rtas] ?? [])(s, ctx);
    if (s.rtas !== "ibm,remove-pe-dma-window" && s.device === undefined && s.phb === undefined)
      issue(ctx, ["rtas"], `${s.rtas} needs 'device' or 'phb' (or raw 'args')`);
  })
  .meta(
    ifThen(
      { required: ["args"] },
      { not: { anyOf: RTAS_FRIENDLY_FIELDS.map((k) => ({ required: [k] })) } },
      {
        allOf: [
          { not: { required: ["device", "phb"] } },
          ifThen(
            { properties: { rtas: { enum: ["ibm,read-pci-config", "ibm,write-pci-config"] } } },
            { required: ["device", "reg", "size"] },
          ),
          ifThen(
            { properties: { rtas: { const: "ibm,write-pci-config" } } },
            { required: ["value"] },
          ),
          ifThen(
            { properties: { rtas: { const: "ibm,create-pe-dma-window" } } },
            { required: ["page_shift", "window_shift"] },
          ),
          ifThen(
            { properties: { rtas: { const: "ibm,remove-pe-dma-window" } } },
            { required: ["liobn"] },
            { anyOf: [{ required: ["device"] }, { required: ["phb"] }] },
          ),
        ],
      },
    ),
  )
  .transform((s) => {
    const base = { kind: "rtas" as const, name: s.rtas, expect: s.expect, nret: s.nret };
    if (s.args !== undefined) return { ...base, args: s.args as readonly bigint[] };
    const friendly: {
      target?: PhbRef;
      reg?: number;
      size?: number;
      value?: bigint;
      pageShift?: number;
      windowShift?: number;
      liobn?: bigint;
    } = {};
    if (s.device !== undefined) friendly.target = { device: s.device };
    if (s.phb !== undefined) friendly.target = { phb: s.phb };
    if (s.reg !== undefined) friendly.reg = s.reg;
    if (s.size !== undefined) friendly.size = s.size;
    if (s.value !== undefined) friendly.value = s.value;
    if (s.page_shift !== undefined) friendly.pageShift = s.page_shift;
    if (s.window_shift !== undefined) friendly.windowShift = s.window_shift;
    if (s.liobn !== undefined) friendly.liobn = s.liobn;
    return { ...base, args: undefined as readonly bigint[] | undefined, friendly };
  });

/** An RTAS call, raw (`args`) or friendly (named fields turned into args by the runner). */
export type RtasStep = StepBase & {
  readonly kind: "rtas";
  readonly name: string;
  /** Raw argument cells, or undefined when the runner makes them from the machine. */
  readonly args?: readonly bigint[];
  readonly friendly?: {
    readonly target?: PhbRef;
    readonly reg?: number;
    readonly size?: number;
    readonly value?: bigint;
    readonly pageShift?: number;
    readonly windowShift?: number;
    readonly liobn?: bigint;
  };
  readonly nret?: number;
};

/** The hypercalls a scenario can make. */
export const HCALLS = ["H_PUT_TCE", "H_GET_TCE", "H_STUFF_TCE", "H_PUT_TCE_INDIRECT"] as const;

const liobnArg = u64("liobn").describe("the window's LIOBN");
const iobaArg = u64("ioba").describe("the bus address in the window");
const hcallArgs = {
  H_PUT_TCE: { liobn: liobnArg, ioba: iobaArg, tce: u64("tce").describe("the TCE") },
  H_GET_TCE: { liobn: liobnArg, ioba: iobaArg },
  H_STUFF_TCE: {
    liobn: liobnArg,
    ioba: iobaArg,
    tce_value: u64("tce_value").describe("the TCE written to every entry"),
    npages: u64("npages").describe("how many entries"),
  },
  H_PUT_TCE_INDIRECT: {
    liobn: liobnArg,
    ioba: iobaArg,
    tce_list: u64("tce_list").optional().describe("guest physical address of the TCE list"),
    npages: u64("npages").optional().describe("how many TCEs the list holds"),
    tces: z
      .array(u64("a TCE"))
      .optional()
      .describe(
        "the TCEs themselves, at most 512, instead of a list in guest RAM (so the list's alignment check is skipped)",
      ),
  },
} as const;

const notAnArgument = (name: string) => (key: string, allowed: readonly string[]) =>
  `'${key}' is not an argument of ${name}; expected: ${allowed.join(", ")}`;

function hcallStepOf<N extends (typeof HCALLS)[number]>(name: N) {
  let args: z.ZodType = map(
    { what: `${name} args`, unknownKey: notAnArgument(name) },
    hcallArgs[name],
  );
  if (name === "H_PUT_TCE_INDIRECT")
    args = (args as z.ZodObject)
      .superRefine((a: Json, ctx) => {
        if (a.tces !== undefined) {
          const other = ["tce_list", "npages"].find((k) => has(a, k));
          if (other)
            issue(
              ctx,
              ["tces"],
              "give either 'tces' or 'tce_list' with 'npages'",
              undefined,
              "key",
            );
        } else if (a.tce_list === undefined && a.npages === undefined)
          issue(ctx, [], `${name} args needs 'tces', or 'tce_list' with 'npages'`);
        else needs(`${name} args`, ["tce_list", "npages"])(a, ctx);
      })
      .meta({
        oneOf: [
          {
            required: ["tces"],
            not: { anyOf: [{ required: ["tce_list"] }, { required: ["npages"] }] },
          },
          { required: ["tce_list", "npages"], not: { required: ["tces"] } },
        ],
      });
  return stepMap(name, {
    hcall: z.literal(name).describe("the hypercall"),
    args: args.describe("its arguments"),
  }).transform((s) => {
    const a = s.args as {
      liobn: bigint;
      ioba: bigint;
      tce?: bigint;
      tce_value?: bigint;
      npages?: bigint;
      tce_list?: bigint;
      tces?: readonly bigint[];
    };
    const out: {
      kind: "hcall";
      name: (typeof HCALLS)[number];
      expect?: Expectation;
      liobn: bigint;
      ioba: bigint;
      tce?: bigint;
      npages?: bigint;
      tceList?: bigint;
      tces?: readonly bigint[];
    } = { kind: "hcall", name, expect: s.expect, liobn: a.liobn, ioba: a.ioba };
    const tce = a.tce ?? a.tce_value;
    if (tce !== undefined) out.tce = tce;
    if (a.npages !== undefined) out.npages = a.npages;
    if (a.tce_list !== undefined) out.tceList = a.tce_list;
    if (a.tces !== undefined) out.tces = a.tces;
    return out;
  });
}
/** The schema of an `hcall` step, by hypercall. */
export const HCALL_STEPS = {
  H_PUT_TCE: hcallStepOf("H_PUT_TCE"),
  H_GET_TCE: hcallStepOf("H_GET_TCE"),
  H_STUFF_TCE: hcallStepOf("H_STUFF_TCE"),
  H_PUT_TCE_INDIRECT: hcallStepOf("H_PUT_TCE_INDIRECT"),
};
/** A TCE hypercall. */
export type HcallStep = StepBase & z.output<(typeof HCALL_STEPS)[keyof typeof HCALL_STEPS]>;

const ACCESS_FORMS: Json = {
  oneOf: [
    {
      required: ["read", "length"],
      not: { anyOf: [{ required: ["write"] }, { required: ["data"] }] },
    },
    {
      required: ["write", "data"],
      not: { anyOf: [{ required: ["read"] }, { required: ["length"] }] },
    },
  ],
};
function accessFields(noun: string) {
  return {
    read: u64("the address to read").optional().describe(`the ${noun} address to read`),
    write: u64("the address to write").optional().describe(`the ${noun} address to write`),
    data: hexData("data", true).optional().describe("the bytes written (with `write`)"),
    length: int("length", 1, 1 << 24)
      .optional()
      .describe("how many bytes to read (with `read`)"),
  };
}
function checkAccess(what: string) {
  return (
    d: { read?: bigint; write?: bigint; data?: Uint8Array; length?: number },
    ctx: z.RefinementCtx,
  ) => {
    if ((d.read === undefined) === (d.write === undefined))
      return issue(ctx, [], `${what} needs exactly one of 'read' or 'write'`);
    if (d.write !== undefined) {
      if (d.length !== undefined)
        issue(ctx, ["length"], `'length' goes with 'read', not 'write'`, undefined, "key");
      needs(what, ["data"])(d, ctx);
    } else {
      if (d.data !== undefined)
        issue(
          ctx,
          ["data"],
          `'data' goes with 'write'; to check what is read use expect: { data: ... }`,
          undefined,
          "key",
        );
      needs(what, ["length"])(d, ctx);
    }
  };
}
function accessOut(d: { read?: bigint; write?: bigint; data?: Uint8Array; length?: number }) {
  return d.write !== undefined
    ? { address: d.write, write: d.data as Uint8Array, length: undefined as number | undefined }
    : { address: d.read as bigint, write: undefined as Uint8Array | undefined, length: d.length };
}

const dmaBody = map("a dma step", {
  device: deviceId().describe("the device doing the DMA"),
  ...accessFields("bus"),
})
  .superRefine(checkAccess("a dma step"))
  .meta(ACCESS_FORMS);
const ACCESS_SIZES = [1, 2, 4, 8] as const;
const accessSize = leaf({ enum: [...ACCESS_SIZES] }, (v) => {
  const n = typeof v === "bigint" ? Number(v) : undefined;
  return n !== undefined && (ACCESS_SIZES as readonly number[]).includes(n)
    ? (n as 1 | 2 | 4 | 8)
    : new Problem(`expected size 1, 2, 4 or 8; got ${show(v)}`);
});
const cpuBody = map("a cpu step", {
  ...accessFields("guest physical"),
  value: u64("value")
    .optional()
    .describe("a sized store's value (with `write` and `size`), in the guest CPU's byte order"),
  size: accessSize
    .optional()
    .describe(
      "a sized load or store of 1, 2, 4 or 8 bytes, as the CPU makes to a register or a table entry (qtest's `writeq`)",
    ),
})
  .superRefine((d, ctx) => {
    if (d.size === undefined) {
      if (d.value !== undefined) issue(ctx, [], "a cpu step with 'value' needs 'size'");
      else checkAccess("a cpu step")(d, ctx);
      return;
    }
    if ((d.read === undefined) === (d.write === undefined))
      return issue(ctx, [], "a cpu step needs exactly one of 'read' or 'write'");
    for (const k of ["data", "length"] as const)
      if (d[k] !== undefined)
        issue(ctx, [k], `'${k}' is for byte accesses, not with 'size'`, undefined, "key");
    if (d.write !== undefined) needs("a cpu step", ["value"])(d, ctx);
    else if (d.value !== undefined)
      issue(
        ctx,
        ["value"],
        "'value' goes with 'write'; to check what is read use expect: { value: ... }",
        undefined,
        "key",
      );
    if (d.value !== undefined && d.value >> BigInt(8 * d.size) !== 0n)
      issue(ctx, ["value"], `value does not fit in ${d.size} bytes`);
  })
  .meta({
    oneOf: [
      ...(ACCESS_FORMS.oneOf as Json[]).map((f) => ({
        ...f,
        not: {
          anyOf: [
            ...((f.not as Json).anyOf as Json[]),
            { required: ["size"] },
            { required: ["value"] },
          ],
        },
      })),
      {
        required: ["read", "size"],
        not: {
          anyOf: [
            { required: ["write"] },
            { required: ["data"] },
            { required: ["length"] },
            { required: ["value"] },
          ],
        },
      },
      {
        required: ["write", "size", "value"],
        not: { anyOf: [{ required: ["read"] }, { required: ["data"] }, { required: ["length"] }] },
      },
    ],
  });

/** A `qtest:` step's text: lines of QEMU's qtest protocol, each optionally a tab and the reply. */
const qtestText = leaf(
  { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] },
  (v): TranscriptLine[] | Problem => {
    const text =
      typeof v === "string"
        ? v
        : Array.isArray(v) && v.every((l) => typeof l === "string")
          ? v.join("\n")
          : undefined;
    if (text === undefined)
      return new Problem(
        "expected qtest as text or a list of lines (a command, then a tab and the reply expected)",
      );
    if (text.length > 1 << 24)
      return new Problem("qtest text must hold at most 16 MiB", "data-size");
    const lines = parseTranscript(text);
    if (lines.length === 0) return new Problem("expected at least one qtest command");
    return lines;
  },
);

const eduCount = u64("count", { min: 1n, max: 4096n }).describe("bytes (edu's buffer holds 4 KiB)");
const eduAt = u64("at", { max: 4095n })
  .optional()
  .describe("the offset in edu's buffer (default 0)");
const eduBody = map("an edu step", {
  device: deviceId().describe("the edu device"),
  dma_in: map("edu dma_in", {
    from: u64("from").describe("the bus address edu reads"),
    count: eduCount,
    at: eduAt,
  })
    .optional()
    .describe("edu's DMA from a bus address into its buffer (command 1)"),
  dma_out: map("edu dma_out", {
    to: u64("to").describe("the bus address edu writes"),
    count: eduCount,
    at: eduAt,
  })
    .optional()
    .describe("edu's DMA from its buffer to a bus address (command 3)"),
})
  .superRefine((d, ctx) => {
    if ((d.dma_in === undefined) === (d.dma_out === undefined))
      issue(ctx, [], "an edu step needs exactly one of 'dma_in' or 'dma_out'");
  })
  .meta({
    oneOf: [
      { required: ["dma_in"], not: { required: ["dma_out"] } },
      { required: ["dma_out"], not: { required: ["dma_in"] } },
    ],
  });

const perm = words("perm", ["r", "w", "rw"] as const);
const vtdBody = map("a vtd step", {
  device: deviceId().describe("the PCI function whose DMA the guest's intel-iommu driver maps"),
  map: map("vtd map", {
    iova: u64("iova", { multipleOf: 0x1000n }).describe("the bus address (IOVA), 4 KiB aligned"),
    gpa: u64("gpa", { multipleOf: 0x1000n }).describe("the guest-physical address it maps to"),
    size: u64("size", { sizes: true, min: 0x1000n, max: 1n << 40n, multipleOf: 0x1000n }).describe(
      "bytes, a multiple of 4 KiB",
    ),
    perm: perm.describe("`r`, `w` or `rw`: what the device may do"),
  })
    .optional()
    .describe("map a range: page tables written, then the invalidation Linux issues"),
  unmap: map("vtd unmap", {
    iova: u64("iova", { multipleOf: 0x1000n }).describe("the bus address (IOVA), 4 KiB aligned"),
    size: u64("size", { sizes: true, min: 0x1000n, max: 1n << 40n, multipleOf: 0x1000n }).describe(
      "bytes, a multiple of 4 KiB",
    ),
  })
    .optional()
    .describe("unmap a range: entries cleared, then a page-selective invalidation"),
  attach: deviceId("a device id")
    .optional()
    .describe(
      "put the device in that device's domain (as VFIO in the guest does for groups sharing a container)",
    ),
})
  .superRefine((d, ctx) => {
    const given = (["map", "unmap", "attach"] as const).filter((k) => d[k] !== undefined);
    if (given.length !== 1)
      issue(ctx, [], "a vtd step needs exactly one of 'map', 'unmap' or 'attach'");
  })
  .meta({
    oneOf: [{ required: ["map"] }, { required: ["unmap"] }, { required: ["attach"] }].map((f) => ({
      ...f,
      not: {
        anyOf: ["map", "unmap", "attach"]
          .filter((k) => k !== f.required[0])
          .map((k) => ({ required: [k] })),
      },
    })),
  });

const VIRTIO_IOMMU_OPS = ["attach", "detach", "map", "unmap", "probe"] as const;
const virtioIommuPerm = words("perm", ["r", "w", "rw", "none"] as const);
const domainId = int("domain", 0, 0xffffffff);
const endpointRef = str("an endpoint (a device id or BB:DD.F)");
const virtioIommuBody = map("a virtio_iommu step", {
  attach: map("virtio_iommu attach", {
    domain: domainId.describe("the domain (created by its first ATTACH)"),
    endpoint: endpointRef.describe("a device id, or a PCI address `BB:DD.F` (any requester id)"),
    bypass: bool("bypass")
      .optional()
      .describe("ATTACH's bypass flag: a domain that translates nothing"),
  })
    .optional()
    .describe("ATTACH: put the endpoint in the domain (leaving its old one)"),
  detach: map("virtio_iommu detach", {
    domain: domainId.describe("the domain"),
    endpoint: endpointRef.describe("a device id, or a PCI address `BB:DD.F`"),
  })
    .optional()
    .describe("DETACH: take the endpoint out of the domain"),
  map: map("virtio_iommu map", {
    domain: domainId.describe("the domain"),
    iova: u64("iova").describe("the first bus address (virt_start)"),
    size: u64("size", { sizes: true, min: 1n }).describe("bytes (virt_end is iova + size - 1)"),
    gpa: u64("gpa").describe("the guest-physical address it maps to (phys_start)"),
    perm: virtioIommuPerm.describe("`r`, `w`, `rw` or `none`: the MAP flags READ and WRITE"),
    mmio: bool("mmio").optional().describe("the MAP flag MMIO (not notified to VFIO)"),
  })
    .optional()
    .describe("MAP a range (7.2 checks neither alignment nor the granule)"),
  unmap: map("virtio_iommu unmap", {
    domain: domainId.describe("the domain"),
    iova: u64("iova").describe("the first bus address"),
    size: u64("size", { sizes: true, min: 1n }).describe("bytes"),
  })
    .optional()
    .describe("UNMAP every mapping inside the range (one that straddles an end: RANGE)"),
  probe: map("virtio_iommu probe", {
    endpoint: endpointRef.describe("a device id, or a PCI address `BB:DD.F`"),
  })
    .optional()
    .describe("PROBE: the endpoint's reserved regions"),
})
  .superRefine((d, ctx) => {
    const given = VIRTIO_IOMMU_OPS.filter((k) => d[k] !== undefined);
    if (given.length !== 1)
      issue(
        ctx,
        [],
        "a virtio_iommu step needs exactly one of 'attach', 'detach', 'map', 'unmap' or 'probe'",
      );
  })
  .meta({
    oneOf: VIRTIO_IOMMU_OPS.map((op) => ({
      required: [op],
      not: { anyOf: VIRTIO_IOMMU_OPS.filter((k) => k !== op).map((k) => ({ required: [k] })) },
    })),
  });

const mtreeBody = map("an expect_mtree step", {
  contains: str("contains").optional().describe("text the output must contain"),
  equals: str("equals").optional().describe("the whole output"),
  flat: bool("flat").optional().describe("`info mtree -f`: flat views"),
  disabled: bool("disabled").optional().describe("`info mtree -D`: disabled regions too"),
  owners: bool("owners").optional().describe("`info mtree -o`: owners"),
})
  .superRefine((d, ctx) => {
    if ((d.contains === undefined) === (d.equals === undefined))
      issue(ctx, [], "an expect_mtree step needs exactly one of 'contains' or 'equals'");
  })
  .meta({ oneOf: [{ required: ["contains"] }, { required: ["equals"] }] });

const deviceAddBody = map("a device_add step", {
  ...deviceFields,
  id: deviceId().describe("names the device in later steps"),
})
  .superRefine(checkDevice)
  .meta(DEVICE_FORMS);

/** The schema of each step kind, by its key. */
export const STEP_SCHEMAS = {
  ioctl: undefined as unknown as z.ZodType, // set below (per ioctl)
  reset: stepMap("a reset step", {
    reset: words("reset", ["system"] as const).describe("`system`: QEMU's `system_reset`"),
  }).transform((s) => ({ kind: "reset" as const, expect: s.expect })),
  rtas: rtasStep,
  hcall: undefined as unknown as z.ZodType, // set below (per hypercall)
  dma: stepMap("a dma step", {
    dma: dmaBody.describe(
      "a device's DMA: an emulated device through its bus-master address space (bus mastering must be on), an assigned one through the host IOMMU",
    ),
  }).transform((s) => ({
    kind: "dma" as const,
    expect: s.expect,
    device: s.dma.device,
    ...accessOut(s.dma),
  })),
  cpu: stepMap("a cpu step", { cpu: cpuBody.describe("a guest CPU access") }).transform((s) => ({
    kind: "cpu" as const,
    expect: s.expect,
    ...accessOut(s.cpu),
    ...(s.cpu.size !== undefined
      ? { size: s.cpu.size, ...(s.cpu.value !== undefined ? { value: s.cpu.value } : {}) }
      : {}),
  })),
  device_add: stepMap("a device_add step", {
    device_add: deviceAddBody.describe("hot-plug"),
  }).transform((s) => ({
    kind: "device_add" as const,
    expect: s.expect,
    id: s.device_add.id,
    driver: s.device_add.driver,
    bus: s.device_add.bus,
    slot: s.device_add.slot,
    function: s.device_add.function,
    host: s.device_add.host,
    /** QEMU's properties as on its command line (`host`, `dma_mask`, ...). */
    properties: deviceProperties(s.device_add),
  })),
  device_del: stepMap("a device_del step", {
    device_del: map("a device_del step", { id: deviceId().describe("the device to unplug") }),
  }).transform((s) => ({ kind: "device_del" as const, expect: s.expect, id: s.device_del.id })),
  check: stepMap("a check step", {
    check: words("check", ["shadow", "isolation", "accounting"] as const).describe(
      "the invariant: `shadow`, `isolation` or `accounting`",
    ),
  }).transform((s) => ({ kind: "check" as const, expect: s.expect, check: s.check })),
  qtest: stepMap("a qtest step", {
    qtest: qtestText.describe(
      "q35: QEMU qtest protocol lines (`writel 0xfed90018 0x80000000`, `readq ...`, `# wait 200 ms`), each optionally followed by a tab and the reply QEMU gave; the step fails at the first reply that differs",
    ),
  }).transform((s) => ({ kind: "qtest" as const, expect: s.expect, lines: s.qtest })),
  edu: stepMap("an edu step", {
    edu: eduBody.describe(
      "q35: edu's DMA engine driven through its registers (source, destination, count, command), then time passes",
    ),
  }).transform((s) => ({
    kind: "edu" as const,
    expect: s.expect,
    device: s.edu.device,
    ...(s.edu.dma_in
      ? {
          toDevice: true,
          bus: s.edu.dma_in.from,
          count: s.edu.dma_in.count,
          at: s.edu.dma_in.at ?? 0n,
        }
      : {
          toDevice: false,
          bus: s.edu.dma_out!.to,
          count: s.edu.dma_out!.count,
          at: s.edu.dma_out!.at ?? 0n,
        }),
  })),
  vtd: stepMap("a vtd step", {
    vtd: vtdBody.describe(
      "q35: what Linux's intel-iommu driver does for a DMA API call: its tables in guest RAM, then queued invalidation",
    ),
  }).transform((s) => ({
    kind: "vtd" as const,
    expect: s.expect,
    device: s.vtd.device,
    ...(s.vtd.map
      ? {
          action: "map" as const,
          iova: s.vtd.map.iova,
          gpa: s.vtd.map.gpa,
          size: s.vtd.map.size,
          perm: s.vtd.map.perm,
        }
      : s.vtd.unmap
        ? { action: "unmap" as const, iova: s.vtd.unmap.iova, size: s.vtd.unmap.size }
        : { action: "attach" as const, domainOf: s.vtd.attach as string }),
  })),
  virtio_iommu: stepMap("a virtio_iommu step", {
    virtio_iommu: virtioIommuBody.describe(
      "q35: one request of the guest's virtio-iommu driver; the result is QEMU 7.2's status",
    ),
  }).transform((s) => {
    const v = s.virtio_iommu;
    const request = v.attach
      ? { op: "attach" as const, ...v.attach }
      : v.detach
        ? { op: "detach" as const, ...v.detach }
        : v.map
          ? { op: "map" as const, ...v.map }
          : v.unmap
            ? { op: "unmap" as const, ...v.unmap }
            : { op: "probe" as const, ...v.probe! };
    return { kind: "virtio_iommu" as const, expect: s.expect, request };
  }),
  expect_mtree: stepMap("an expect_mtree step", {
    expect_mtree: mtreeBody.describe("a look at `info mtree`"),
  }).transform((s) => ({
    kind: "expect_mtree" as const,
    expect: s.expect,
    contains: s.expect_mtree.contains,
    equals: s.expect_mtree.equals,
    flat: s.expect_mtree.flat ?? false,
    disabled: s.expect_mtree.disabled ?? false,
    owners: s.expect_mtree.owners ?? false,
  })),
};

/** The arguments of each ioctl. */
const IOCTL_ARGS = {
  SET_IOMMU: {
    type: words("type", HOST_IOMMUS).describe("the backend"),
    group: u64("group").describe("the IOMMU group"),
  },
  GET_INFO: {},
  ENABLE: {},
  DISABLE: {},
  REGISTER_MEMORY: { vaddr: u64("vaddr"), size: u64("size", { sizes: true }) },
  UNREGISTER_MEMORY: { vaddr: u64("vaddr"), size: u64("size", { sizes: true }) },
  TCE_CREATE: {
    page_shift: u64("page_shift"),
    window_size: u64("window_size", { sizes: true }),
    levels: u64("levels"),
  },
  TCE_REMOVE: { start_addr: u64("start_addr") },
  MAP_DMA: {
    iova: u64("iova"),
    size: u64("size", { sizes: true }),
    vaddr: u64("vaddr"),
    flags: u64("flags").describe("1 read, 2 write"),
  },
  UNMAP_DMA: { iova: u64("iova"), size: u64("size", { sizes: true }) },
} as const;

function ioctlStepOf<N extends (typeof IOCTLS)[number]>(name: N) {
  const shape = IOCTL_ARGS[name];
  const args = map(`${name} args`, shape);
  const none = Object.keys(shape).length === 0;
  return stepMap(`a ${name} ioctl step`, {
    ioctl: z.literal(name).describe("the ioctl"),
    container: deviceId("a container name")
      .optional()
      .describe("names a container of this run (default `c0`); SET_IOMMU creates it"),
    args: (none ? args.optional() : args).describe("its arguments"),
  }).transform((s) => ({
    kind: "ioctl" as const,
    expect: s.expect,
    ioctl: name as (typeof IOCTLS)[number],
    container: s.container ?? "c0",
    args: (s.args ?? {}) as Readonly<Record<string, bigint | string>>,
  }));
}
/** The schema of an `ioctl` step, by ioctl. */
export const IOCTL_STEPS = Object.fromEntries(IOCTLS.map((n) => [n, ioctlStepOf(n)])) as {
  [N in (typeof IOCTLS)[number]]: ReturnType<typeof ioctlStepOf<N>>;
};

/** The step kinds, each named by its key. */
export const STEP_KINDS = [
  "ioctl",
  "reset",
  "rtas",
  "hcall",
  "dma",
  "cpu",
  "device_add",
  "device_del",
  "check",
  "expect_mtree",
  "qtest",
  "vtd",
  "virtio_iommu",
  "edu",
] as const;
/** A step kind. */
export type StepKind = (typeof STEP_KINDS)[number];

/** Keys any step may have: its kind key, `expect`, and what some kinds take beside their key. */
export const STEP_KEYS = [
  ...STEP_KINDS,
  "expect",
  "args",
  "nret",
  "container",
  ...RTAS_FRIENDLY_FIELDS,
] as const;

/** A step of every kind, for JSON Schema (the loader picks the kind's schema by its key). */
export const stepSchema = z.union([
  z.union(Object.values(IOCTL_STEPS)),
  STEP_SCHEMAS.reset,
  rtasStep,
  z.union(Object.values(HCALL_STEPS)),
  STEP_SCHEMAS.dma,
  STEP_SCHEMAS.cpu,
  STEP_SCHEMAS.device_add,
  STEP_SCHEMAS.device_del,
  STEP_SCHEMAS.check,
  STEP_SCHEMAS.expect_mtree,
  STEP_SCHEMAS.qtest,
  STEP_SCHEMAS.vtd,
  STEP_SCHEMAS.virtio_iommu,
  STEP_SCHEMAS.edu,
]);

/**
 * The machines each step kind runs on. A new step kind is a schema in `STEP_SCHEMAS`, its key in
 * `STEP_KINDS` and `stepSchema`, a row here, and a runner in its machine's step table
 * (`PSERIES_STEPS` in run.ts, `Q35_STEPS` in q35-steps.ts).
 */
export const STEP_MACHINES: Record<StepKind, readonly MachineFamily[]> = {
  ioctl: ["pseries"],
  reset: ["pseries", "q35"],
  rtas: ["pseries"],
  hcall: ["pseries"],
  dma: ["pseries", "q35"],
  cpu: ["pseries", "q35"],
  device_add: ["pseries", "q35"],
  device_del: ["pseries", "q35"],
  check: ["pseries", "q35"],
  expect_mtree: ["pseries", "q35"],
  qtest: ["q35"],
  vtd: ["q35"],
  virtio_iommu: ["q35"],
  edu: ["q35"],
};
STEP_SCHEMAS.ioctl = z.union(Object.values(IOCTL_STEPS));
STEP_SCHEMAS.hcall = z.union(Object.values(HCALL_STEPS));

type Out<K extends keyof typeof STEP_SCHEMAS> = StepBase & z.output<(typeof STEP_SCHEMAS)[K]>;

/** A raw ioctl on a host container, with no QEMU in between (to script the host driver). */
export type IoctlStep = StepBase & z.output<(typeof IOCTL_STEPS)[keyof typeof IOCTL_STEPS]>;
/** A system reset (QEMU's `system_reset`). */
export type ResetStep = Out<"reset">;
/** A device's DMA. */
export type DmaStep = Out<"dma">;
/** A guest CPU access to its physical memory. */
export type CpuStep = Out<"cpu">;
/** Hot-plug. */
export type DeviceAddStep = Out<"device_add">;
/** Hot-unplug. */
export type DeviceDelStep = Out<"device_del">;
/** An invariant check. */
export type CheckStep = Out<"check">;
/** A look at `info mtree`. */
export type ExpectMtreeStep = Out<"expect_mtree">;
/** qtest protocol lines played on a q35 machine. */
export type QtestStep = Out<"qtest">;
/** A DMA API call of the guest's intel-iommu driver. */
export type VtdStep = Out<"vtd">;
/** A request of the guest's virtio-iommu driver. */
export type VirtioIommuStep = Out<"virtio_iommu">;
/** A transfer of edu's DMA engine. */
export type EduStep = Out<"edu">;

/** A step of a scenario. */
export type Step =
  | IoctlStep
  | ResetStep
  | RtasStep
  | HcallStep
  | DmaStep
  | CpuStep
  | DeviceAddStep
  | DeviceDelStep
  | CheckStep
  | ExpectMtreeStep
  | QtestStep
  | VtdStep
  | VirtioIommuStep
  | EduStep;

/** The invariants `check:` can name. */
export const CHECKS = ["shadow", "isolation", "accounting"] as const;

// ---------------------------------------------------------------------------------------------
// The file

/** The top-level keys of a scenario file. */
const scenarioMap = map("the scenario", {
  name: str("the scenario name").describe("the scenario's name, shown in reports"),
  description: str("description").optional().describe("free text"),
  qemu: qemuLine
    .optional()
    .describe(
      "which QEMU release the machine models: `7.2` or `10.0` (its machine types, `info mtree` and behaviour; `iova run --qemu` overrides it)",
    )
    .meta({ docDefault: "7.2" }),
  behaviour: words("behaviour", BEHAVIOURS)
    .optional()
    .describe("`qemu-7.2` or `qemu-2016-prefix` (the 2016 iova bug; see docs/semantics.md)")
    .meta({ docDefault: "qemu-7.2" }),
  machine: machine.describe("the guest machine"),
  host: host
    .optional()
    .describe("the host that assigned devices come from (a POWER9 powernv host when absent)"),
  steps: z.unknown().optional().describe("what happens, in order"),
});

/** Host settings that make no sense for the scenario's machine. */
function checkHostForMachine(
  s: { machine: MachineSpec; host?: HostSpec },
  ctx: z.RefinementCtx,
): void {
  if (s.machine.family !== "q35" || !s.host) return;
  if (s.host.iommu !== undefined && s.host.iommu !== "type1" && s.host.iommu !== "iommufd")
    issue(
      ctx,
      ["host", "iommu"],
      `a q35 machine's host IOMMU is type1 or iommufd; got '${s.host.iommu}'`,
      "machine-devices",
    );
  for (const [k, v] of [
    ["max_levels", s.host.maxLevels],
    ["window_starts", s.host.windowStarts],
    ["ddw", s.host.ddw],
  ] as const)
    if (v !== undefined)
      issue(
        ctx,
        ["host", k],
        `'${k}' describes a POWER host, not the type1 host of a q35 machine`,
        "machine-devices",
        "key",
      );
}

/** A scenario file, without its steps (the loader reads those one by one). */
export const scenarioHead = scenarioMap.superRefine(checkHostForMachine);

/** A whole scenario file, for JSON Schema and the docs. */
export const scenarioFile = scenarioMap
  .extend({ steps: z.array(stepSchema).nullable().optional().describe("what happens, in order") })
  .superRefine(checkHostForMachine)
  .meta({
    title: "iova scenario",
    description:
      "A machine, an optional host, and steps that play the guest and the operator. Numbers are decimal or 0x hex (exact to 2^64); sizes also take K, M, G, T.",
  });

/** A loaded scenario. */
export interface Scenario {
  readonly name: string;
  readonly description?: string;
  /** Which QEMU release the machine models (7.2 when the file does not say). */
  readonly qemu: QemuLine;
  readonly behaviour: Behaviour;
  readonly machine: MachineSpec;
  readonly host?: HostSpec;
  readonly steps: readonly Step[];
  /** Where it came from (a file path, or `<built-in>`). */
  readonly source: string;
}
