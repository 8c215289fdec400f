/**
 * Every VFIO message iova renders, checked byte for byte against QEMU 7.2's own format string run
 * through a small printf (the C string concatenation, PRIx64-style macros, %s %d %x %lx %p %m).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { strerror } from "../../src/host/errno.ts";
import { isRepeatLine } from "../../src/host/fold.ts";
import { qemu10Dir } from "../../src/qemu/qemu-10.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { type QemuMessage, VFIO_MESSAGES } from "../../src/vfio/messages.ts";
import { X86Elf } from "./x86-elf.ts";

/** The format string a C compiler builds from string literals and the inttypes macros. */
function cString(source: string): string {
  const macros: Record<string, string> = { PRIx64: "lx", HWADDR_PRIx: "lx", PRIxPTR: "lx" };
  let out = "";
  const token = /\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*))/y;
  let at = 0;
  while (at < source.length) {
    token.lastIndex = at;
    const m = token.exec(source);
    assert.ok(m, `cannot read C source at ${at}: ${source}`);
    if (m[1] !== undefined) out += m[1].replace(/\\(.)/g, "$1");
    else {
      assert.ok(m[2] in macros, `unknown macro ${m[2]}`);
      out += macros[m[2]];
    }
    at = token.lastIndex;
  }
  return out;
}

/** glibc's printf for the conversions QEMU's VFIO messages use; %m takes an errno argument. */
function printf(format: string, args: readonly unknown[]): string {
  let i = 0;
  const next = () => {
    assert.ok(i < args.length, `too few arguments for ${format}`);
    return args[i++];
  };
  const out = format.replace(/%(l?)([sdxpm%])/g, (_, _long: string, conv: string) => {
    if (conv === "%") return "%";
    const v = next();
    if (conv === "s") return String(v);
    if (conv === "d") return String(v);
    if (conv === "x") return (v as bigint).toString(16);
    if (conv === "p") return typeof v === "string" ? v : `0x${(v as bigint).toString(16)}`;
    return strerror(v as number);
  });
  assert.equal(i, args.length, `unused arguments for ${format}`);
  return out;
}

/** What QEMU prints for a message given these arguments. */
function qemuText(m: QemuMessage<readonly unknown[]>, args: readonly unknown[]): string {
  if (m.via === "warn_report") return `warning: ${printf(cString(m.format), args)}`;
  if (m.via === "error_setg_errno") {
    const errno = args[args.length - 1] as number;
    return `${printf(cString(m.format), args.slice(0, -1))}: ${strerror(errno)}`;
  }
  return printf(cString(m.format), args);
}

/** Arguments for every message, as QEMU would pass them. */
const SAMPLES: Record<keyof typeof VFIO_MESSAGES, readonly unknown[]> = {
  setIommuFailed: [1],
  type1GetInfoFailed: [22],
  enableFailed: [16],
  spaprGetInfoFailed: [6],
  removeExistingWindowFailed: [22],
  ramListenerFailed: [],
  listenerFailed: [],
  groupSetupFailed: [3],
  devicePrefix: ["0001:01:00.0"],
  deviceAlreadyAttached: [],
  regionPrefix: ["tce-iommu-80000001"],
  hostWindowsOverlap: ["vfio_host_win_add"],
  unalignedRegion: ["vfio_listener_region_del", "tce-iommu-80000000", 0x1000n, 0n, 0x10000n],
  sectionOverlapsHostWindow: [0x800000000000000n, 0x8000000ffffffffn, 0n, 0x3fffffffn],
  createSpaprWindowFailed: [12],
  cannotMapRegion: ["0x55d5c0de1000", 0x1000000000000n, 0x1000000ffffffn],
  dmaMapFailed: ["0x55d5c0de1000", 0xfee00000n, 0x1000n, 0x7fff00000000n, -22, 22],
  guestIommuPageMaskIncompatible: [0xfffffffffffff000n, 0x20010000n],
  dmaMappingFatal: [],
  dmaUnmapFailed: ["0x55d5c0de1000", 0x800000000000000n, 0x1000000n, -6, 6],
  hostPageSizeUnsupported: [0x1000000n, 0x1000n],
  createWindowIoctlFailed: [-1, 12],
  windowStartRefused: [0x800000000000000n, 0x0n],
  removeWindowFailed: [0x800000000000000n],
  missingWindow: ["vfio_listener_region_del", 0x800000000000000n],
  wrongTargetAs: ["none"],
  nonMemoryArea: [0x40001000n],
  granularityIncompatible: [],
  mapDmaIoctlFailed: ["Invalid argument"],
  unmapDmaIoctlFailed: ["Success"],
  preregUnalignedRegion: ["vfio_prereg_listener_region_add"],
  memoryRegisteringFailed: [1],
  memoryRegisteringFatal: [],
  containerDmaMapFailed: [
    "0x55d5c0de1000",
    0xfee00000n,
    0x1000n,
    0x7fff00000000n,
    -22,
    "Invalid argument",
  ],
  containerDmaUnmapFailed: ["0x55d5c0de1000", 0x100000n, 0x1000n, -22, "Invalid argument"],
  ioasMapFault: [14],
  allocIoasFailed: [12],
  allocHwptFailed: [95],
  bindFailed: [23, 21, 22],
  attachFailed: [21, "0000:01:00.0", 23, 2, 98],
  iovaRangesFailed: [25],
  setVIommuFailed: [],
  hostAwBitsTooSmall: [48, 39],
};

