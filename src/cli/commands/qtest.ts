/** `iova qtest`: a q35 machine built from a QEMU command line answers a qtest transcript. */

import type { QemuLine } from "../../machine/qemu-line.ts";
import type { CliCommand } from "../command.ts";
import { UsageError } from "../errors.ts";
import { runQtestCommand } from "../qtest-command.ts";
import { qemuOption } from "./run.ts";

interface QtestFlags {
  machine: string;
  qemu?: QemuLine;
  quiet?: boolean;
  mtree?: boolean;
  flatView?: boolean;
  disabled?: boolean;
  owners?: boolean;
}

/** `iova qtest`. */
export const qtestCommand: CliCommand = {
  name: "qtest",
  summary: "replay a qtest transcript on a machine built from a QEMU command line",
  define(c) {
    c.argument("<script>", "qtest lines, each optionally followed by a tab and QEMU's reply")
      .requiredOption("--machine <cmdline-file>", "the QEMU command line (-M q35, -m, -device …)")
      .addOption(qemuOption())
      .option("-q, --quiet", "print only the verdict, not every reply")
      .option("--mtree", "print info mtree after the replay")
      .option("-f, --flat-view", "with --mtree: the flat views")
      .option("-D, --disabled", "with --mtree: include disabled regions")
      .option("-o, --owners", "with --mtree: each region's owner")
      .addHelpText(
        "after",
        "\nAnswers each command as QEMU 7.2 (or --qemu 10.0) would; exit 1 at the first reply that differs from the\none recorded after a tab (see docs/qtest.md).",
      );
  },
  run(context, args, options) {
    const flags = options as unknown as QtestFlags;
    const flat = flags.flatView ?? false;
    const disabled = flags.disabled ?? false;
    const owners = flags.owners ?? false;
    if (!flags.mtree && (flat || disabled || owners))
      throw new UsageError("qtest: -f, -D and -o go with --mtree");
    return runQtestCommand(
      {
        machine: flags.machine,
        qemu: flags.qemu,
        script: args[0] as string,
        quiet: flags.quiet ?? false,
        ...(flags.mtree ? { mtree: { flat, disabled, owners } } : {}),
      },
      context.out,
      context.err,
    );
  },
};
