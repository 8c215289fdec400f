/**
 * Loading scenario files (YAML, or JSON, which YAML reads too): numbers exact to 2^64, sizes with
 * K/M/G/T, and every mistake reported as `path:line:column: what was expected`.
 */
import { isScalar, LineCounter, type Node, parseDocument } from "yaml";
import { errnoByName } from "../host/errno.ts";
import { pseriesCompat } from "../machine/machine-type.ts";
import { RTAS_CALLS } from "../spapr/rtas.ts";
import { type MapEntries, NodeReader, ScenarioError } from "./reader.ts";
import {
  type Behaviour,
  CHECKS,
  type Expectation,
  HCALLS,
  type HostSpec,
  IOCTLS,
  type MachineDevice,
  type MachineSpec,
  type PhbRef,
  type Scenario,
  type Step,
} from "./schema.ts";

const BEHAVIOURS: readonly Behaviour[] = ["qemu-7.2", "qemu-2016-prefix"];
const STEP_KINDS = [
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
] as const;
const H_NAMES: Record<string, number> = {
  H_SUCCESS: 0,
  H_HARDWARE: -1,
  H_FUNCTION: -2,
  H_PARAMETER: -4,
};

/** Parses scenario text; `path` is used in error messages. */
export function loadScenario(text: string, path: string): Scenario {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    intAsBigInt: true,
    lineCounter: lines,
    uniqueKeys: false,
    prettyErrors: false,
  });
  const r = new NodeReader(path, lines);
  const problem = doc.errors[0];
  if (problem) {
    const { line, col } = lines.linePos(problem.pos[0]);
    throw new ScenarioError(path, line, col, `YAML syntax: ${problem.message.split("\n")[0]}`);
  }
  const top = r.map(doc.contents as Node | null, "the scenario", [
    "name",
    "description",
    "behaviour",
    "machine",
    "host",
    "steps",
  ]);
  const name = r.string(r.required(top, "name", "the scenario"), "the scenario name");
  const description = top.values.has("description")
    ? r.string(top.values.get("description"), "description")
    : undefined;
  const behaviour = top.values.has("behaviour")
    ? r.oneOf(top.values.get("behaviour"), "behaviour", BEHAVIOURS)
    : "qemu-7.2";
  const machine = readMachine(r, r.required(top, "machine", "the scenario"));
  const host = top.values.has("host") ? readHost(r, top.values.get("host")) : undefined;
  const stepsNode = top.values.get("steps");
  const steps =
    stepsNode === undefined || stepsNode === null
      ? []
      : r.seq(stepsNode, "steps").map((s) => readStep(r, s));
  checkDeviceIds(r, machine, steps, stepsNode);
  return { name, description, behaviour, machine, host, steps, source: path };
}

function readMachine(r: NodeReader, node: Node): MachineSpec {
  const m = r.map(node, "machine", [
    "type",
    "smp",
    "memory",
    "maxmem",
    "phbs",
    "phb_globals",
    "devices",
  ]);
  const typeNode = m.values.get("type");
  const type = typeNode ? r.string(typeNode, "machine type") : "pseries";
  if (!pseriesCompat(type))
    r.fail(typeNode, `expected machine type pseries or pseries-X.Y (2.1 to 7.2); got '${type}'`);
  const memory = r.u64(r.required(m, "memory", "machine"), "memory", {
    sizes: true,
    min: 1n << 20n,
    max: 1n << 50n,
  });
  if (memory % (1n << 16n) !== 0n)
    r.fail(m.values.get("memory"), "memory must be a multiple of 64K");
  const maxNode = m.values.get("maxmem");
  const maxMemory = maxNode
    ? r.u64(maxNode, "maxmem", { sizes: true, min: memory, max: 1n << 50n })
    : undefined;
  const smp = m.values.has("smp") ? r.int(m.values.get("smp"), "smp", 1, 64) : 1;
  const phbNodes = m.values.get("phbs");
  const phbs = phbNodes ? r.seq(phbNodes, "phbs").map((p) => readPhb(r, p, true)) : [];
  const seen = new Set<number>();
  phbs.forEach((p, i) => {
    if (seen.has(p.index)) r.fail(r.seq(phbNodes, "phbs")[i], `duplicate PHB index ${p.index}`);
    seen.add(p.index);
  });
  const phbGlobals = m.values.has("phb_globals")
    ? readPhb(r, m.values.get("phb_globals") as Node, false)
    : undefined;
  const devNodes = m.values.get("devices");
  const devices = devNodes
    ? r.seq(devNodes, "devices").map((d) => readDevice(r, d, "a device"))
    : [];
  for (const [i, d] of devices.entries()) {
    const bus = d.bus ?? 0;
    if (bus !== 0 && !seen.has(bus))
      r.fail(
        r.seq(devNodes, "devices")[i],
        `device bus ${bus}: no PHB with index ${bus} in machine.phbs`,
      );
  }
  return { machineType: type, memory, maxMemory, smp, phbs, phbGlobals, devices };
}

