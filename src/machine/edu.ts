/**
 * QEMU's `edu` teaching device (`hw/misc/edu.c`, as in 7.2): a 1 MiB MMIO BAR with an identity
 * register, a liveness register, a factorial unit, interrupt status, and a DMA engine that moves
 * up to 4 KiB between bus addresses and its own buffer at device address 0x40000. The DMA runs
 * on a 100 ms timer and the factorial on a thread; here both complete when time next passes
 * (`Q35Machine.runTimers`).
 *
 * 7.2's quirks are kept: bus addresses are clamped to `dma_mask` (28 bits by default), and a
 * transfer that reaches the last byte of the buffer fails the range check (`within(end, ...)`
 * excludes the end) and aborts QEMU through `hw_error`; the fix (posted in 2022, applied in
 * 2024) is in 10.0, and a machine of `qemu: "10.0"` has it.
 *
 * 10.0 also stopped aborting: an out-of-range transfer is logged as a guest error and then done
 * anyway, from or into QEMU's own memory next to the buffer, and the clamping notice became a
 * guest error too (both seen only with `-d guest_errors`). iova does an empty out-of-range
 * transfer as 10.0 does (nothing moves, the command completes); one that moves bytes outside
 * the buffer would read or overwrite QEMU's state, which iova does not model: the machine stops
 * with a message saying so.
 */
import { dmaRead, dmaWrite } from "../iommu/dma.ts";
import type { MemoryRegionOps } from "../memory/access-types.ts";
import { hex16 } from "../memory/int.ts";
import type { PciBus, PciDevice, PciFunctionSpec } from "./pci-device.ts";
import type { DeviceContext } from "./q35.ts";

/** The buffer's device address and size. */
export const EDU_DMA_START = 0x40000n;
export const EDU_DMA_SIZE = 4096n;

/** Command register bits. */
export const EduDmaCmd = { run: 1n, toPci: 2n, irq: 4n } as const;

const STATUS_COMPUTING = 0x01;
const STATUS_IRQFACT = 0x80;
const FACT_IRQ = 0x1;
const DMA_IRQ = 0x100;
const M64 = (1n << 64n) - 1n;

/** The edu device's state, visible for tests and reports. */
export interface EduState {
  addr4: number;
  fact: number;
  status: number;
  irqStatus: number;
  readonly dma: { src: bigint; dst: bigint; cnt: bigint; cmd: bigint };
  readonly buffer: Uint8Array;
  readonly dmaMask: bigint;
  /** Lines QEMU prints on stdout (7.2's clamping notices). */
  readonly log: string[];
  /**
   * What QEMU 10.0 logs as guest errors (`qemu_log_mask(LOG_GUEST_ERROR, ...)`, printed only
   * with `-d guest_errors`, each message without a line end): out-of-range transfers and
   * clamped bus addresses.
   */
  readonly guestErrors: string[];
}

/** Parses a QEMU uint64 property value (decimal, or hex with 0x). */
export function parseUint64Property(name: string, text: string): bigint {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) {
    throw new Error(`Property 'edu.${name}' doesn't take value '${text}'`);
  }
  const v = BigInt(text);
  if (v > M64) throw new Error(`Property 'edu.${name}' doesn't take value '${text}'`);
  return v;
}

