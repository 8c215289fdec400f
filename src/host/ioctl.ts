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

/** Calls [seq, seq + count) kept in one row; `steps[k]`: how much argument k grows per call. */
interface Series {
  readonly row: number;
  readonly seq: number;
  readonly count: number;
  readonly steps: readonly bigint[];
}

/** `args` with each argument named in `steps` advanced `k` steps. */
function advance(
  args: Readonly<Record<string, IoctlArg>>,
  steps: Readonly<Record<string, bigint>>,
  k: number,
): Record<string, IoctlArg> {
  const out: Record<string, IoctlArg> = { ...args };
  for (const key in steps) out[key] = (args[key] as bigint) + BigInt(k) * steps[key];
  return out;
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
  /** Calls recorded (a series counts every call it stands for). */
  #length = 0;
  /** Rows stored: one per call, or one per series. */
  #rows = 0;
  /** Series of calls kept as one row each, by first call, ascending. */
  readonly #series: Series[] = [];
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
    this.#pushRow(seq, ioctl, args, ret);
    return seq;
  }

  /**
   * Appends `count` calls of `ioctl` that all returned `ret`, the k-th with `args` but each 64-bit
   * argument named in `steps` advanced by k times its step (each value within 64 bits: the
   * caller checks). Kept as one row; every call reads back as if pushed alone. Returns the first
   * call's sequence number.
   */
  pushSeries(
    ioctl: string,
    args: Readonly<Record<string, IoctlArg>>,
    ret: number,
    count: number,
    steps: Readonly<Record<string, bigint>>,
  ): number {
    const seq = this.#length;
    if (count <= 0) return seq;
    const row = this.#rows;
    this.#pushRow(seq, ioctl, args, ret);
    this.#length = seq + count;
    const shape = this.#shape[row];
    if (count === 1) return seq;
    if (shape === WHOLE) {
      // Arguments that fit no column: each call kept whole (never the case for MAP_DMA).
      for (let k = 1; k < count; k++) this.#pushRow(seq + k, ioctl, advance(args, steps, k), ret);
      return seq;
    }
    const keys = this.#shapes[shape].keys;
    this.#series.push({ row, seq, count, steps: keys.map((key) => steps[key] ?? 0n) });
    return seq;
  }

  /** Rows stored: what the log costs, however many calls it holds. */
  get rows(): number {
    return this.#rows;
  }

  #pushRow(seq: number, ioctl: string, args: Readonly<Record<string, IoctlArg>>, ret: number) {
    const row = this.#rows++;
    if (row === this.#shape.length) {
      this.#shape = grow(this.#shape, row + 1);
      this.#ret = grow(this.#ret, row + 1);
      this.#bigStart = grow(this.#bigStart, row + 1);
      this.#numStart = grow(this.#numStart, row + 1);
    }
    const shape = Object.is(ret | 0, ret) ? this.#shapeFor(ioctl, args) : WHOLE;
    this.#shape[row] = shape;
    if (shape === WHOLE) {
      this.#whole.set(row, { seq, ioctl, args, ret });
      return;
    }
    this.#ret[row] = ret;
    this.#bigStart[row] = this.#bigCount;
    this.#numStart[row] = this.#numCount;
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
    // The row holding call i, and which call of its series it is.
    let row = i;
    let nth = 0;
    let steps: readonly bigint[] | undefined;
    const series = this.#series;
    if (series.length !== 0 && i > series[0].seq) {
      let lo = 0;
      let hi = series.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (series[mid].seq <= i) lo = mid;
        else hi = mid - 1;
      }
      const s = series[lo];
      if (i < s.seq + s.count) {
        row = s.row;
        nth = i - s.seq;
        steps = s.steps;
      } else row = s.row + 1 + (i - s.seq - s.count);
    }
    const shape = this.#shape[row];
    if (shape === WHOLE) {
      const whole = this.#whole.get(row)!;
      return whole.seq === i ? whole : { ...whole, seq: i };
    }
    const { ioctl, keys, big } = this.#shapes[shape];
    const args: Record<string, IoctlArg> = {};
    let b = this.#bigStart[row];
    let n = this.#numStart[row];
    for (let k = 0; k < keys.length; k++) {
      if (!big[k]) args[keys[k]] = this.#nums[n++];
      else if (steps && steps[k] !== 0n) args[keys[k]] = this.#bigs[b++] + BigInt(nth) * steps[k];
      else args[keys[k]] = this.#bigs[b++];
    }
    return { seq: i, ioctl, args, ret: this.#ret[row] };
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

  /**
   * Whether `count` calls can be made and recorded as one series: no fault is planned (each call
   * would count towards one) and nobody observes calls one by one.
   */
  get takesSeries(): boolean {
    return this.#faults.length === 0 && this.onCall === undefined;
  }

  /**
   * Records `count` calls of `name` that the caller has made as one (see `IoctlLog.pushSeries`),
   * each returning `ret` (not an error); only when `takesSeries`.
   */
  recordSeries(
    name: string,
    args: Record<string, IoctlArg>,
    ret: number,
    count: number,
    steps: Readonly<Record<string, bigint>>,
  ): void {
    this.log.pushSeries(name, args, ret, count, steps);
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