function readPhb(r: NodeReader, node: Node, needIndex: boolean) {
  const keys = ["ddw", "dma_win_addr", "dma_win_size", "dma64_win_addr", "pgsz"];
  const p = r.map(node, needIndex ? "a PHB" : "phb_globals", needIndex ? ["index", ...keys] : keys);
  const out: {
    index: number;
    ddw?: boolean;
    dmaWinAddr?: bigint;
    dmaWinSize?: bigint;
    dma64WinAddr?: bigint;
    pgsz?: bigint;
  } = { index: needIndex ? r.int(r.required(p, "index", "a PHB"), "PHB index", 0, 30) : 0 };
  if (p.values.has("ddw")) out.ddw = r.bool(p.values.get("ddw"), "ddw");
  if (p.values.has("dma_win_addr"))
    out.dmaWinAddr = r.u64(p.values.get("dma_win_addr"), "dma_win_addr");
  if (p.values.has("dma_win_size")) {
    out.dmaWinSize = r.u64(p.values.get("dma_win_size"), "dma_win_size", {
      sizes: true,
      min: 0x1000n,
      max: 1n << 44n,
    });
  }
  if (p.values.has("dma64_win_addr"))
    out.dma64WinAddr = r.u64(p.values.get("dma64_win_addr"), "dma64_win_addr");
  if (p.values.has("pgsz")) out.pgsz = r.u64(p.values.get("pgsz"), "pgsz");
  if (!needIndex) {
    const { index: _index, ...rest } = out;
    return rest as typeof out;
  }
  return out;
}

function readDevice(r: NodeReader, node: Node, what: string): MachineDevice {
  const d = r.map(node, what, ["id", "driver", "bus", "slot", "host"]);
  const driver = r.oneOf(r.required(d, "driver", what), "driver", [
    "qemu-xhci",
    "vfio-pci",
  ] as const);
  const out: { id?: string; driver: string; bus?: number; slot?: number; host?: string } = {
    driver,
  };
  if (d.values.has("id")) out.id = readId(r, d.values.get("id"));
  if (d.values.has("bus")) out.bus = r.int(d.values.get("bus"), "bus (a PHB index)", 0, 30);
  if (d.values.has("slot")) out.slot = r.int(d.values.get("slot"), "slot", 0, 31);
  if (d.values.has("host")) out.host = readHostAddress(r, d.values.get("host"));
  if (driver === "vfio-pci" && out.host === undefined)
    r.fail(node, `a vfio-pci device needs 'host' (like "0001:01:00.0")`);
  if (driver !== "vfio-pci" && out.host !== undefined)
    r.fail(d.keys.get("host"), `'host' is only for vfio-pci`);
  return out;
}

function readId(r: NodeReader, node: Node | null | undefined): string {
  const id = r.string(node, "a device id");
  if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(id))
    r.fail(
      node,
      `expected a device id made of letters, digits, '-', '.', '_' starting with a letter; got '${id}'`,
    );
  return id;
}

function readHostAddress(r: NodeReader, node: Node | null | undefined): string {
  const host = r.string(node, "a host PCI address");
  if (!/^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/.test(host)) {
    r.fail(node, `expected a host PCI address like "0001:01:00.0"; got '${host}'`);
  }
  return host.toLowerCase();
}

