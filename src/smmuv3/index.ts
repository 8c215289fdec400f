/** SMMUv3 (arm virt): its per-function address spaces and its refusal of MAP notifiers. */
export * from "./smmuv3.ts";
