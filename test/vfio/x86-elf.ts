/**
 * Which code of an x86-64 ELF executable refers to a string: the executable's sections, the
 * functions its `.eh_frame_hdr` lists, and the RIP-relative `lea` instructions of `.text` (how
 * GCC's x86-64 code takes a string's address). The linker keeps one copy of equal string
 * literals, so a format two source files share is one string with two users: counting the users,
 * and naming the function around each, tells whether a file still prints it.
 */
import { readFileSync } from "node:fs";

interface Section {
  readonly addr: number;
  readonly offset: number;
  readonly size: number;
}

/** A function as `.eh_frame` describes it: [start, start + size). */
export interface CodeRange {
  readonly start: number;
  readonly size: number;
}

export class X86Elf {
  readonly #bytes: Buffer;
  readonly #sections = new Map<string, Section>();
  #leas: { at: number; target: number }[] | undefined;
  #functions: CodeRange[] | undefined;

  constructor(path: string) {
    const b = readFileSync(path);
    if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1 || b.readUInt16LE(18) !== 62)
      throw new Error(`${path}: not a little-endian x86-64 ELF executable`);
    this.#bytes = b;
    const shoff = Number(b.readBigUInt64LE(0x28));
    const shentsize = b.readUInt16LE(0x3a);
    const shnum = b.readUInt16LE(0x3c);
    const shstrndx = b.readUInt16LE(0x3e);
    const header = (i: number) => {
      const at = shoff + i * shentsize;
      return {
        name: b.readUInt32LE(at),
        addr: Number(b.readBigUInt64LE(at + 0x10)),
        offset: Number(b.readBigUInt64LE(at + 0x18)),
        size: Number(b.readBigUInt64LE(at + 0x20)),
      };
    };
    const names = header(shstrndx);
    for (let i = 0; i < shnum; i++) {
      const h = header(i);
      const start = names.offset + h.name;
      const name = b.toString("latin1", start, b.indexOf(0, start));
      this.#sections.set(name, { addr: h.addr, offset: h.offset, size: h.size });
    }
  }

  #section(name: string): Section {
    const s = this.#sections.get(name);
    if (!s) throw new Error(`no ${name} section`);
    return s;
  }

  #offsetOf(addr: number): number | undefined {
    for (const s of this.#sections.values()) {
      if (s.addr !== 0 && addr >= s.addr && addr < s.addr + s.size) return addr - s.addr + s.offset;
    }
    return undefined;
  }

  /** The addresses of `text` as a whole NUL-terminated string in `.rodata`. */
  stringAddresses(text: string): number[] {
    const ro = this.#section(".rodata");
    const needle = Buffer.from(`\0${text}\0`, "latin1");
    const out: number[] = [];
    let at = this.#bytes.indexOf(needle, ro.offset);
    while (at >= 0 && at + needle.length <= ro.offset + ro.size) {
      out.push(ro.addr + (at + 1 - ro.offset));
      at = this.#bytes.indexOf(needle, at + 1);
    }
    return out;
  }

  /** The NUL-terminated printable string at `addr`, if there is one. */
  stringAt(addr: number): string | undefined {
    const ro = this.#section(".rodata");
    if (addr < ro.addr || addr >= ro.addr + ro.size) return undefined;
    const start = addr - ro.addr + ro.offset;
    const end = this.#bytes.indexOf(0, start);
    if (end <= start) return undefined;
    const s = this.#bytes.toString("latin1", start, end);
    return /^[\x20-\x7e\t\n]+$/.test(s) ? s : undefined;
  }

  /** Every `lea disp32(%rip), %r64` in `.text`: where it is and the address it takes. */
  #leaList(): { at: number; target: number }[] {
    if (this.#leas) return this.#leas;
    const text = this.#section(".text");
    const b = this.#bytes;
    const out: { at: number; target: number }[] = [];
    for (let i = text.offset, end = text.offset + text.size - 7; i < end; i++) {
      // REX.W (or REX.WR) 8d, ModRM mod=00 rm=101: RIP-relative.
      if ((b[i] === 0x48 || b[i] === 0x4c) && b[i + 1] === 0x8d && (b[i + 2] & 0xc7) === 0x05) {
        const at = text.addr + (i - text.offset);
        out.push({ at, target: at + 7 + b.readInt32LE(i + 3) });
      }
    }
    this.#leas = out;
    return out;
  }

  /** The code addresses that take the address `target`. */
  referencesTo(target: number): number[] {
    return this.#leaList()
      .filter((l) => l.target === target)
      .map((l) => l.at);
  }

  /** The functions `.eh_frame_hdr`'s search table lists, by start address. */
  #functionList(): CodeRange[] {
    if (this.#functions) return this.#functions;
    const hdr = this.#section(".eh_frame_hdr");
    const b = this.#bytes;
    const [version, framePtrEnc, countEnc, tableEnc] = [0, 1, 2, 3].map((i) => b[hdr.offset + i]);
    // version 1; eh_frame_ptr pcrel sdata4; fde_count udata4; table datarel sdata4 (GCC's and ld's).
    if (version !== 1 || framePtrEnc !== 0x1b || countEnc !== 0x03 || tableEnc !== 0x3b)
      throw new Error("unexpected .eh_frame_hdr encoding");
    const count = b.readUInt32LE(hdr.offset + 8);
    const out: CodeRange[] = [];
    for (let i = 0; i < count; i++) {
      const entry = hdr.offset + 12 + 8 * i;
      const start = hdr.addr + b.readInt32LE(entry);
      const fde = this.#offsetOf(hdr.addr + b.readInt32LE(entry + 4));
      if (fde === undefined) continue;
      // FDE: length, CIE pointer, pc_begin (pcrel sdata4), pc_range (udata4).
      out.push({ start, size: b.readUInt32LE(fde + 12) });
    }
    this.#functions = out;
    return out;
  }

  /** The function holding code address `addr`. */
  functionAt(addr: number): CodeRange | undefined {
    const fns = this.#functionList();
    let lo = 0;
    let hi = fns.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (fns[mid].start <= addr) lo = mid;
      else hi = mid - 1;
    }
    const f = fns[lo];
    return f && f.start <= addr && addr < f.start + f.size ? f : undefined;
  }

  /** The strings the code of `fn` takes the address of. */
  stringsUsedBy(fn: CodeRange): string[] {
    const out: string[] = [];
    for (const l of this.#leaList()) {
      if (l.at < fn.start || l.at >= fn.start + fn.size) continue;
      const s = this.stringAt(l.target);
      if (s !== undefined) out.push(s);
    }
    return out;
  }
}
