/** Runs the CLI in process, capturing what it writes. */
import { main } from "../../src/cli/main.ts";

/** Exit code and captured output of `iova ARGS`. */
export function runCli(...args: string[]): { code: number; out: string; err: string } {
  let out = "";
  let err = "";
  const code = main(
    args,
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
  );
  return { code, out, err };
}
