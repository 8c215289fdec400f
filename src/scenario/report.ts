/**
 * The report of a run: a plain data object, the JSON contract of `iova run --json` (every 64-bit
 * value a `0x` lower-case hex string). It is defined once, here, with zod: the TypeScript types
 * are inferred from it and schema/report.schema.json is generated from it
 * (`npm run schema:report`). The text and HTML views are made from it.
 */
import { z } from "zod";
import { QEMU_LINES } from "../machine/qemu-line.ts";

const hex = z
  .string()
  .regex(/^0x[0-9a-f]+$/)
  .describe("a 64-bit value as 0x lower-case hex");

/** How a step ended: the four outcomes a step can have. */
export const STEP_OUTCOMES = ["held", "failed", "succeeded", "refused"] as const;

/** One field of a step's expectation that did not hold. */
export const ExpectationFailureSchema = z
  .object({
    check: z.literal("expect").describe("always `expect`: an expectation, not an invariant"),
    kind: z.string().describe("the expected field, e.g. `ret`, `status`, `data`, `holds`"),
    expected: z.string().describe("what the scenario expected, as written in the report"),
    actual: z.string().nullable().describe("what the step gave; null when it gives no such field"),
    message: z.string().describe("the same, as a sentence for people"),
  })
  .strict();
export type ExpectationFailure = z.infer<typeof ExpectationFailureSchema>;

/** A byte result too large to print: its length, digest and first bytes (and a file with all). */
export const BytesSummarySchema = z
  .object({
    length: z.number().int().min(0),
    sha256: z.string().optional().describe("hex SHA-256 of all the bytes, when the runner had one"),
    head: z.string().describe("hex of the first bytes"),
    file: z.string().optional().describe("where the full bytes were written (--dump-dir)"),
  })
  .strict();
export type BytesSummary = z.infer<typeof BytesSummarySchema>;

/** One step's outcome. */
export const StepReportSchema = z
  .object({
    step: z.number().int().min(1).describe("1-based position of the step in its scenario"),
    line: z.number().int().min(0).describe("line of the step in its scenario file"),
    kind: z.enum([
      "rtas",
      "hcall",
      "dma",
      "cpu",
      "device_add",
      "device_del",
      "check",
      "expect_mtree",
      "ioctl",
      "reset",
      "qtest",
      "vtd",
      "virtio_iommu",
      "edu",
    ]),
    name: z.string().describe("the call or action, e.g. `ibm,create-pe-dma-window`, `H_PUT_TCE`"),
    outcome: z
      .enum(STEP_OUTCOMES)
      .describe(
        "held: its expectation held; failed: its expectation did not; succeeded: no expectation, " +
          "the operation succeeded; refused: no expectation, the operation was refused or faulted",
      ),
    ok: z.boolean().describe("false exactly when the outcome is `failed`"),
    result: z
      .record(z.string(), z.unknown())
      .describe(
        "what happened; fields depend on the kind (rets, ret, tce, status, data or data_summary, ioctls, qemu_log, …)",
      ),
    error: z.string().nullable().describe("an error the step met (a refused plug), else null"),
    refusal: z
      .string()
      .optional()
      .describe(
        "why the operation counts as refused or faulted (e.g. `H_PARAMETER (-4)`, `decode-error`), whatever the expectation",
      ),
    expectation_failures: z.array(ExpectationFailureSchema).optional(),
    qemu_aborts: z.boolean().optional().describe("set where real QEMU 7.2 would abort the VM here"),
  })
  .strict();
export type StepReport = z.infer<typeof StepReportSchema>;

/** One way an invariant does not hold. */
export const ViolationSchema = z
  .object({
    check: z.enum(["shadow", "isolation", "accounting"]),
    kind: z.string().describe("what is wrong, e.g. `missing`, `differs`, `extra`, `outside-ram`"),
    bus: hex.optional().describe("the bus address (IOVA) concerned: the first of a run"),
    size: hex.optional().describe("the size of the run of host pages wrong the same way"),
    pages: z.number().int().min(1).optional().describe("how many host pages the run holds"),
    expected: z.string().optional().describe("what should be there"),
    actual: z.string().optional().describe("what is there"),
    qemuBug: z
      .string()
      .optional()
      .describe("the known QEMU 7.2 bug that explains it (docs/known-bugs.md), if one does"),
    message: z.string(),
  })
  .strict();
