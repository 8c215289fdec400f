/** One event line of a QEMU trace log, read. */
import type { TraceValue } from "./format.ts";

/** A read event line. */
export interface TraceRecord {
  /** 1-based line in the log. */
  readonly line: number;
  /** The event's name as logged (for example `spapr_iommu_pci_put`). */
  readonly name: string;
  /** The arguments, in the order of the event's format. */
  readonly values: readonly TraceValue[];
}

/** A log line that is not what its event's format says, or not an event line at all. */
export class TraceSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly expected: string,
  ) {
    super(`line ${line}: expected ${expected}`);
    this.name = "TraceSyntaxError";
  }
}
