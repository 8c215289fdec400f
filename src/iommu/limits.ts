/**
 * How many entries one operation may make iova materialise one by one (a notification per TCE,
 * a host IOMMU entry per page). Filling and clearing ranges cost what they change; mirroring them
 * entry by entry into a host cannot, so past the limit the operation is refused, unchanged.
 */

/**
 * The default ceiling: 2^24 entries per operation, what a 1 TiB guest mapped one to one in 64 KiB
 * pages holds. Runs of consecutive pages are mirrored as series (about 16 bytes an entry for the
 * guest and host tables together, the ioctl log one row a series): 2^24 entries cost about
 * 270 MB and a second or two; entry by entry (a trace, faults, scattered pages) several times that.
 */
export const DEFAULT_MATERIALISED_ENTRY_LIMIT = 2 ** 24;

/** An operation refused because it would materialise more entries than the ceiling allows. */
export class MaterialisationLimitError extends Error {
  override name = "MaterialisationLimitError";
  /** Entries the operation would have materialised. */
  readonly entries: number;
  readonly limit: number;

  constructor(message: string, entries: number, limit: number) {
    super(message);
    this.entries = entries;
    this.limit = limit;
  }
}

/** A byte count as people read it: 512 KiB, 16 GiB. */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}
