/**
 * Address spaces (QEMU's `AddressSpace`): a root region seen from one initiator, its current flat
 * view, its listeners, and reads and writes through it.
 */
import {
  type AccessResult,
  readAddressSpace,
  translateAddress,
  writeAddressSpace,
} from "./access.ts";
import type { MemTxAttrs, MemTxResult } from "./access-types.ts";
import { EMPTY_FLAT_VIEW, type FlatView } from "./flat-view.ts";
import type { MemoryListener } from "./listener.ts";
import type { MemorySystem } from "./memory-system.ts";
import type { MemoryRegion } from "./region.ts";

/** An address space. Create with `MemorySystem.addressSpace`. */
export class AddressSpace {
  readonly system: MemorySystem;
  readonly name: string;
  readonly root: MemoryRegion;
  /** The flat view as of the last committed transaction. */
  view: FlatView = EMPTY_FLAT_VIEW;
  /** Listeners of this address space, ascending priority (registration order within one). */
  readonly listeners: MemoryListener[] = [];

  constructor(system: MemorySystem, root: MemoryRegion, name: string) {
    this.system = system;
    this.root = root;
    this.name = name;
  }

  /** Reads `length` bytes; failures give a result code and zero-filled bytes, never a throw. */
  read(addr: bigint, length: number, attrs?: MemTxAttrs): AccessResult {
    return readAddressSpace(this, addr, length, attrs);
  }

  /** Writes `data` at `addr`. */
  write(addr: bigint, data: Uint8Array, attrs?: MemTxAttrs): MemTxResult {
    return writeAddressSpace(this, addr, data, attrs);
  }

  /** Resolves `addr` through the flat view and any IOMMUs (QEMU's `address_space_translate`). */
  translate(addr: bigint, length: bigint, isWrite: boolean, attrs?: MemTxAttrs) {
    return translateAddress(this, addr, length, isWrite, attrs);
  }
}
