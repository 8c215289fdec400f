/**
 * The host kernel's ioctl boundary: every call is recorded with its arguments and result, and
 * a fault plan can make a named ioctl fail with a chosen errno, once or from its Nth call on.
 * Records keep their arguments raw (formatting 10^6 of them eagerly would dominate a replay).
 */
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

/** Records ioctls and injects planned faults. */
export class IoctlBoundary {
  readonly log: IoctlRecord[] = [];
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
    const record: IoctlRecord = { seq: this.log.length, ioctl: name, args, ret };
    this.log.push(record);
    if (ret < 0) this.#lastFailed = record;
    this.onCall?.(record);
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
