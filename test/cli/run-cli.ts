/** Runs the CLI in process, capturing what it writes. */
import { main, mainAsync } from "../../src/cli/main.ts";

interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Output sinks for the CLI and what they have collected. */
function capture() {
  const text = { out: "", err: "" };
  return {
    text,
    out: (s: string) => {
      text.out += s;
    },
    err: (s: string) => {
      text.err += s;
    },
  };
}

/** Exit code and captured output of `iova ARGS`. */
export function runCli(...args: string[]): CliResult {
  const c = capture();
  const code = main(args, c.out, c.err);
  return { code, ...c.text };
}

/** The same for the commands that talk to QEMU (`attach`, `qemu`), which run asynchronously. */
export async function runCliAsync(...args: string[]): Promise<CliResult> {
  const c = capture();
  const code = await mainAsync(args, c.out, c.err);
  return { code, ...c.text };
}
