/**
 * Sparse backing store for RAM, ROM and ROM-device regions (QEMU's RAMBlock). Memory is held in
 * fixed-size chunks allocated on first write, so a 1 TiB region costs nothing until touched;
 * unwritten bytes read as zero, as fresh anonymous memory does.
 */

const CHUNK_SHIFT = 16;
const CHUNK_SIZE = 1 << CHUNK_SHIFT;
const CHUNK_MASK = BigInt(CHUNK_SIZE - 1);

/** A RAM block: `size` bytes of lazily allocated memory. */
export class SparseRam {
  readonly size: bigint;
  /** Created on the first write: machines hold many blocks that are never written. */
  #chunks: Map<number, Uint8Array> | undefined;

  constructor(size: bigint) {
    this.size = size;
  }

  /** Number of bytes actually allocated (for memory-use checks). */
  get allocatedBytes(): number {
    return (this.#chunks?.size ?? 0) * CHUNK_SIZE;
  }

  /** Copies `dest.length` bytes starting at `offset` into `dest`. */
  read(offset: bigint, dest: Uint8Array): void {
    this.#walk(offset, dest.length, (chunk, at, pos, len) => {
      if (chunk) dest.set(chunk.subarray(at, at + len), pos);
      else dest.fill(0, pos, pos + len);
    });
  }

  /** Copies `src` into the block at `offset`. */
  write(offset: bigint, src: Uint8Array): void {
    this.#walk(offset, src.length, (_chunk, at, pos, len, index) => {
      this.#chunkFor(index).set(src.subarray(pos, pos + len), at);
    });
  }

  #chunkFor(index: number): Uint8Array {
    this.#chunks ??= new Map();
    let chunk = this.#chunks.get(index);
    if (!chunk) {
      chunk = new Uint8Array(CHUNK_SIZE);
      this.#chunks.set(index, chunk);
    }
    return chunk;
  }

  #walk(
    offset: bigint,
    length: number,
    visit: (
      chunk: Uint8Array | undefined,
      at: number,
      pos: number,
      len: number,
      index: number,
    ) => void,
  ): void {
    if (offset < 0n || offset + BigInt(length) > this.size) {
      throw new RangeError(
        `RAM access [${offset}, +${length}) outside a block of ${this.size} bytes`,
      );
    }
    let index = Number(offset >> BigInt(CHUNK_SHIFT));
    let at = Number(offset & CHUNK_MASK);
    let pos = 0;
    while (pos < length) {
      const len = Math.min(CHUNK_SIZE - at, length - pos);
      visit(this.#chunks?.get(index), at, pos, len, index);
      pos += len;
      index += 1;
      at = 0;
    }
  }
}