export type Violation = z.infer<typeof ViolationSchema>;

/** One invariant's verdict. */
export const CheckReportSchema = z
  .object({
    name: z.enum(["shadow", "isolation", "accounting"]),
    ok: z.boolean(),
    violations: z.array(ViolationSchema).describe("every violation, never cut short"),
    total: z.number().int().min(0).describe("how many violations there are"),
    qemuBugs: z
      .record(z.string(), z.number().int().min(1))
      .optional()
      .describe(
        "violations a known QEMU 7.2 bug explains (docs/known-bugs.md), by bug: still failures, but QEMU's",
      ),
  })
  .strict();
export type CheckReport = z.infer<typeof CheckReportSchema>;

/** A guest DMA window. */
export const GuestWindowReportSchema = z
  .object({
    phb: z.number().int().min(0),
    liobn: hex,
    start: hex,
    size: hex,
    page_shift: z.number().int(),
    valid_entries: z.number().int().min(0),
    mappings: z
      .array(
        z
          .object({
            bus: hex.describe("the bus address (IOBA) of the run's first entry"),
            size: hex.describe("the bytes the run covers: its entries times the page size"),
            gpa: hex.describe("the guest physical address the first entry points at"),
            perm: z.enum(["r", "w", "rw"]),
            same_page: z
              .literal(true)
              .optional()
              .describe("every entry of the run points at the same guest page (one TCE repeated)"),
          })
          .strict(),
      )
      .optional()
      .describe(
        "the valid entries as maximal runs (contiguous in bus and guest physical address, one permission)",
      ),
  })
  .strict();
export type GuestWindowReport = z.infer<typeof GuestWindowReportSchema>;

/** A run of guest IOMMU mappings: contiguous in bus and guest-physical address, one permission. */
export const GuestMappingSchema = z
  .object({ iova: hex, size: hex, gpa: hex, perm: z.enum(["r", "w", "rw"]) })
  .strict();

/** One PCI function's VT-d address space: where its DMA goes, and what its domain maps. */
export const VtdDeviceReportSchema = z
  .object({
    device: z
      .string()
      .nullable()
      .describe("the scenario's device id; null for a function without one (the IOAPIC's 00:00.0)"),
    bdf: z.string().describe("bus:slot.function, like `00:03.0`"),
    address_space: z.string().describe("QEMU's name of its DMA root, like `vtd-03.0`"),
    translating: z
      .boolean()
      .describe("DMA goes through the IOMMU region (else through `vtd-nodmar`, untranslated)"),
    domain: z.number().int().nullable().describe("the domain id of its context entry, if valid"),
    mappings: z
      .array(GuestMappingSchema)
      .describe("what its second-level tables map now, as maximal runs (bus address = iova)"),
  })
  .strict();

/** intel-iommu (VT-d) as the guest left it: the guest-side counterpart of sPAPR's windows. */
export const VtdReportSchema = z
  .object({
    translation: z.boolean().describe("GSTS.TES: translation on"),
    caching_mode: z.boolean(),
    aw_bits: z.number().int(),
    devices: z.array(VtdDeviceReportSchema),
    faults: z
      .array(
        z
          .object({
            source: z.string().describe("the requester, bus:slot.function"),
            address: hex,
            reason: z.number().int().describe("the VT-d fault reason code"),
            write: z.boolean(),
            recorded: z.boolean().describe("whether it reached the fault recording register"),
          })
          .strict(),
      )
      .describe("every DMA fault, recorded or not"),
  })
  .strict();
export type VtdReport = z.infer<typeof VtdReportSchema>;

/** One virtio-iommu domain as the guest left it: its endpoints and what it maps. */
export const VirtioIommuDomainReportSchema = z
  .object({
    domain: z.number().int().min(0).describe("the domain id the guest chose"),
    bypass: z
      .boolean()
      .describe("attached with VIRTIO_IOMMU_ATTACH_F_BYPASS: DMA goes untranslated"),
    endpoints: z
      .array(
        z
          .object({
            device: z.string().nullable().describe("the scenario's device id, if it has one"),
            bdf: z.string().describe("bus:slot.function, like `00:03.0` (the endpoint id)"),
          })
          .strict(),
      )
      .describe("the endpoints attached to it, newest first"),
    mappings: z
      .array(
        z
          .object({
            iova: hex,
            size: hex,
            gpa: hex,
            perm: z.enum(["none", "r", "w", "rw"]),
            mmio: z.boolean().optional().describe("mapped with VIRTIO_IOMMU_MAP_F_MMIO"),
          })
          .strict(),
      )
      .describe("its mappings in address order, one per MAP request that still stands"),
  })
  .strict();