function readHost(r: NodeReader, node: Node | null | undefined): HostSpec {
  const h = r.map(node, "host", [
    "iommu",
    "page_size",
    "pgsizes",
    "max_levels",
    "window_starts",
    "memlock_limit",
    "dma_entry_limit",
    "reserved_iova",
    "faults",
    "ram_page_size",
    "ddw",
  ]);
  const iommu = h.values.has("iommu")
    ? r.oneOf(h.values.get("iommu"), "host iommu", ["spapr-tce-v2", "spapr-tce", "type1"] as const)
    : "spapr-tce-v2";
  const pow2 = (v: bigint, n: Node | null | undefined, what: string) => {
    if (v === 0n || (v & (v - 1n)) !== 0n) r.fail(n, `${what} must be a power of two`);
    return v;
  };
  const psNode = h.values.get("page_size");
  const pageSize = psNode
    ? pow2(
        r.u64(psNode, "page_size", { sizes: true, min: 0x1000n, max: 1n << 30n }),
        psNode,
        "page_size",
      )
    : 0x10000n;
  const pgNode = h.values.get("pgsizes");
  const pgsizes = pgNode
    ? r
        .seq(pgNode, "pgsizes")
        .map((n) =>
          pow2(
            r.u64(n, "an IOMMU page size", { sizes: true, min: 0x1000n, max: 1n << 40n }),
            n,
            "an IOMMU page size",
          ),
        )
    : [0x1000n, 0x10000n, 0x200000n, 0x40000000n];
  const out: {
    iommu: HostSpec["iommu"];
    pageSize: bigint;
    pgsizes: bigint[];
    maxLevels?: number;
    windowStarts?: bigint[];
    memlockLimit?: bigint;
    dmaEntryLimit?: number;
    reservedIova?: [bigint, bigint][];
    faults?: { ioctl: string; errno: string; from?: number; once?: boolean }[];
    ramPageSize?: bigint;
    ddw?: boolean;
  } = { iommu, pageSize, pgsizes };
  if (h.values.has("ram_page_size")) {
    const n = h.values.get("ram_page_size");
    out.ramPageSize = pow2(
      r.u64(n, "ram_page_size", { sizes: true, min: 0x1000n, max: 1n << 34n }),
      n,
      "ram_page_size",
    );
  }
  if (h.values.has("ddw")) out.ddw = r.bool(h.values.get("ddw"), "ddw");
  if (h.values.has("max_levels"))
    out.maxLevels = r.int(h.values.get("max_levels"), "max_levels", 1, 5);
  if (h.values.has("window_starts"))
    out.windowStarts = r
      .seq(h.values.get("window_starts"), "window_starts")
      .map((n) => r.u64(n, "a window start"));
  if (h.values.has("memlock_limit"))
    out.memlockLimit = r.u64(h.values.get("memlock_limit"), "memlock_limit", { sizes: true });
  if (h.values.has("dma_entry_limit"))
    out.dmaEntryLimit = r.int(h.values.get("dma_entry_limit"), "dma_entry_limit", 0, 2 ** 31 - 1);
  if (h.values.has("reserved_iova"))
    out.reservedIova = r.seq(h.values.get("reserved_iova"), "reserved_iova").map((n) => {
      const pair = r.seq(n, "a reserved range [first, last]");
      if (pair.length !== 2) r.fail(n, "expected a reserved range as [first, last]");
      const first = r.u64(pair[0], "the range's first address");
      const last = r.u64(pair[1], "the range's last address");
      if (last < first) r.fail(n, "a reserved range ends before it starts");
      return [first, last];
    });
  if (h.values.has("faults")) {
    out.faults = r.seq(h.values.get("faults"), "faults").map((n) => {
      const f = r.map(n, "a fault", ["ioctl", "errno", "from", "once"]);
      const ioctl = r.string(r.required(f, "ioctl", "a fault"), "an ioctl name");
      const errno = r.string(r.required(f, "errno", "a fault"), "an errno name like EINVAL");
      if (!/^E[A-Z0-9]+$/.test(errno) || errnoByName(errno) === undefined) {
        r.fail(
          f.values.get("errno"),
          `expected an errno name like EINVAL, ENOMEM, ENOSPC; got '${errno}'`,
        );
      }
      return {
        ioctl,
        errno,
        ...(f.values.has("from")
          ? { from: r.int(f.values.get("from"), "from (the Nth call)", 1, 2 ** 31 - 1) }
          : {}),
        ...(f.values.has("once") ? { once: r.bool(f.values.get("once"), "once") } : {}),
      };
    });
  }
  return out;
}

