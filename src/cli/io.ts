/** File input and output for the commands: every failure a UsageError naming the file. */
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "./errors.ts";

const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? String(e);

/** A file's text. */
export function readInput(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`${path}: cannot read: ${why(e)}`);
  }
}

/** Writes a whole file. */
export function writeOutput(path: string, text: string | Uint8Array): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new UsageError(`${path}: cannot write: ${why(e)}`);
  }
}

/** Writes text in pieces, buffered: at most `chunk` characters are held before they go out. */
export class ChunkedWriter {
  #parts: string[] = [];
  #size = 0;
  constructor(
    readonly sink: (s: string) => void,
    readonly chunk = 1 << 16,
  ) {}
  write(s: string): void {
    this.#parts.push(s);
    this.#size += s.length;
    if (this.#size >= this.chunk) this.flush();
  }
  flush(): void {
    if (this.#size === 0) return;
    this.sink(this.#parts.join(""));
    this.#parts = [];
    this.#size = 0;
  }
}

/** A file written line by line as a run goes (the trace), closed by `close`. */
export function lineFile(path: string): { writer: ChunkedWriter; close(): void } {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (e) {
    throw new UsageError(`${path}: cannot write: ${why(e)}`);
  }
  const writer = new ChunkedWriter((s) => {
    try {
      writeSync(fd, s);
    } catch (e) {
      throw new UsageError(`${path}: cannot write: ${why(e)}`);
    }
  });
  return {
    writer,
    close() {
      writer.flush();
      closeSync(fd);
    },
  };
}

/** A directory for the full bytes of summarised results; returns a function that writes one. */
export function dumpDirectory(
  dir: string,
): (step: number, field: string, bytes: Uint8Array) => string {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`${dir}: cannot create: ${why(e)}`);
  }
  return (step, field, bytes) => {
    const path = join(dir, `step-${step}-${field}.bin`);
    writeOutput(path, bytes);
    return path;
  };
}

/** About how many characters of JSON a value may take to be written in one piece. */
const SMALL_JSON = 4096;

/**
 * Whether `value`'s JSON takes at most about `budget` characters (a bound on its strings and keys
 * and on its count of values, not its exact length): stops as soon as it is over.
 */
function isSmall(value: unknown, budget: number): boolean {
  let left = budget;
  const visit = (v: unknown): boolean => {
    left -= 8;
    if (typeof v === "string") left -= v.length;
    else if (Array.isArray(v)) {
      for (const item of v) if (!visit(item)) return false;
    } else if (v !== null && typeof v === "object") {
      for (const k in v) {
        left -= k.length;
        if (!visit((v as Record<string, unknown>)[k])) return false;
      }
    }
    return left >= 0;
  };
  return visit(value);
}

/**
 * Writes a value as `JSON.stringify(value, null, 2)` would, in pieces, so a report of any size
 * goes out without one string holding it all.
 */
export function writeJson(value: unknown, w: ChunkedWriter, indent = ""): void {
  // A small value (a step's record) goes out in one piece: piece by piece cost a streamed
  // report of 10^6 steps more than running them.
  if (value !== null && typeof value === "object" && isSmall(value, SMALL_JSON)) {
    w.write(JSON.stringify(value, null, 2).replace(/\n/g, `\n${indent}`));
    return;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) {
      w.write("[]");
      return;
    }
    const inner = `${indent}  `;
    w.write("[\n");
    value.forEach((v, i) => {
      w.write(inner);
      writeJson(v === undefined || typeof v === "function" ? null : v, w, inner);
      w.write(i < value.length - 1 ? ",\n" : "\n");
    });
    w.write(`${indent}]`);
    return;
  }
  if (value !== null && typeof value === "object" && !("toJSON" in value)) {
    const entries = Object.entries(value).filter(
      ([, v]) => v !== undefined && typeof v !== "function",
    );
    if (entries.length === 0) {
      w.write("{}");
      return;
    }
    const inner = `${indent}  `;
    w.write("{\n");
    entries.forEach(([k, v], i) => {
      w.write(`${inner}${JSON.stringify(k)}: `);
      writeJson(v, w, inner);
      w.write(i < entries.length - 1 ? ",\n" : "\n");
    });
    w.write(`${indent}}`);
    return;
  }
  w.write(JSON.stringify(value, null, 2).replace(/\n/g, `\n${indent}`));
}
