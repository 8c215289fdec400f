/**
 * Values as a scenario writes them: numbers exact to 2^64, sizes with K/M/G/T, hex data with
 * spaces, names where the format has names (hypercall returns, errnos, DMA statuses).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadScenario } from "../../src/scenario/load.ts";
import type { CpuStep, HcallStep } from "../../src/scenario/schema.ts";

const X =
  "name: t\nmachine:\n  memory: 1G\n  devices:\n    - { id: usb0, driver: qemu-xhci }\nsteps:\n";
const one = (step: string) => loadScenario(`${X}  - ${step}\n`, "t.yaml").steps[0];

test("a bus address of 2^64 - 1 is kept exactly", () => {
  const s = one("hcall: H_GET_TCE\n    args: { liobn: 1, ioba: 0xffffffffffffffff }") as HcallStep;
  assert.equal(s.ioba, 0xffffffffffffffffn);
});

test("sizes take K, M, G and T as powers of 1024, and 2^64 itself", () => {
  const host = (v: string) =>
    loadScenario(`name: t\nmachine:\n  memory: 1G\nhost:\n  memlock_limit: ${v}\n`, "t.yaml").host
      ?.memlockLimit;
  assert.equal(host("64K"), 65536n);
  assert.equal(host("2g"), 2n << 30n);
  assert.equal(host("3T"), 3n << 40n);
  assert.equal(host("0x10000000000000000"), 1n << 64n);
  assert.equal(
    loadScenario("name: t\nmachine:\n  memory: 2G\n", "t.yaml").machine.memory,
    2n << 30n,
  );
});

test("hex data ignores spaces and underscores between digits, and an 0x in front", () => {
  const data = (d: string) => (one(`cpu: { write: 0, data: "${d}" }`) as CpuStep).write;
  assert.deepEqual(data("de ad be ef"), Uint8Array.from([0xde, 0xad, 0xbe, 0xef]));
  assert.deepEqual(data("0x00_ff"), Uint8Array.from([0, 255]));
  assert.deepEqual(data("A0b1"), Uint8Array.from([0xa0, 0xb1]));
});

test("a number written as a quoted string is a number", () => {
  const s = one(
    'rtas: ibm,create-pe-dma-window\n    device: usb0\n    page_shift: "16"\n    window_shift: " 0x20 "',
  );
  assert.equal(s.kind === "rtas" && s.friendly?.pageShift, 16);
  assert.equal(s.kind === "rtas" && s.friendly?.windowShift, 32);
});

test("expected values take the format's names: hypercall returns, -ERRNO, DMA statuses, MemTx results", () => {
  const expect = (e: string) => one(`cpu: { read: 0, length: 1 }\n    expect: ${e}`).expect;
  assert.equal(expect("{ ret: H_PARAMETER }")?.ret, -4);
  assert.equal(expect("{ ret: -4 }")?.ret, -4);
  assert.equal(expect("{ ret: -ENOSPC }")?.ret, -28);
  assert.equal(expect("{ status: decode-error }")?.status, "decode-error");
  assert.equal(expect("{ status: -3 }")?.status, -3);
  assert.equal(expect("{ result: MEMTX_DECODE_ERROR }")?.result, 2);
  assert.equal(expect("{ fault_address: 0x1000 }")?.faultAddress, 0x1000n);
  assert.equal(expect("{ holds: true }")?.holds, true);
  assert.equal(expect("{ locked_pages: 16 }")?.lockedPages, 16n);
});

test("names that are properties of every JavaScript object are not names of the format", () => {
  const bad = (e: string) => () => one(`cpu: { read: 0, length: 1 }\n    expect: ${e}`);
  assert.throws(bad("{ ret: toString }"), /expected ret as one of H_SUCCESS/);
  assert.throws(bad("{ ret: -Econstructor }"), /-ERRNO with a known errno/);
  assert.throws(bad("{ result: constructor }"), /expected result as one of MEMTX_OK/);
  assert.throws(
    () =>
      loadScenario(
        "name: t\nmachine:\n  memory: 1G\nhost:\n  faults:\n    - { ioctl: MAP_DMA, errno: toString }\n",
        "t.yaml",
      ),
    /errno name like EINVAL/,
  );
});
