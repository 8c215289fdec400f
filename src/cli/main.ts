/**
 * The `iova` command. Exit codes: 0 success, 1 something checked failed, 2 bad input
 * (`path:line: message` on stderr, never a stack trace).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatMtree, importMtree, MtreeSyntaxError } from "../index.ts";
import { UsageError } from "./errors.ts";

const USAGE = `usage:
  iova mtree --import FILE [--flat FLATFILE] [-f] [-D] [-o]
      Rebuild a model from QEMU's \`info mtree -D\` text (optionally with \`-o\`) and print it
      again as \`info mtree\` would. --flat gives QEMU's \`info mtree -f\` text of the same
      machine, to settle what the tree text does not say.
  iova help
`;

/** Runs the CLI; returns the exit code. Output goes through the given writers. */
export function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): number {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case "mtree":
        return mtreeCommand(rest, out);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        out(USAGE);
        return 0;
      default:
        throw new UsageError(`iova: unknown command '${command}'\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(e.message.endsWith("\n") ? e.message : `${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

function parse(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        import: { type: "string" },
        flat: { type: "string" },
        "flat-view": { type: "boolean", short: "f" },
        disabled: { type: "boolean", short: "D" },
        owners: { type: "boolean", short: "o" },
        dispatch: { type: "boolean", short: "d" },
      },
    });
  } catch (e) {
    throw new UsageError(`iova: ${(e as Error).message}\n${USAGE}`);
  }
}

function readInput(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

function mtreeCommand(args: readonly string[], out: (s: string) => void): number {
  const { values, positionals } = parse(args);
  if (values.dispatch) {
    throw new UsageError("iova: -d (QEMU's dispatch tables) is not modelled");
  }
  if (!values.import) {
    throw new UsageError(
      positionals.length
        ? "iova: scenario files are not supported yet; use --import FILE"
        : `iova: mtree needs --import FILE\n${USAGE}`,
    );
  }
  const treePath = values.import;
  const flatPath = values.flat;
  const treeText = readInput(treePath);
  const flatText = flatPath === undefined ? undefined : readInput(flatPath);
  let result: ReturnType<typeof importMtree>;
  try {
    result = importMtree(treeText, flatText);
  } catch (e) {
    if (e instanceof MtreeSyntaxError) {
      // Which file: a flat-view error can only come from the hint once the tree parsed.
      const path = e.fromFlat ? flatPath : treePath;
      throw new UsageError(`${path}:${e.line}: expected ${e.expected}`);
    }
    throw new UsageError(`${treePath}: ${(e as Error).message}`);
  }
  out(
    formatMtree(result.system, {
      flat: values["flat-view"],
      owners: values.owners,
      disabled: values.disabled,
    }),
  );
  return 0;
}
