/**
 * A `qemu-system-aarch64 -M virt` command line as the arm virt model needs it: the machine's
 * `gic-version`, `highmem` and `iommu` properties, `-m`, `-smp` and `-device`. Options that do
 * not change the modelled machine are skipped as for q35; anything else is an error naming it.
 */
import type { ArmVirtConfig, ArmVirtDeviceSpec } from "../machine/arm-virt.ts";
import { CmdlineError, deviceSpec, parseBool, readCommandLine } from "./cmdline.ts";

/** Builds an arm virt description from QEMU's argv (the binary first, or not). */
export function armVirtConfigFromArgv(argv: readonly string[]): ArmVirtConfig {
  let gicVersion: 2 | 3 | undefined;
  let highmem: boolean | undefined;
  let iommu: "smmuv3" | undefined;
  const devices: ArmVirtDeviceSpec[] = [];
  const { machine, memory, smp } = readCommandLine(argv, {
    binary: /qemu-system-aarch64$/,
    otherBinary: (name) => `binary ${name}: only qemu-system-aarch64 is modelled for arm`,
    machineName: "arm virt",
    maxCpus: 512,
    machineProperty: (k, v) => {
      if (k === "gic-version") {
        if (v !== "2" && v !== "3") throw new CmdlineError(`gic-version=${v} is not modelled`);
        gicVersion = v === "2" ? 2 : 3;
      } else if (k === "highmem") highmem = parseBool(k, v);
      else if (k === "iommu") {
        if (v === "none") iommu = undefined;
        else if (v === "smmuv3") iommu = "smmuv3";
        else throw new CmdlineError(`Invalid iommu value '${v}'`);
      } else throw new CmdlineError(`-M virt property '${k}' is not modelled`);
    },
    device: (driver, props) => {
      devices.push(deviceSpec(driver, props));
    },
  });
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