/** The friendly fields of an `rtas` step, which name what raw `args` would encode. */
const RTAS_FRIENDLY_FIELDS = [
  "device",
  "phb",
  "reg",
  "size",
  "value",
  "page_shift",
  "window_shift",
  "liobn",
] as const;

/** Keys an `rtas` step may have beside its name: raw `args` and `nret`, or the friendly fields. */
const RTAS_FIELDS = [...RTAS_FRIENDLY_FIELDS, "args", "nret"] as const;

function readStep(r: NodeReader, node: Node): Step {
  const all = r.map(node, "a step", [...STEP_KINDS, "expect", ...RTAS_FIELDS]);
  const kinds = STEP_KINDS.filter((k) => all.values.has(k));
  if (kinds.length !== 1) {
    r.fail(node, `expected a step with exactly one of: ${STEP_KINDS.join(", ")}`);
  }
  const kind = kinds[0];
  const line = r.lineOf(node);
  const expect = all.values.has("expect") ? readExpect(r, all.values.get("expect")) : undefined;
  const allowedBeside: Record<string, readonly string[]> = {
    rtas: RTAS_FIELDS,
    hcall: ["args"],
    ioctl: ["args", "container"],
  };
  const extra = [...all.values.keys()].filter(
    (k) => k !== kind && k !== "expect" && !(allowedBeside[kind] ?? []).includes(k),
  );
  if (extra.length) r.fail(all.keys.get(extra[0]), `unknown key '${extra[0]}' in a ${kind} step`);
  const body = all.values.get(kind);
  if (kind === "rtas") return readRtas(r, all, body, line, expect);
  if (kind === "hcall") return readHcall(r, all, body, line, expect);
  if (kind === "ioctl") return readIoctl(r, all, body, line, expect);
  if (kind === "reset") {
    r.oneOf(body, "reset", ["system"] as const);
    return { kind: "reset", line, expect };
  }
  return readOther(r, kind, body, line, expect, node);
}

const IOCTL_ARGS: Record<(typeof IOCTLS)[number], readonly string[]> = {
  SET_IOMMU: ["type", "group"],
  GET_INFO: [],
  ENABLE: [],
  DISABLE: [],
  REGISTER_MEMORY: ["vaddr", "size"],
  UNREGISTER_MEMORY: ["vaddr", "size"],
  TCE_CREATE: ["page_shift", "window_size", "levels"],
  TCE_REMOVE: ["start_addr"],
  MAP_DMA: ["iova", "size", "vaddr", "flags"],
  UNMAP_DMA: ["iova", "size"],
};

function readIoctl(
  r: NodeReader,
  all: MapEntries,
  body: Node | null | undefined,
  line: number,
  expect: Expectation | undefined,
): Step {
  const ioctl = r.oneOf(body, "ioctl", IOCTLS);
  const container = all.values.has("container") ? readId(r, all.values.get("container")) : "c0";
  const wanted = IOCTL_ARGS[ioctl];
  const args: Record<string, bigint | string> = {};
  if (all.values.has("args")) {
    const a = r.map(all.values.get("args"), `${ioctl} args`, wanted);
    for (const key of a.values.keys()) {
      args[key] =
        key === "type"
          ? r.oneOf(a.values.get(key), "type", ["spapr-tce-v2", "spapr-tce", "type1"] as const)
          : r.u64(a.values.get(key), key, { sizes: key === "size" || key === "window_size" });
    }
  }
  for (const key of wanted) {
    if (!(key in args)) r.fail(all.keys.get("args") ?? body, `${ioctl} needs args.${key}`);
  }
  return { kind: "ioctl", ioctl, container, args, line, expect };
}

