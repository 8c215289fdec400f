/**
 * QEMU's qtest protocol (`softmmu/qtest.c`, 7.2) spoken by a q35 model: each command line gets
 * the reply QEMU would send. Memory commands go through the first CPU's address space, port
 * commands through the I/O space. Commands take no time; `passTime` fires pending device
 * timers (edu's 100 ms DMA, its factorial thread), as waiting does on a real QEMU.
 *
 * QEMU asserts on a malformed number or a missing argument, which kills it; so does a device's
 * `hw_error`. Such a command ends the session with the reason.
 */

import type { Q35Machine } from "../machine/q35.ts";
import { readAddressSpace, writeAddressSpace } from "../memory/access.ts";
import { base64ToBytes, bytesToBase64, bytesToHex } from "../memory/bytes.ts";

/** What a command did: a reply line, or QEMU's death. */
export type QtestOutcome = { readonly reply: string } | { readonly abort: string };

const M64 = (1n << 64n) - 1n;

/** C's `strtoull` with base 0 (hex with 0x, octal with a leading 0, else decimal), strictly. */
export function parseQtestNumber(text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  let v: bigint;
  if (/^0x[0-9a-f]+$/i.test(text)) v = BigInt(text);
  else if (/^0[0-7]*$/.test(text)) v = BigInt(`0o${text.slice(1) || "0"}`);
  else if (/^[1-9]\d*$/.test(text)) v = BigInt(text);
  else return undefined;
  return v > M64 ? undefined : v;
}

const SIZES: Record<string, number> = { b: 1, w: 2, l: 4, q: 8 };

/** A qtest connection to a q35 model. */
export class QtestSession {
  readonly machine: Q35Machine;
  #dead: string | undefined;

  constructor(machine: Q35Machine) {
    this.machine = machine;
  }

  /** Why the session ended (QEMU aborted), if it did. */
  get aborted(): string | undefined {
    return this.#dead;
  }

  /** Lets time pass: every pending device timer fires (QEMU may die doing so). */
  passTime(): QtestOutcome {
    if (this.#dead !== undefined) return { abort: this.#dead };
    this.machine.runTimers();
    const abort = this.machine.aborted;
    if (abort !== undefined) {
      this.#dead = abort;
      return { abort };
    }
    return { reply: "OK" };
  }

  /** Runs one command line (without the newline). */
  execute(line: string): QtestOutcome {
    if (this.#dead !== undefined) return { abort: this.#dead };
    const outcome = this.#dispatch(line.trim().split(/\s+/));
    const abort = this.machine.aborted;
    if (abort !== undefined) {
      this.#dead = abort;
      return { abort };
    }
    if ("abort" in outcome) this.#dead = outcome.abort;
    return outcome;
  }

  #dispatch(words: string[]): QtestOutcome {
    const [cmd] = words;
    const m = this.machine;
    const fail = (what: string): QtestOutcome => ({
      abort: `qtest: assertion failed in '${words.join(" ")}': ${what}`,
    });
    const num = (i: number): bigint | undefined => parseQtestNumber(words[i]);

    const access = /^(read|write|in|out)([bwlq])$/.exec(cmd);
    if (access && (access[1] === "in" || access[1] === "out")) {
      // Port I/O: sizes b, w and l only.
      if (access[2] === "q") return { reply: `FAIL Unknown command '${cmd}'` };
      const size = SIZES[access[2]];
      const port = num(1);
      if (port === undefined) return fail("a port number");
      const addr = port & 0xffffffffn;
      if (access[1] === "out") {
        const value = num(2);
        if (value === undefined) return fail("a value");
        writeAddressSpace(m.ioAs, addr, bytesOf(value & 0xffffffffn, size));
        return { reply: "OK" };
      }
      const data = readAddressSpace(m.ioAs, addr, size).data;
      return { reply: `OK 0x${littleEndianValue(data).toString(16).padStart(4, "0")}` };
    }
    if (access) {
      const size = SIZES[access[2]];
      const addr = num(1);
      if (addr === undefined) return fail("an address");
      if (access[1] === "write") {
        const value = num(2);
        if (value === undefined) return fail("a value");
        writeAddressSpace(m.cpuMemory, addr, bytesOf(value, size));
        return { reply: "OK" };
      }
      const data = readAddressSpace(m.cpuMemory, addr, size).data;
      return { reply: `OK 0x${littleEndianValue(data).toString(16).padStart(16, "0")}` };
    }
    switch (cmd) {
      case "read": {
        const addr = num(1);
        const len = num(2);
        if (addr === undefined || len === undefined) return fail("an address and a length");
        // QEMU asserts a non-zero length (it would send an empty reply).
        if (len === 0n) return fail("(len)");
        if (len > 1n << 24n) return fail("a length iova accepts (at most 16 MiB)");
        const data = readAddressSpace(m.cpuMemory, addr, Number(len)).data;
        return { reply: `OK 0x${bytesToHex(data)}` };
      }
      case "write": {
        const addr = num(1);
        const len = num(2);
        const hex = words[3];
        if (addr === undefined || len === undefined || hex === undefined) {
          return fail("an address, a length and data");
        }
        if (len > 1n << 24n) return fail("a length iova accepts (at most 16 MiB)");
        if (hex.length < 3) return { reply: "ERR invalid argument size" };
        const data = new Uint8Array(Number(len));
        for (let i = 0; i < data.length && i * 2 + 4 <= hex.length; i++) {
          data[i] = (nibble(hex[i * 2 + 2]) << 4) | nibble(hex[i * 2 + 3]);
        }
        writeAddressSpace(m.cpuMemory, addr, data);
        return { reply: "OK" };
      }
      case "memset": {
        const addr = num(1);
        const len = num(2);
        const value = num(3);
        if (addr === undefined || len === undefined || value === undefined) {
          return fail("an address, a length and a value");
        }
        if (len > 1n << 24n) return fail("a length iova accepts (at most 16 MiB)");
        if (len > 0n) {
          writeAddressSpace(
            m.cpuMemory,
            addr,
            new Uint8Array(Number(len)).fill(Number(value & 0xffn)),
          );
        }
        return { reply: "OK" };
      }
      case "b64read": {
        const addr = num(1);
        const len = num(2);
        if (addr === undefined || len === undefined) return fail("an address and a length");
        if (len === 0n) return fail("(len)");
        if (len > 1n << 24n) return fail("a length iova accepts (at most 16 MiB)");
        const data = readAddressSpace(m.cpuMemory, addr, Number(len)).data;
        return { reply: `OK ${bytesToBase64(data)}` };
      }
      case "b64write": {
        const addr = num(1);
        const len = num(2);
        const text = words[3];
        if (addr === undefined || len === undefined || text === undefined) {
          return fail("an address, a length and data");
        }
        // QEMU writes what decodes, at most the length given.
        const data = base64ToBytes(text);
        const n = Math.min(data.length, Number(len < 1n << 24n ? len : 1n << 24n));
        writeAddressSpace(m.cpuMemory, addr, data.subarray(0, n));
        return { reply: "OK" };
      }
      case "endianness":
        return { reply: "OK little" };
      default:
        return { reply: `FAIL Unknown command '${cmd}'` };
    }
  }
}

/** C's `hex2nib`: a hex digit's value; anything else counts as 0. */
function nibble(c: string | undefined): number {
  if (c === undefined) return 0;
  const v = Number.parseInt(c, 16);
  return Number.isNaN(v) ? 0 : v;
}

function bytesOf(value: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

function littleEndianValue(data: Uint8Array): bigint {
  let v = 0n;
  for (let i = data.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[i]);
  return v;
}
