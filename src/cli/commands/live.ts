/** `iova attach` and `iova qemu`: a live QEMU's memory map over QMP. */
import type { Command } from "commander";
import { MtreeSyntaxError } from "../../memory/mtree/parse.ts";
import { formatMtree } from "../../memory/mtree/print.ts";
import type { MtreeDumps } from "../../qemu/qmp.ts";
import type { QemuIdentity } from "../../qemu/version.ts";
import { renderMemoryHtml } from "../../view/flat-views.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { UsageError } from "../errors.ts";
import { writeOutput } from "../io.ts";
import { printOptions } from "./mtree.ts";

interface LiveFlags {
  qmp?: string;
  flatView?: boolean;
  disabled?: boolean;
  owners?: boolean;
  json?: boolean;
  html?: string;
}

function liveOptions(c: Command): Command {
  return printOptions(c)
    .option("--json", "print the dumps and the rebuilt text as JSON")
    .option("--html <file>", "write a self-contained page of the memory map");
}

/** Prints a live QEMU's rebuilt memory map as `mtree` would (or JSON, or HTML). */
function printLive(
  context: CliContext,
  qemu: QemuIdentity,
  dumps: MtreeDumps,
  flags: LiveFlags,
  source: string,
) {
  // Which QEMU this is goes to stderr, so that stdout stays QEMU's own text format.
  if (!flags.json) context.err(`iova: ${qemu.summary}\n`);
  // `model`: the release line iova models this VM as (what `--qemu` would name), null for none.
  const qemuVersion = {
    ...qemu.version,
    text: qemu.text,
    modelled: qemu.modelled,
    model: qemu.line ?? null,
  };
  let result: ReturnType<CliContext["deps"]["importMtree"]>;
  try {
    result = context.deps.importMtree(dumps.tree, dumps.flat);
  } catch (e) {
    if (e instanceof MtreeSyntaxError)
      throw new UsageError(
        `${source}: QEMU's \`info mtree${e.fromFlat ? " -f" : " -o -D"}\` reply, line ${e.line}: expected ${e.expected}`,
      );
    throw e;
  }
  if (flags.html !== undefined) {
    writeOutput(flags.html, renderMemoryHtml(result.system, `memory map of ${source}`));
    return;
  }
  const text = formatMtree(result.system, {
    flat: flags.flatView,
    owners: flags.owners,
    disabled: flags.disabled,
  });
  context.out(
    flags.json
      ? `${JSON.stringify({ source, qemuVersion, mtree: text, qemu: dumps }, null, 2)}\n`
      : text,
  );
}

/** `iova attach`. */
export const attachCommand: CliCommand = {
  name: "attach",
  summary: "read a running QEMU's memory map over QMP (queries only) and print it",
  async: true,
  define(c) {
    liveOptions(c.requiredOption("--qmp <socket>", "QEMU's QMP unix socket"));
  },
  async run(context, _args, options) {
    const flags = options as LiveFlags;
    const socket = flags.qmp as string;
    const client = await context.deps.connectQmp(socket);
    try {
      const qemu = await context.deps.queryQemuVersion(client);
      printLive(context, qemu, await context.deps.readMtreeDumps(client), flags, socket);
    } finally {
      client.close();
    }
    return 0;
  },
};

/** `iova qemu`. */
export const qemuCommand: CliCommand = {
  name: "qemu",
  summary: "start a QEMU paused with a private QMP socket, print its memory map, quit it",
  async: true,
  define(c) {
    liveOptions(c.argument("<command-line...>", "the QEMU command line, after --"))
      .passThroughOptions()
      .addHelpText("after", "\nExample: iova qemu -f -- qemu-system-ppc64 -M pseries -m 4G");
  },
  async run(context, args, options) {
    const argv = args[0] as string[];
    const qemu = await context.deps.launchQemu(argv);
    try {
      const identity = await context.deps.queryQemuVersion(qemu.client);
      const dumps = await context.deps.readMtreeDumps(qemu.client);
      printLive(context, identity, dumps, options, argv.join(" "));
    } finally {
      await qemu.stop();
    }
    return 0;
  },
};