function readHcall(
  r: NodeReader,
  all: MapEntries,
  body: Node | null | undefined,
  line: number,
  expect: Expectation | undefined,
): Step {
  const name = r.oneOf(body, "hypercall", HCALLS);
  const a = r.map(r.required(all, "args", name), `${name} args`, [
    "liobn",
    "ioba",
    "tce",
    "tce_value",
    "npages",
    "tce_list",
    "tces",
  ]);
  const v = a.values;
  const need = (k: string) => r.required(a, k, `${name} args`);
  const allowed: Record<string, readonly string[]> = {
    H_PUT_TCE: ["liobn", "ioba", "tce"],
    H_GET_TCE: ["liobn", "ioba"],
    H_STUFF_TCE: ["liobn", "ioba", "tce_value", "npages"],
    H_PUT_TCE_INDIRECT: ["liobn", "ioba", "tce_list", "npages", "tces"],
  };
  for (const k of v.keys()) {
    if (!allowed[name].includes(k))
      r.fail(
        a.keys.get(k),
        `'${k}' is not an argument of ${name}; expected: ${allowed[name].join(", ")}`,
      );
  }
  const liobn = r.u64(need("liobn"), "liobn");
  const ioba = r.u64(need("ioba"), "ioba");
  const base = { kind: "hcall" as const, name, line, expect, liobn, ioba };
  switch (name) {
    case "H_PUT_TCE":
      return { ...base, tce: r.u64(need("tce"), "tce") };
    case "H_GET_TCE":
      return base;
    case "H_STUFF_TCE":
      return {
        ...base,
        tce: r.u64(need("tce_value"), "tce_value"),
        npages: r.u64(need("npages"), "npages"),
      };
    default: {
      if (v.has("tces")) {
        if (v.has("tce_list") || v.has("npages"))
          r.fail(a.keys.get("tces"), "give either 'tces' or 'tce_list' with 'npages'");
        return { ...base, tces: r.seq(v.get("tces"), "tces").map((n) => r.u64(n, "a TCE")) };
      }
      return {
        ...base,
        tceList: r.u64(need("tce_list"), "tce_list"),
        npages: r.u64(need("npages"), "npages"),
      };
    }
  }
}

function readOther(
  r: NodeReader,
  kind: string,
  body: Node | null | undefined,
  line: number,
  expect: Expectation | undefined,
  node: Node,
): Step {
  switch (kind) {
    case "dma": {
      const d = r.map(body, "a dma step", ["device", "read", "write", "data", "length"]);
      const device = readId(r, r.required(d, "device", "a dma step"));
      return { kind: "dma", line, expect, device, ...readAccess(r, d, "a dma step") };
    }
    case "cpu": {
      const d = r.map(body, "a cpu step", ["read", "write", "data", "length"]);
      return { kind: "cpu", line, expect, ...readAccess(r, d, "a cpu step") };
    }
    case "device_add": {
      const dev = readDevice(r, body as Node, "a device_add step");
      if (dev.id === undefined) r.fail(body, "a device_add step needs 'id'");
      return {
        kind: "device_add",
        line,
        expect,
        id: dev.id,
        driver: dev.driver,
        bus: dev.bus,
        slot: dev.slot,
        host: dev.host,
      };
    }
    case "device_del": {
      const d = r.map(body, "a device_del step", ["id"]);
      return {
        kind: "device_del",
        line,
        expect,
        id: readId(r, r.required(d, "id", "a device_del step")),
      };
    }
    case "check":
      return { kind: "check", line, expect, check: r.oneOf(body, "check", CHECKS) };
    case "expect_mtree": {
      const d = r.map(body, "an expect_mtree step", [
        "contains",
        "equals",
        "flat",
        "disabled",
        "owners",
      ]);
      const contains = d.values.has("contains")
        ? r.string(d.values.get("contains"), "contains")
        : undefined;
      const equals = d.values.has("equals")
        ? r.string(d.values.get("equals"), "equals")
        : undefined;
      if ((contains === undefined) === (equals === undefined))
        r.fail(body, "an expect_mtree step needs exactly one of 'contains' or 'equals'");
      const flag = (k: string) => (d.values.has(k) ? r.bool(d.values.get(k), k) : false);
      return {
        kind: "expect_mtree",
        line,
        expect,
        contains,
        equals,
        flat: flag("flat"),
        disabled: flag("disabled"),
        owners: flag("owners"),
      };
    }
  }
  return r.fail(node, `unknown step kind '${kind}'`);
}

