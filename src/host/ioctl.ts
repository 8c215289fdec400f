/**
 * The host kernel's ioctl boundary: every call is recorded with its arguments and result, and
 * a fault plan can make a named ioctl fail with a chosen errno, once or from its Nth call on.
 */
import { U64_MAX } from "../memory/int.ts";
import { errnoName } from "./errno.ts";

/** An ioctl argument: a number, a 64-bit value, or a name. */
export type IoctlArg = bigint | number | string;

/** One ioctl as it happened. `ret` is what the ioctl returned: 0, a positive value, or -errno. */
export interface IoctlRecord {
  readonly seq: number;
  readonly ioctl: string;
  readonly args: Readonly<Record<string, IoctlArg>>;
  readonly ret: number;
}

/** A planned failure. */
export interface FaultSpec {
  readonly ioctl: string;
  readonly errno: number;
  /** First call (1-based) that fails; default 1. */
  readonly from?: number;
  /** Only that one call fails; default: every call from `from` on. */
  readonly once?: boolean;
}

/** The ioctl name and argument names (in order) shared by many records; `big[i]`: arg i is a bigint. */
interface Shape {
  readonly ioctl: string;
  readonly keys: readonly string[];
  readonly big: readonly boolean[];
}

/** Marks a record kept whole, as an object (arguments that do not fit the columns). */
const WHOLE = 0xffff;

function grow<T extends Uint16Array | Uint32Array | Int32Array | Float64Array | BigUint64Array>(
  array: T,
  needed: number,
): T {
  if (needed <= array.length) return array;
  const next = new (array.constructor as new (n: number) => T)(Math.max(needed, array.length * 2));
  next.set(array as never);
  return next;
}

/**
 * Every ioctl in order. A replay makes 10^6 MAP_DMA calls, so records are kept in columns (an
 * argument shape per record, 64-bit arguments in a BigUint64Array, numbers in a Float64Array)
 * and become objects only when read; arguments that fit no column are kept as they came.
 */
export class IoctlLog implements Iterable<IoctlRecord> {
  #length = 0;
  readonly #shapes: Shape[] = [];
  readonly #shapeOf = new Map<string, number[]>();
  #shape = new Uint16Array(64);
  #ret = new Int32Array(64);
  #bigStart = new Uint32Array(64);
  #numStart = new Uint32Array(64);
  #bigs = new BigUint64Array(256);
  #nums = new Float64Array(256);
  #bigCount = 0;
  #numCount = 0;
  readonly #whole = new Map<number, IoctlRecord>();
  readonly #scratch: IoctlArg[] = [];

  get length(): number {
    return this.#length;
  }

