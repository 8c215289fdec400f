/**
 * Behaviours of QEMU 7.2 itself that break an invariant and that iova reproduces on purpose
 * (docs/known-bugs.md). A check that finds a violation one of them explains still fails, but
 * names the behaviour, so that a finding that is QEMU's is told apart from one that is iova's.
 */

/** A known QEMU 7.2 behaviour. */
export interface QemuBug {
  /** Short name used in docs and reports: Q1, Q2. */
  readonly id: string;
  /** What happens, in a line. */
  readonly summary: string;
}

export const QEMU_BUGS = {
  /**
   * `vfio_iommu_map_notify`: a MAP whose target is not RAM is refused ("iommu map to non memory
   * area") and returns without unmapping; `put_tce_emu` sends no UNMAP before a re-MAP. So the
   * host keeps the page the guest's previous TCE mapped.
   */
  staleMappingAfterNonRamTce: {
    id: "Q1",
    summary:
      "a valid TCE overwritten with one whose target is not RAM keeps its old host mapping (QEMU sends only a MAP, VFIO refuses it: non memory area)",
  },
  /**
   * `vfio_dma_map` always asks for VFIO_DMA_MAP_FLAG_READ and adds WRITE unless read-only: a
   * write-only TCE becomes a read-and-write host mapping.
   */
  writeOnlyTceMappedReadWrite: {
    id: "Q2",
    summary:
      "a write-only TCE becomes a read-and-write host mapping (vfio_dma_map always sets READ)",
  },
} as const satisfies Record<string, QemuBug>;

/** What an attributed violation's text carries. */
export const QEMU_BUG_MARK = "[known QEMU 7.2 bug ";

/** A violation's text with the behaviour that explains it. */
export function attributed(violation: string, bug: QemuBug): string {
  return `${violation} ${QEMU_BUG_MARK}${bug.id}: ${bug.summary}]`;
}
