/**
 * The report of a run: a plain data object, the JSON contract of `iova run --json` (every 64-bit
 * value a `0x` lower-case hex string). The text and HTML views are made from it.
 */

/** One step's outcome. */
export interface StepReport {
  readonly index: number;
  /** Line of the step in its scenario file. */
  readonly line: number;
  readonly kind: string;
  /** The call or action, e.g. `ibm,create-pe-dma-window`, `H_PUT_TCE`, `write`. */
  readonly name: string;
  /** False when the step's expectation did not hold. */
  readonly ok: boolean;
  /** What happened (fields depend on the kind). */
  readonly result: Record<string, unknown>;
  /** An error the step met (a refused plug, a failed ioctl), else null. */
  readonly error: string | null;
  /** What the expectation wanted and did not get. */
  readonly expectation_failures?: readonly string[];
  /** Set where real QEMU 7.2 would have aborted the whole VM at this step. */
  readonly qemu_aborts?: boolean;
}

/** A guest DMA window. */
export interface GuestWindowReport {
  readonly phb: number;
  readonly liobn: string;
  readonly start: string;
  readonly size: string;
  readonly page_shift: number;
  readonly valid_entries: number;
}

/** One invariant's verdict. */
export interface CheckReport {
  readonly name: string;
  readonly ok: boolean;
  readonly violations: readonly string[];
  /** How many violations there were (the list is cut at 50). */
  readonly total: number;
}

/** A host container: its windows and mapping runs. */
export interface ContainerReport {
  readonly backend: string;
  readonly devices: readonly string[];
  /** Its share of the process's locked pages (host pages): its own charges and the preregistered memory it was first to hold. */
  readonly locked_pages: number;
  readonly windows: readonly {
    readonly start: string;
    readonly size: string;
    readonly page_shift: number;
  }[];
  readonly mappings: readonly {
    readonly iova: string;
    readonly size: string;
    readonly gpa: string;
    readonly hva: string;
    readonly perm: string;
  }[];
}

/** The whole report. */
export interface Report {
  readonly scenario: string;
  readonly behaviour: string;
  readonly ok: boolean;
  /** Set when the machine would not even start (QEMU's message); no step ran. */
  readonly error?: string;
  readonly steps: readonly StepReport[];
  readonly guest: { readonly windows: readonly GuestWindowReport[] };
  readonly host: {
    readonly containers: readonly ContainerReport[];
    /** The VMM process's locked pages (host pages), which RLIMIT_MEMLOCK limits: all containers together. */
    readonly locked_pages: number;
  };
  readonly checks: readonly CheckReport[];
  readonly mtree: string;
}
