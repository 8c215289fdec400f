/**
 * A `qemu-system-aarch64 -M virt` command line as the arm virt model needs it: the machine's
 * `gic-version`, `highmem` and `iommu` properties, `-m`, `-smp` and `-device`. Options that do
 * not change the modelled machine are skipped as for q35; anything else is an error naming it.
 */
import type { ArmVirtConfig, ArmVirtDeviceSpec } from "../machine/arm-virt.ts";
import {
  CmdlineError,
  deviceSpec,
  parseBool,
  parseSize,
  SKIPPED,
  SKIPPED_WITH_ARG,
  splitOptions,
} from "./cmdline.ts";

/** Builds an arm virt description from QEMU's argv (the binary first, or not). */
export function armVirtConfigFromArgv(argv: readonly string[]): ArmVirtConfig {
  let machine: string | undefined;
  let memory: bigint | undefined;
  let smp: number | undefined;
  let gicVersion: 2 | 3 | undefined;
  let highmem: boolean | undefined;
  let iommu: "smmuv3" | undefined;
  const devices: ArmVirtDeviceSpec[] = [];
  let i = 0;
  if (argv[0] && !argv[0].startsWith("-")) {
    if (!/qemu-system-aarch64$/.test(argv[0])) {
      throw new CmdlineError(`binary ${argv[0]}: only qemu-system-aarch64 is modelled for arm`);
    }
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
          if (k === "gic-version") {
            if (v !== "2" && v !== "3") throw new CmdlineError(`gic-version=${v} is not modelled`);
            gicVersion = v === "2" ? 2 : 3;
          } else if (k === "highmem") highmem = parseBool(k, v);
          else if (k === "iommu") {
            if (v === "none") iommu = undefined;
            else if (v === "smmuv3") iommu = "smmuv3";
            else throw new CmdlineError(`Invalid iommu value '${v}'`);
          } else if (k === "accel") {
            if (v !== "tcg" && v !== "qtest") {
              throw new CmdlineError(`-M accel=${v}: only TCG and qtest are modelled`);
            }
          } else throw new CmdlineError(`-M virt property '${k}' is not modelled`);
        }
        break;
      }
      case "-m": {
        const [size, props] = splitOptions(needValue());
        memory = parseSize(size.replace(/^size=/, ""), 1n << 20n);
        for (const k of props.keys()) {
          if (k === "size") memory = parseSize(props.get(k)!, 1n << 20n);
          else throw new CmdlineError(`-m ${k}: memory hot-plug is not modelled on arm virt`);
        }
        break;
      }
      case "-smp": {
        const [n, props] = splitOptions(needValue());
        const cpus = props.get("cpus") ?? n;
        if (!/^\d+$/.test(cpus) || Number(cpus) < 1 || Number(cpus) > 512) {
          throw new CmdlineError(`-smp ${cpus}: expected a CPU count`);
        }
        smp = Number(cpus);
        break;
      }
      case "-device": {
        const [driver, props] = splitOptions(needValue());
        devices.push(deviceSpec(driver, props));
        break;
      }
      default:
        throw new CmdlineError(`option ${a} is not modelled`);
    }
  }
  if (machine !== "virt" && machine !== "virt-7.2") {
    throw new CmdlineError(`machine '${machine ?? "none"}': only virt is modelled for arm`);
  }
  return {
    ...(memory === undefined ? {} : { memory }),
    ...(smp === undefined ? {} : { smp }),
    ...(gicVersion === undefined ? {} : { gicVersion }),
    ...(highmem === undefined ? {} : { highmem }),
    ...(iommu === undefined ? {} : { iommu }),
    devices,
  };
}