/** virtio-iommu as the guest left it: the guest-side counterpart of sPAPR's windows. */
export const VirtioIommuReportSchema = z
  .object({
    bypass: z
      .boolean()
      .describe("the config space's bypass bit: endpoints in no domain reach memory untranslated"),
    granule: hex.describe(
      "the page granule offered to the guest (lowest bit of the page-size mask)",
    ),
    domains: z.array(VirtioIommuDomainReportSchema),
  })
  .strict();
export type VirtioIommuReport = z.infer<typeof VirtioIommuReportSchema>;

/** A host container: its windows and maximal mapping runs. */
export const ContainerReportSchema = z
  .object({
    backend: z.string(),
    devices: z.array(z.string()),
    locked_pages: z
      .number()
      .int()
      .min(0)
      .describe(
        "its share of the process's locked host pages: its own charges and the preregistered memory it was first to hold",
      ),
    windows: z.array(z.object({ start: hex, size: hex, page_shift: z.number().int() }).strict()),
    mappings: z.array(
      z
        .object({ iova: hex, size: hex, gpa: hex, hva: hex, perm: z.enum(["r", "w", "rw"]) })
        .strict(),
    ),
  })
  .strict();
export type ContainerReport = z.infer<typeof ContainerReportSchema>;

/** How many steps ended each way, and how many invariants failed. */
export const SummarySchema = z
  .object({
    steps: z.number().int().min(0),
    held: z.number().int().min(0),
    failed: z.number().int().min(0),
    succeeded: z.number().int().min(0),
    refused: z.number().int().min(0),
    checks_failed: z.number().int().min(0),
  })
  .strict();
export type Summary = z.infer<typeof SummarySchema>;

/** The whole report. */
export const ReportSchema = z
  .object({
    scenario: z.string(),
    qemu: z
      .enum(QEMU_LINES)
      .describe("which QEMU release the machine models (the scenario's `qemu`, or `--qemu`)"),
    behaviour: z.enum(["qemu-7.2", "qemu-2016-prefix"]),
    ok: z
      .boolean()
      .describe(
        "the verdict: the machine started, no expectation failed, every invariant holds (and, under --strict, no step was refused)",
      ),
    strict: z.boolean().describe("whether a refused or faulted step fails the run"),
    error: z
      .string()
      .optional()
      .describe("set when the machine would not even start (QEMU's message); no step ran"),
    summary: SummarySchema,
    steps: z.array(StepReportSchema),
    guest: z
      .object({
        windows: z.array(GuestWindowReportSchema).describe("pseries: the PHBs' DMA windows"),
        vtd: VtdReportSchema.optional().describe("q35 with intel-iommu: its domains and mappings"),
        virtio_iommu: VirtioIommuReportSchema.optional().describe(
          "q35 with virtio-iommu-pci: its domains and mappings",
        ),
      })
      .strict(),
    host: z
      .object({
        containers: z.array(ContainerReportSchema),
        locked_pages: z
          .number()
          .int()
          .min(0)
          .describe(
            "the VMM process's locked host pages, which RLIMIT_MEMLOCK limits: all containers together",
          ),
      })
      .strict(),
    checks: z.array(CheckReportSchema),
    mtree: z.string().describe("`info mtree` of the machine at the end"),
  })
  .strict()
  .describe("The report of one scenario run. Every 64-bit value is a 0x lower-case hex string.");
export type Report = z.infer<typeof ReportSchema>;

/** The JSON Schema of the report, as committed in schema/report.schema.json. */
export function reportJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ReportSchema, { target: "draft-7" });
  return {
    $schema: schema.$schema,
    $id: "https://iova.invalid/schema/report.schema.json",
    title: "iova run --json report",
    ...schema,
  };
}