/** Builds an edu function for q35. */
export function edu(ctx: DeviceContext): PciFunctionSpec & { readonly state: EduState } {
  const { system, owner, machine } = ctx;
  const maskText = ctx.properties.dma_mask;
  const state: EduState = {
    addr4: 0,
    fact: 0,
    status: 0,
    irqStatus: 0,
    dma: { src: 0n, dst: 0n, cnt: 0n, cmd: 0n },
    buffer: new Uint8Array(Number(EDU_DMA_SIZE)),
    dmaMask: maskText === undefined ? (1n << 28n) - 1n : parseUint64Property("dma_mask", maskText),
    log: [],
    guestErrors: [],
  };
  let device: PciDevice<PciBus> | undefined;

  const clamp = (addr: bigint): bigint => {
    const res = addr & state.dmaMask;
    if (res === addr) return res;
    if (machine.qemu === "10.0")
      state.guestErrors.push(`EDU: clamping DMA 0x${hex16(addr)} to 0x${hex16(res)}!`);
    else state.log.push(`EDU: clamping DMA ${hexAlt(addr)} to ${hexAlt(res)}!`);
    return res;
  };

  /**
   * `edu_check_range`; false when the transfer does not go on. 7.2's excludes a transfer ending
   * at the buffer's end (and an empty one) and aborts; 10.0's takes any transfer within the
   * buffer, an empty one included, as long as nothing wraps, and only logs the others.
   */
  const inRange = (addr: bigint, size: bigint): boolean => {
    const end1 = (addr + size) & M64;
    const end2 = EDU_DMA_START + EDU_DMA_SIZE;
    const within = (a: bigint) => EDU_DMA_START <= a && a < end2;
    const range = `EDU: DMA range 0x${hex16(addr)}-0x${hex16((end1 - 1n) & M64)} out of bounds (0x${hex16(EDU_DMA_START)}-0x${hex16(end2 - 1n)})!`;
    if (machine.qemu !== "10.0") {
      if (within(addr) && end1 > addr && within(end1)) return true;
      machine.abort(`hardware error: ${range}`);
      return false;
    }
    if (end1 >= addr && addr >= EDU_DMA_START && end1 <= end2) return true;
    state.guestErrors.push(range);
    if (size === 0n) return true;
    machine.abort(
      `edu: QEMU 10.0 logs "${range}" and copies the ${size} bytes anyway, to or from its own memory beyond the buffer: not modelled by iova`,
    );
    return false;
  };

  const dmaTimer = () => {
    const { dma } = state;
    if (!(dma.cmd & EduDmaCmd.run) || !device) return;
    const as = device.busMasterAs;
    // The buffer's part a transfer covers; an empty one (10.0 lets it start anywhere) none.
    const part = (start: bigint) => {
      if (dma.cnt === 0n) return new Uint8Array(0);
      const at = Number(start - EDU_DMA_START);
      return state.buffer.subarray(at, at + Number(dma.cnt));
    };
    if (!(dma.cmd & EduDmaCmd.toPci)) {
      if (!inRange(dma.dst, dma.cnt)) return;
      dmaRead(as, clamp(dma.src), part(dma.dst));
    } else {
      if (!inRange(dma.src, dma.cnt)) return;
      dmaWrite(as, clamp(dma.dst), part(dma.src).slice());
    }
    dma.cmd &= ~EduDmaCmd.run;
    if (dma.cmd & EduDmaCmd.irq) state.irqStatus |= DMA_IRQ;
  };

  const ops: MemoryRegionOps = {
    endianness: "little",
    valid: { minAccessSize: 4, maxAccessSize: 8 },
    impl: { minAccessSize: 4, maxAccessSize: 8 },
    read(offset, size) {
      const ones = size === 8 ? M64 : 0xffffffffn;
      if (offset < 0x80n && size !== 4) return ones;
      switch (offset) {
        case 0x00n:
          return 0x010000edn;
        case 0x04n:
          return BigInt(state.addr4);
        case 0x08n:
          return BigInt(state.fact);
        case 0x20n:
          return BigInt(state.status);
        case 0x24n:
          return BigInt(state.irqStatus);
        case 0x80n:
          return state.dma.src & ones;
        case 0x88n:
          return state.dma.dst & ones;
        case 0x90n:
          return state.dma.cnt & ones;
        case 0x98n:
          return state.dma.cmd & ones;
        default:
          return ones;
      }
    },
    write(offset, value, size) {
      if (offset < 0x80n && size !== 4) return 0;
      const v32 = Number(value & 0xffffffffn);
      const running = (state.dma.cmd & EduDmaCmd.run) !== 0n;
      switch (offset) {
        case 0x04n:
          state.addr4 = ~v32 >>> 0;
          break;
        case 0x08n:
          if (state.status & STATUS_COMPUTING) break;
          // A thread computes it (32-bit arithmetic); until time passes the guest sees the
          // operand and the computing bit, as QEMU answers an immediate read.
          state.fact = v32;
          state.status |= STATUS_COMPUTING;
          machine.schedule(() => {
            state.fact = factorial32(state.fact);
            state.status &= ~STATUS_COMPUTING;
            if (state.status & STATUS_IRQFACT) state.irqStatus |= FACT_IRQ;
          });
          break;
        case 0x20n:
          state.status =
            v32 & STATUS_IRQFACT ? state.status | STATUS_IRQFACT : state.status & ~STATUS_IRQFACT;
          break;
        case 0x60n:
          state.irqStatus = (state.irqStatus | v32) >>> 0;
          break;
        case 0x64n:
          state.irqStatus = (state.irqStatus & ~v32) >>> 0;
          break;
        case 0x80n:
          if (!running) state.dma.src = value;
          break;
        case 0x88n:
          if (!running) state.dma.dst = value;
          break;
        case 0x90n:
          if (!running) state.dma.cnt = value;
          break;
        case 0x98n:
          if (!(value & EduDmaCmd.run) || running) break;
          state.dma.cmd = value;
          machine.schedule(dmaTimer);
          break;
      }
      return 0;
    },
  };
  const bar = system.io("edu-mmio", 1n << 20n, ops, { owner });
  return {
    typeName: "edu",
    vendorId: 0x1234,
    deviceId: 0x11e8,
    classCode: 0x00ff00,
    revision: 0x10,
    bars: [{ region: bar, kind: "mem32" }],
    state,
    onRealize: (d) => {
      device = d;
    },
  };
}

function factorial32(n: number): number {
  let ret = 1;
  // Once 32 factors of two are in, the product stays 0 mod 2^32: stop there.
  for (let v = n; v > 0 && ret !== 0; v--) ret = Math.imul(ret, v) >>> 0;
  return ret;
}

/** C's `%#.16lx`: 0x and 16 digits, or plain 0. */
function hexAlt(v: bigint): string {
  return v === 0n ? "0000000000000000" : `0x${hex16(v)}`;
}