describe("VFIO messages against QEMU 7.2's format strings", () => {
  for (const [name, message] of Object.entries(VFIO_MESSAGES)) {
    test(`${name} (${message.source}) renders as QEMU prints it`, () => {
      const args = SAMPLES[name as keyof typeof VFIO_MESSAGES];
      assert.ok(args, `no sample arguments for ${name}`);
      const m = message as unknown as QemuMessage<readonly unknown[]>;
      assert.equal(m.render(...args), qemuText(m, args));
    });
  }

  test("hex values carry 0x only where QEMU's format writes it", () => {
    assert.equal(
      VFIO_MESSAGES.removeWindowFailed.render(0x800000000000000n),
      "Failed to remove window at 800000000000000",
    );
    assert.equal(
      VFIO_MESSAGES.unalignedRegion.render("vfio_listener_region_del", "r", 0x1000n, 0n, 0x10000n),
      "vfio_listener_region_del received unaligned region r iova=0x1000 offset_within_region=0x0 qemu_real_host_page_size=0x10000",
    );
  });
});

/** The printable strings (4 bytes or more) of a binary, as `strings` finds them. */
function binaryStrings(path: string): Set<string> {
  const bytes = readFileSync(path);
  const out = new Set<string>();
  let start = -1;
  for (let i = 0; i <= bytes.length; i++) {
    const b = i < bytes.length ? bytes[i] : 0;
    const printable = (b >= 0x20 && b < 0x7f) || b === 0x09;
    if (printable && start < 0) start = i;
    else if (!printable && start >= 0) {
      if (i - start >= 4) out.add(bytes.toString("latin1", start, i));
      start = -1;
    }
  }
  return out;
}

const BINARIES: Record<"7.2" | "10.0", string[]> = {
  "7.2": ["/usr/bin/qemu-system-ppc64", "/usr/bin/qemu-system-x86_64"],
  "10.0": ["qemu-system-ppc64", "qemu-system-x86_64"].map((b) => join(qemu10Dir(), "usr/bin", b)),
};

/**
 * Formats that stay in a QEMU line's binaries although its VFIO path no longer prints them: the
 * linker keeps one copy of equal string literals, so the format remains as long as any other
 * source file uses it. Each entry says which, and the test below checks it in the code.
 */
const KEPT_BY_OTHER_CODE: Partial<
  Record<keyof typeof VFIO_MESSAGES, { line: "7.2" | "10.0"; by: string }>
> = {
  // 10.0's vfio_legacy_dma_unmap dropped its report; util/vfio-helpers.c (the userspace NVMe
  // driver's own VFIO container, not vfio-pci's) prints the same format when it fails to reset
  // its temporary IOVA range.
  unmapDmaIoctlFailed: { line: "10.0", by: "util/vfio-helpers.c qemu_vfio_dma_reset_temporary" },
};