function readAccess(
  r: NodeReader,
  d: MapEntries,
  what: string,
): { address: bigint; write?: Uint8Array; length?: number } {
  const isRead = d.values.has("read");
  const isWrite = d.values.has("write");
  if (isRead === isWrite) r.fail(d.node, `${what} needs exactly one of 'read' or 'write'`);
  if (isWrite) {
    const address = r.u64(d.values.get("write"), "the address to write");
    const data = r.hexData(r.required(d, "data", what), "data");
    if (d.values.has("length"))
      r.fail(d.keys.get("length"), `'length' goes with 'read', not 'write'`);
    if (data.length === 0 || data.length > 1 << 24)
      r.fail(d.values.get("data"), "data must hold 1 byte to 16 MiB");
    return { address, write: data };
  }
  const address = r.u64(d.values.get("read"), "the address to read");
  if (d.values.has("data"))
    r.fail(
      d.keys.get("data"),
      `'data' goes with 'write'; to check what is read use expect: { data: ... }`,
    );
  const length = r.int(r.required(d, "length", what), "length", 1, 1 << 24);
  return { address, length };
}

function readRtas(
  r: NodeReader,
  all: MapEntries,
  body: Node | null | undefined,
  line: number,
  expect: Expectation | undefined,
): Step {
  const name = r.oneOf(body, "RTAS call", RTAS_CALLS);
  const v = all.values;
  const nret = v.has("nret") ? r.int(v.get("nret"), "nret", 0, 16) : undefined;
  if (v.has("args")) {
    const friendlyKey = RTAS_FRIENDLY_FIELDS.find((k) => v.has(k));
    if (friendlyKey)
      r.fail(all.keys.get(friendlyKey), `'${friendlyKey}' cannot be combined with raw 'args'`);
    const args = r
      .seq(v.get("args"), "args")
      .map((n) => r.u64(n, "an argument cell", { max: 0xffffffffn }));
    return { kind: "rtas", name, line, expect, args, nret };
  }
  let target: PhbRef | undefined;
  if (v.has("device") && v.has("phb"))
    r.fail(all.keys.get("phb"), "give either 'device' or 'phb', not both");
  if (v.has("device")) target = { device: readId(r, v.get("device")) };
  if (v.has("phb")) target = { phb: r.int(v.get("phb"), "phb index", 0, 30) };
  const needs = (key: string) => r.required(all, key, `${name} (friendly form)`);
  const friendly: {
    target?: PhbRef;
    reg?: number;
    size?: number;
    value?: bigint;
    pageShift?: number;
    windowShift?: number;
    liobn?: bigint;
  } = { target };
  switch (name) {
    case "ibm,read-pci-config":
    case "ibm,write-pci-config":
      if (!v.has("device")) needs("device");
      friendly.reg = r.int(needs("reg"), "reg", 0, 0xfff);
      friendly.size = r.int(needs("size"), "size", 0, 0xffffffff);
      if (name === "ibm,write-pci-config")
        friendly.value = r.u64(needs("value"), "value", { max: 0xffffffffn });
      break;
    case "ibm,create-pe-dma-window":
      friendly.pageShift = r.int(needs("page_shift"), "page_shift", 0, 0xffffffff);
      friendly.windowShift = r.int(needs("window_shift"), "window_shift", 0, 0xffffffff);
      break;
    case "ibm,remove-pe-dma-window":
      friendly.liobn = r.u64(needs("liobn"), "liobn", { max: 0xffffffffn });
      break;
  }
  if (name !== "ibm,remove-pe-dma-window" && !target) {
    r.fail(body, `${name} needs 'device' or 'phb' (or raw 'args')`);
  }
  return { kind: "rtas", name, line, expect, friendly, nret };
}

