/**
 * Every VFIO message iova renders, checked byte for byte against QEMU 7.2's own format string run
 * through a small printf (the C string concatenation, PRIx64-style macros, %s %d %x %lx %p %m).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { strerror } from "../../src/host/errno.ts";
import { isRepeatLine } from "../../src/host/fold.ts";
import { loadScenario } from "../../src/scenario/load.ts";
import { runScenario } from "../../src/scenario/run.ts";
import { type QemuMessage, VFIO_MESSAGES } from "../../src/vfio/messages.ts";

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

/** A pattern matching any text QEMU prints with this format (error_setg_errno adds its suffix). */
function patternOf(m: QemuMessage<readonly unknown[]>): string {
  const escaped = cString(m.format).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const body = escaped.replace(/%(l?)([sdxpm])/g, (_, _l: string, conv: string) => {
    if (conv === "d") return "-?\\d+";
    if (conv === "x") return "[0-9a-f]+";
    if (conv === "p") return "0x[0-9a-f]+";
    return ".*";
  });
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
