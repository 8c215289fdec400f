/** `iova trace`: a QEMU trace log replayed through the model, with the machine from a command line or a live QEMU. */
import { Option } from "commander";
import type { QemuLine } from "../../machine/qemu-line.ts";
import { QmpClient } from "../../qemu/qmp.ts";
import { type QemuIdentity, queryQemuVersion } from "../../qemu/version.ts";
import { machineFromQtree } from "../../trace/index.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { UsageError } from "../errors.ts";
import { traceCommand as replayTrace, type TraceCommandOptions } from "../trace-command.ts";
import { qemuOption } from "./run.ts";

interface TraceFlags {
  machine?: string;
  qmp?: string;
  assume?: string;
  json?: boolean;
  html?: string;
  scenario?: string;
  behaviour?: string;
  qemu?: QemuLine;
  quiet?: boolean;
}

function options(context: CliContext, log: string, flags: TraceFlags): TraceCommandOptions {
  return {
    log,
    machine: flags.machine,
    json: flags.json,
    html: flags.html,
    scenario: flags.scenario,
    assume: flags.assume,
    behaviour: flags.behaviour,
    qemu: flags.qemu,
    quiet: flags.quiet,
    progress: context.stderrIsTTY && !flags.json,
    style: context.style,
  };
}

/**
 * The machine as the live QEMU that writes the log has it now (queries only), and the release it
 * runs (`query-version`), which picks the model unless `--qemu` says otherwise.
 */
async function liveMachine(
  socket: string,
): Promise<NonNullable<TraceCommandOptions["live"]> & { readonly qemu: QemuIdentity }> {
  const client = await QmpClient.connect(socket, { connectTimeoutMs: 2000 });
  try {
    const qemu = await queryQemuVersion(client);
    const type = (await client.execute("qom-get", {
      path: "/machine",
      property: "type",
    })) as string;
    const memory = (await client.execute("query-memory-size-summary")) as {
      "base-memory": number;
    };
    const cpus = (await client.execute("query-cpus-fast")) as unknown[];
    const kvm = (await client.execute("query-kvm")) as { enabled: boolean };
    const machine = machineFromQtree(
      await client.hmp("info qtree"),
      type,
      BigInt(memory["base-memory"]),
      cpus.length,
    );
    return { machine: { ...machine, kvm: kvm.enabled }, source: socket, qemu };
  } finally {
    client.close();
  }
}

/** `iova trace`. */
export const traceCommand: CliCommand = {
  name: "trace",
  summary: "replay a QEMU trace log through the model and compare every device-side event",
  // Only reading the machine from a live QEMU waits for anything.
  async: (argv) => argv.some((a) => a === "--qmp" || a.startsWith("--qmp=")),
  define(c) {
    c.argument("<log>", "QEMU's trace log (-trace 'spapr_iommu_*' -trace 'vfio_*' -D LOG)")
      .option("--machine <cmdline-file>", "the QEMU command line of the traced machine")
      .option("--qmp <socket>", "read the machine from the live QEMU that writes LOG instead")
      .addOption(
        new Option(
          "--assume <assumption>",
          "what to assume for what the log leaves unsaid (H_PUT_TCE_INDIRECT's middle entries)",
        )
          .choices(["none", "linear"])
          .default("none"),
      )
      .option("--json", "print the report as JSON")
      .option("--html <file>", "write a self-contained page with the DMA address map")
      .option("--scenario <out.yaml>", "write the rebuilt scenario, to edit and rerun")
      .addOption(
        new Option("--behaviour <name>", "which QEMU the model plays").choices([
          "qemu-7.2",
          "qemu-2016-prefix",
        ]),
      )
      .addOption(qemuOption())
      .option("-q, --quiet", "print only the verdict")
      .addHelpText(
        "after",
        "\nRebuilds the guest's actions from the log, plays them, compares every device-side event\nQEMU logged with the model's, and prints the windows, entries, host mappings, the first\ndivergence and the verdicts. Supported events: docs/trace.md.",
      );
  },
  run(context, args, opts) {
    const flags = opts as TraceFlags;
    const log = args[0] as string;
    if (flags.machine !== undefined && flags.qmp !== undefined)
      throw new UsageError("trace takes --machine or --qmp, not both");
    const base = options(context, log, flags);
    if (flags.qmp === undefined) return replayTrace(base, context.out, context.err);
    return liveMachine(flags.qmp).then(({ qemu, ...live }) => {
      if (!flags.json) context.err(`iova: ${qemu.summary}\n`);
      return replayTrace(
        { ...base, machine: undefined, live, qemu: flags.qemu ?? qemu.line },
        context.out,
        context.err,
      );
    });
  },
};
