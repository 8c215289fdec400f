/** The sPAPR layer: TCE tables, the PHB's DMA windows, TCE hypercalls and RTAS calls. */
export * from "./constants.ts";
export * from "./hcalls.ts";
export * from "./phb.ts";
export * from "./rtas.ts";
export * from "./rtas-args.ts";
export * from "./tce-table.ts";