function readExpect(r: NodeReader, node: Node | null | undefined): Expectation {
  const e = r.map(node, "expect", [
    "rets",
    "status",
    "liobn",
    "start",
    "value",
    "available",
    "ret",
    "tce",
    "data",
    "fault",
    "ok",
    "error",
    "qemu_aborts",
  ]);
  const v = e.values;
  const out: Record<string, unknown> = {};
  if (v.has("rets"))
    out.rets = r
      .seq(v.get("rets"), "rets")
      .map((n) => r.u64(n, "a return cell", { max: 0xffffffffn }));
  if (v.has("status")) out.status = readSigned(r, v.get("status"), "status");
  if (v.has("liobn")) out.liobn = r.u64(v.get("liobn"), "liobn", { max: 0xffffffffn });
  if (v.has("start")) out.start = r.u64(v.get("start"), "start");
  if (v.has("value")) out.value = r.u64(v.get("value"), "value", { max: 0xffffffffn });
  if (v.has("available")) out.available = r.int(v.get("available"), "available", 0, 2);
  if (v.has("ret")) {
    const n = v.get("ret");
    if (isScalar(n) && typeof n.value === "string" && /^-E[A-Z0-9]+$/.test(n.value)) {
      const errno = errnoByName(n.value.slice(1));
      if (errno === undefined)
        r.fail(n, `expected ret as -ERRNO with a known errno; got '${n.value}'`);
      out.ret = -errno;
    } else if (isScalar(n) && typeof n.value === "string" && !/^-?[0-9]/.test(n.value)) {
      const code = H_NAMES[n.value];
      if (code === undefined)
        r.fail(
          n,
          `expected ret as one of ${Object.keys(H_NAMES).join(", ")} or a number; got '${n.value}'`,
        );
      out.ret = code;
    } else out.ret = readSigned(r, n, "ret");
  }
  if (v.has("tce")) out.tce = r.u64(v.get("tce"), "tce");
  if (v.has("data")) out.data = r.hexData(v.get("data"), "data");
  if (v.has("fault")) out.fault = r.bool(v.get("fault"), "fault");
  if (v.has("ok")) out.ok = r.bool(v.get("ok"), "ok");
  if (v.has("error")) out.error = r.string(v.get("error"), "error (a substring of the error)");
  if (v.has("qemu_aborts")) out.qemuAborts = r.bool(v.get("qemu_aborts"), "qemu_aborts");
  return out as Expectation;
}

function readSigned(r: NodeReader, node: Node | null | undefined, what: string): number {
  if (isScalar(node) && typeof node.value === "bigint" && node.value < 0n) {
    if (node.value < -(2n ** 31n)) r.fail(node, `${what} is out of range`);
    return Number(node.value);
  }
  return Number(r.u64(node, what, { max: 0xffffffffn }));
}

/** Device ids are unique across the machine and the steps' plugs, and steps name known devices. */
function checkDeviceIds(
  r: NodeReader,
  machine: MachineSpec,
  steps: readonly Step[],
  stepsNode: Node | null | undefined,
): void {
  const live = new Set<string>();
  for (const d of machine.devices) {
    if (d.id === undefined) continue;
    if (live.has(d.id))
      throw new ScenarioError(r.path, 1, 1, `duplicate device id '${d.id}' in machine.devices`);
    live.add(d.id);
  }
  const nodes = stepsNode ? r.seq(stepsNode, "steps") : [];
  steps.forEach((s, i) => {
    const at = nodes[i];
    const known = (id: string) => {
      if (!live.has(id))
        r.fail(at, `unknown device id '${id}' (known here: ${[...live].join(", ") || "none"})`);
    };
    if (s.kind === "device_add") {
      if (live.has(s.id)) r.fail(at, `duplicate device id '${s.id}'`);
      live.add(s.id);
    } else if (s.kind === "device_del") {
      known(s.id);
      live.delete(s.id);
    } else if (s.kind === "dma") known(s.device);
    else if (s.kind === "rtas" && s.friendly?.target && "device" in s.friendly.target)
      known(s.friendly.target.device);
  });
}