  /** Appends a call; returns its sequence number. */
  push(ioctl: string, args: Readonly<Record<string, IoctlArg>>, ret: number): number {
    const seq = this.#length++;
    if (seq === this.#shape.length) {
      this.#shape = grow(this.#shape, seq + 1);
      this.#ret = grow(this.#ret, seq + 1);
      this.#bigStart = grow(this.#bigStart, seq + 1);
      this.#numStart = grow(this.#numStart, seq + 1);
    }
    const shape = Object.is(ret | 0, ret) ? this.#shapeFor(ioctl, args) : WHOLE;
    this.#shape[seq] = shape;
    if (shape === WHOLE) {
      this.#whole.set(seq, { seq, ioctl, args, ret });
      return seq;
    }
    this.#ret[seq] = ret;
    this.#bigStart[seq] = this.#bigCount;
    this.#numStart[seq] = this.#numCount;
    const { big } = this.#shapes[shape];
    const values = this.#scratch;
    if (this.#bigCount + big.length > this.#bigs.length)
      this.#bigs = grow(this.#bigs, this.#bigCount + big.length);
    if (this.#numCount + big.length > this.#nums.length)
      this.#nums = grow(this.#nums, this.#numCount + big.length);
    for (let k = 0; k < big.length; k++) {
      if (big[k]) this.#bigs[this.#bigCount++] = values[k] as bigint;
      else this.#nums[this.#numCount++] = values[k] as number;
    }
    return seq;
  }

  /**
   * The shape that fits `args` exactly (bigints within 64 bits, no strings), or WHOLE; the
   * argument values are left in the scratch array, in order.
   */
  #shapeFor(ioctl: string, args: Readonly<Record<string, IoctlArg>>): number {
    const candidates = this.#shapeOf.get(ioctl);
    if (candidates) {
      for (const id of candidates) if (readArgs(this.#shapes[id], args, this.#scratch)) return id;
    }
    const keys: string[] = [];
    const big: boolean[] = [];
    for (const key in args) {
      const v = args[key];
      if (typeof v === "string" || (typeof v === "bigint" && (v < 0n || v > U64_MAX))) return WHOLE;
      this.#scratch[keys.length] = v;
      keys.push(key);
      big.push(typeof v === "bigint");
    }
    if (this.#shapes.length === WHOLE) return WHOLE;
    const id = this.#shapes.push({ ioctl, keys, big }) - 1;
    if (candidates) candidates.push(id);
    else this.#shapeOf.set(ioctl, [id]);
    return id;
  }

  /** Record `seq`; negative counts from the end, as `Array.prototype.at`. */
  at(seq: number): IoctlRecord | undefined {
    const i = seq < 0 ? this.#length + seq : seq;
    if (!Number.isInteger(i) || i < 0 || i >= this.#length) return undefined;
    const shape = this.#shape[i];
    if (shape === WHOLE) return this.#whole.get(i);
    const { ioctl, keys, big } = this.#shapes[shape];
    const args: Record<string, IoctlArg> = {};
    let b = this.#bigStart[i];
    let n = this.#numStart[i];
    for (let k = 0; k < keys.length; k++)
      args[keys[k]] = big[k] ? this.#bigs[b++] : this.#nums[n++];
    return { seq: i, ioctl, args, ret: this.#ret[i] };
  }

  /** Records [start, end), as `Array.prototype.slice`. */
  slice(start = 0, end = this.#length): IoctlRecord[] {
    const from = start < 0 ? Math.max(0, this.#length + start) : Math.min(start, this.#length);
    const to = end < 0 ? Math.max(0, this.#length + end) : Math.min(end, this.#length);
    const out: IoctlRecord[] = [];
    for (let i = from; i < to; i++) out.push(this.at(i)!);
    return out;
  }

  *[Symbol.iterator](): Iterator<IoctlRecord> {
    for (let i = 0; i < this.#length; i++) yield this.at(i)!;
  }
}

/**
 * Whether `args` has exactly the shape's keys, in order, with the same kinds and in range; if so
 * its values are in `into`, in order.
 */
function readArgs(
  shape: Shape,
  args: Readonly<Record<string, IoctlArg>>,
  into: IoctlArg[],
): boolean {
  const { keys, big } = shape;
  let k = 0;
  for (const key in args) {
    if (k === keys.length || key !== keys[k]) return false;
    const v = args[key];
    if (big[k]) {
      if (typeof v !== "bigint" || v < 0n || v > U64_MAX) return false;
    } else if (typeof v !== "number") return false;
    into[k++] = v;
  }
  return k === keys.length;
}

/** Records ioctls and injects planned faults. */
export class IoctlBoundary {
  readonly log = new IoctlLog();
  /** Observes every ioctl as it completes (for tracing). */
  onCall: ((record: IoctlRecord) => void) | undefined;
  readonly #faults: FaultSpec[];
  readonly #calls = new Map<string, number>();
  #lastFailed: IoctlRecord | undefined;

  constructor(faults: readonly FaultSpec[] = []) {
    this.#faults = [...faults];
  }

  /** Runs `body` as ioctl `name` unless a fault is planned for this call; records the result. */
  call(name: string, args: Record<string, IoctlArg>, body: () => number): number {
    let ret: number | undefined;
    if (this.#faults.length > 0) {
      const n = (this.#calls.get(name) ?? 0) + 1;
      this.#calls.set(name, n);
      const fault = this.#faults.find(
        (f) => f.ioctl === name && (f.once ? n === (f.from ?? 1) : n >= (f.from ?? 1)),
      );
      if (fault) ret = -fault.errno;
    }
    ret ??= body();
    const seq = this.log.push(name, args, ret);
    if (ret < 0 || this.onCall) {
      const record: IoctlRecord = { seq, ioctl: name, args, ret };
      if (ret < 0) this.#lastFailed = record;
      this.onCall?.(record);
    }
    return ret;
  }

  /** The most recent call that returned an error (what a stale errno would still hold). */
  lastFailed(): IoctlRecord | undefined {
    return this.#lastFailed;
  }
}

/** An argument as shown: 64-bit values in hex. */
export function formatIoctlArg(v: IoctlArg): string | number {
  return typeof v === "bigint" ? `0x${v.toString(16)}` : v;
}

/** An ioctl record as one line: `MAP_DMA(iova=0x0, size=0x1000) = 0` or `= -EINVAL`. */
export function formatIoctl(r: IoctlRecord): string {
  const args = Object.entries(r.args)
    .map(([k, v]) => `${k}=${formatIoctlArg(v)}`)
    .join(", ");
  const ret = r.ret < 0 ? `-${errnoName(-r.ret)}` : String(r.ret);
  return `${r.ioctl}(${args}) = ${ret}`;
}
