/** QEMU trace logs: the event table, the reader, the rebuild and replay, iova's runs in QEMU's format. */
export {
  CommandLineError,
  machineCommandLine,
  parseCommandLine,
  shellWords,
  type TracedMachine,
} from "./cmdline.ts";
export type { EventRole, TraceEventDef } from "./event-def.ts";
export { TRACE_EVENTS } from "./events.ts";
export type { TraceFields } from "./fast-format.ts";
export {
  compileFormat,
  matchFormat,
  printFormat,
  type TraceFormat,
  type TraceValue,
} from "./format.ts";
export { QemuTraceWriter } from "./qemu-format.ts";
export { machineFromQtree } from "./qtree.ts";
export { TraceFieldReader, type TraceFieldsHandler, TraceReader } from "./reader.ts";
export type { Assumption } from "./rebuild.ts";
export { type TraceRecord, TraceSyntaxError } from "./record.ts";
export {
  type Diagnosis,
  type Divergence,
  replayTrace,
  type TraceOptions,
  type TraceReplay,
  type TraceResult,
} from "./replay.ts";
