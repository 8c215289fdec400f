/**
 * Turns a recorded x86 case's `cmdline.txt` into a q35 description and its recorded steps:
 * PCI configuration writes through ports 0xcf8/0xcfc (as `record.py` does them) become qtest
 * lines, a QMP `device_add` a device to hot-plug.
 */

import type { Q35Config, Q35DeviceSpec } from "../../src/machine/q35.ts";
import { q35ConfigFromArgv, splitCommandLine } from "../../src/qtest/cmdline.ts";

/** A converted case, or why it cannot be. */
export type Q35Conversion =
  | { readonly config: Q35Config; readonly steps: readonly Q35Step[] }
  | { readonly unsupported: string };

/** A recorded step: a qtest line, or a device hot-plugged over QMP. */
export type Q35Step = { readonly qtest: string } | { readonly deviceAdd: Q35DeviceSpec };

const DEVICE_ADD = /^qmp (\{"execute": "device_add", .*\})$/;

const CFG =
  /^pci-config-write \(0xcf8\/0xcfc, qtest\) ([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) reg (0x[0-9a-f]+) size ([124]) value (0x[0-9a-f]+)$/;

/** Converts cmdline.txt text. */
export function q35CaseFromCmdline(text: string): Q35Conversion {
  const [command, ...rest] = text.replace(/\r/g, "").split("\n");
  let config: Q35Config;
  try {
    config = q35ConfigFromArgv(splitCommandLine(command));
  } catch (e) {
    return { unsupported: (e as Error).message };
  }
  const steps: Q35Step[] = [];
  for (const line of rest) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const add = DEVICE_ADD.exec(line.trim());
    if (add) {
      const { driver, id, bus, ...properties } = JSON.parse(add[1]).arguments as Record<
        string,
        string
      >;
      steps.push({ deviceAdd: { driver, id, bus, properties } });
      continue;
    }
    const m = CFG.exec(line.trim());
    if (!m) return { unsupported: `step ${line}` };
    const [bus, dev, fn] = [m[1], m[2], m[3]].map((x) => Number.parseInt(x, 16));
    const reg = Number(m[4]);
    const addr = (0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;
    steps.push({ qtest: `outl 0xcf8 0x${addr.toString(16)}` });
    const op = { 1: "outb", 2: "outw", 4: "outl" }[Number(m[5]) as 1 | 2 | 4];
    steps.push({ qtest: `${op} 0x${(0xcfc + (reg & 3)).toString(16)} ${m[6]}` });
  }
  return { config, steps };
}