describe("each message's format is in the binaries of the QEMU lines that print it, and only there", () => {
  for (const line of ["7.2", "10.0"] as const) {
    const present = BINARIES[line].every((b) => existsSync(b));
    test(`QEMU ${line}'s binaries`, { skip: present ? false : "binaries not installed" }, () => {
      const strings = new Set<string>();
      for (const b of BINARIES[line]) for (const s of binaryStrings(b)) strings.add(s);
      const has = (text: string) => {
        if (strings.has(text)) return true;
        for (const s of strings) if (s.includes(text)) return true;
        return false;
      };
      for (const [name, message] of Object.entries(VFIO_MESSAGES)) {
        const m = message as unknown as QemuMessage<readonly unknown[]>;
        const text = cString(m.format);
        const printed = (m.qemu ?? ["7.2", "10.0"]).includes(line);
        if (KEPT_BY_OTHER_CODE[name as keyof typeof VFIO_MESSAGES]?.line === line) {
          assert.ok(!printed && has(text), `${name}: the exception is stale in QEMU ${line}`);
          continue;
        }
        assert.equal(
          has(text),
          printed,
          `${name}: "${text}" ${printed ? "missing from" : "found in"} QEMU ${line}`,
        );
      }
    });
  }
});

/**
 * The code that uses a string: for each function taking its address, the trace events that
 * function emits (the trace formats it uses, `name args\n`), which name it.
 */
function usersOf(elf: X86Elf, text: string): string[] {
  const users: string[] = [];
  for (const addr of elf.stringAddresses(text)) {
    for (const at of elf.referencesTo(addr)) {
      const fn = elf.functionAt(at);
      assert.ok(fn, `no function holds 0x${at.toString(16)}`);
      const events = elf
        .stringsUsedBy(fn)
        .map((s) => /^([a-z0-9_]+) .*\n$/.exec(s)?.[1])
        .filter((e) => e !== undefined);
      users.push([...new Set(events)].sort().join(",") || "(no trace event)");
    }
  }
  return users.sort();
}

describe("VFIO_UNMAP_DMA failed: %s is in QEMU 10.0's binaries only for util/vfio-helpers.c", () => {
  const expected = {
    // vfio_dma_unmap (hw/vfio/common.c, it emits vfio_dma_unmap_overflow_workaround) and
    // qemu_vfio_dma_reset_temporary (util/vfio-helpers.c) share the one string.
    "7.2": ["qemu_vfio_dma_reset_temporary", "vfio_dma_unmap_overflow_workaround"],
    // hw/vfio's user is gone ("vfio: Remove reports of DMA mapping errors in backends").
    "10.0": ["qemu_vfio_dma_reset_temporary"],
  };
  for (const line of ["7.2", "10.0"] as const) {
    const present = BINARIES[line].every((b) => existsSync(b));
    test(`QEMU ${line}: the functions that take its address`, {
      skip: present ? false : "binaries not installed",
    }, () => {
      const text = cString(VFIO_MESSAGES.unmapDmaIoctlFailed.format);
      for (const b of BINARIES[line])
        assert.deepEqual(usersOf(new X86Elf(b), text), expected[line], b);
    });
  }
});

/** A pattern matching any text QEMU prints with this format (error_setg_errno adds its suffix). */
function patternOf(m: QemuMessage<readonly unknown[]>): string {
  const escaped = cString(m.format).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const body = escaped.replace(/%(l?)([sdxpm])/g, (_, _l: string, conv: string) => {
    if (conv === "d") return "-?\\d+";
    if (conv === "x") return "[0-9a-f]+";
    if (conv === "p") return "0x[0-9a-f]+";
    return ".*";
  });
  if (m.via === "warn_report") return `warning: ${body}`;
  return m.via === "error_setg_errno" ? `${body}: .*` : body;
}

test("every line QEMU's log gets in the examples is one of the table's messages", () => {
  const messages = Object.values(VFIO_MESSAGES) as unknown as QemuMessage<readonly unknown[]>[];
  const one = new RegExp(`^(?:${messages.map(patternOf).join("|")})$`);
  const dir = join(import.meta.dirname, "../../examples");
  const lines: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    const { report } = runScenario(loadScenario(readFileSync(join(dir, file), "utf8"), file));
    for (const step of report.steps) lines.push(...((step.result.qemu_log as string[]) ?? []));
  }
  assert.ok(lines.length > 0);
  // Fold markers ("… the 2 lines above 4095 more times") are the report's, not QEMU's.
  assert.deepEqual(
    lines.filter((l) => !one.test(l) && !isRepeatLine(l)),
    [],
  );
});
