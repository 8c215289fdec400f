/** Errors the CLI reports as bad input: a message (already naming file and line) and exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
