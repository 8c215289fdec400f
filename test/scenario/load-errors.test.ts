/**
 * Bad scenario files: each gives `path:line:column: message` naming the expected form, exit code
 * 2 from the CLI, and no stack trace. One case per class of mistake.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/main.ts";

const M = "name: t\nmachine:\n  memory: 1G\n";
const X =
  "name: t\nmachine:\n  memory: 1G\n  devices:\n    - { id: usb0, driver: qemu-xhci }\nsteps:\n";

/** [what, file text, line, column, message pattern]. */
const CASES: [string, string, number, number, RegExp][] = [
  ["YAML syntax: unclosed flow map", "name: t\nmachine: { memory: 1G\n", 3, 1, /YAML syntax/],
  ["YAML syntax: bad indentation", "name: t\n machine:\n  memory: 1G\n", 1, 7, /YAML syntax/],
  ["top level not a map", "- a\n- b\n", 1, 1, /expected the scenario as a map/],
  ["missing name", "machine:\n  memory: 1G\n", 1, 1, /needs 'name'/],
  ["name not a string", "name: [1]\nmachine:\n  memory: 1G\n", 1, 7, /expected the scenario name/],
  [
    "unknown top-level key",
    `${M}colour: red\n`,
    4,
    1,
    /unknown key 'colour'.*expected one of: name/,
  ],
  ["duplicate key", "name: t\nname: u\nmachine:\n  memory: 1G\n", 2, 1, /duplicate key 'name'/],
  ["missing machine", "name: t\n", 1, 1, /needs 'machine'/],
  [
    "bad behaviour",
    `${M}behaviour: qemu-9\n`,
    4,
    12,
    /behaviour to be one of: qemu-7\.2, qemu-2016-prefix/,
  ],
  [
    "unknown machine type",
    "name: t\nmachine:\n  type: q35\n  memory: 1G\n",
    3,
    9,
    /machine type pseries or pseries-X\.Y/,
  ],
  ["missing memory", "name: t\nmachine:\n  type: pseries\n", 3, 3, /machine needs 'memory'/],
  [
    "bad memory suffix",
    "name: t\nmachine:\n  memory: 2Q\n",
    3,
    11,
    /memory as a number like 4096, 0x1000 or 2G/,
  ],
  ["memory too small", "name: t\nmachine:\n  memory: 4K\n", 3, 11, /out of range/],
  [
    "memory not 64K aligned",
    "name: t\nmachine:\n  memory: 0x100001000\n",
    3,
    11,
    /multiple of 64K/,
  ],
  ["smp zero", "name: t\nmachine:\n  memory: 1G\n  smp: 0\n", 4, 8, /smp 0x0 is out of range/],
  ["bad hex", "name: t\nmachine:\n  memory: 0xZZ\n", 3, 11, /memory as a number/],
  [
    "maxmem below memory",
    "name: t\nmachine:\n  memory: 2G\n  maxmem: 1G\n",
    4,
    11,
    /maxmem .* out of range/,
  ],
  ["phbs not a list", "name: t\nmachine:\n  memory: 1G\n  phbs: 3\n", 4, 9, /phbs as a list/],
  [
    "phb without index",
    "name: t\nmachine:\n  memory: 1G\n  phbs:\n    - { ddw: true }\n",
    5,
    7,
    /a PHB needs 'index'/,
  ],
  [
    "duplicate phb index",
    "name: t\nmachine:\n  memory: 1G\n  phbs:\n    - { index: 1 }\n    - { index: 1 }\n",
    6,
    7,
    /duplicate PHB index 1/,
  ],
  [
    "ddw not boolean",
    "name: t\nmachine:\n  memory: 1G\n  phbs:\n    - { index: 0, ddw: maybe }\n",
    5,
    24,
    /ddw to be true or false/,
  ],
  [
    "unknown driver",
    "name: t\nmachine:\n  memory: 1G\n  devices:\n    - { driver: e1000 }\n",
    5,
    17,
    /driver to be one of: qemu-xhci, vfio-pci/,
  ],
  [
    "bad device id",
    "name: t\nmachine:\n  memory: 1G\n  devices:\n    - { id: 9x, driver: qemu-xhci }\n",
    5,
    13,
    /device id made of letters/,
  ],
  [
    "device on missing PHB",
    "name: t\nmachine:\n  memory: 1G\n  devices:\n    - { driver: qemu-xhci, bus: 2 }\n",
    5,
    7,
    /no PHB with index 2/,
  ],
  [
    "vfio-pci without host",
    "name: t\nmachine:\n  memory: 1G\n  devices:\n    - { id: h, driver: vfio-pci }\n",
    5,
    7,
    /needs 'host'/,
  ],
  [
    "bad host address",
    "name: t\nmachine:\n  memory: 1G\n  devices:\n    - { id: h, driver: vfio-pci, host: '1:0' }\n",
    5,
    40,
    /host PCI address like/,
  ],
  ["steps not a list", `${M}steps: {}\n`, 4, 8, /steps as a list/],
  [
    "step with two kinds",
    `${X}  - { cpu: { read: 0, length: 1 }, dma: { device: usb0, read: 0, length: 1 } }\n`,
    7,
    5,
    /exactly one of: ioctl, reset, rtas, hcall/,
  ],
  ["unknown step kind", `${X}  - reboot: now\n`, 7, 5, /unknown key 'reboot' in a step/],
  ["unknown rtas call", `${X}  - rtas: ibm,frobnicate\n`, 7, 11, /RTAS call to be one of/],
  [
    "rtas friendly without target",
    `${X}  - rtas: ibm,query-pe-dma-window\n`,
    7,
    11,
    /needs 'device' or 'phb'/,
  ],
  [
    "rtas raw args with friendly key",
    `${X}  - rtas: ibm,query-pe-dma-window\n    args: [0]\n    device: usb0\n`,
    9,
    5,
    /'device' cannot be combined with raw 'args'/,
  ],
  [
    "rtas arg above 32 bits",
    `${X}  - rtas: ibm,query-pe-dma-window\n    args: [0x100000000]\n`,
    8,
    12,
    /argument cell 0x100000000 is out of range/,
  ],
  [
    "unknown hcall",
    `${X}  - hcall: H_BOGUS\n    args: {}\n`,
    7,
    12,
    /hypercall to be one of: H_PUT_TCE/,
  ],
  ["hcall without args", `${X}  - hcall: H_PUT_TCE\n`, 7, 5, /H_PUT_TCE needs 'args'/],
  [
    "hcall wrong argument",
    `${X}  - hcall: H_GET_TCE\n    args: { liobn: 1, ioba: 0, tce: 3 }\n`,
    8,
    32,
    /'tce' is not an argument of H_GET_TCE/,
  ],
  [
    "hcall missing argument",
    `${X}  - hcall: H_PUT_TCE\n    args: { liobn: 1, ioba: 0 }\n`,
    8,
    11,
    /H_PUT_TCE args needs 'tce'/,
  ],
  [
    "value above 2^64",
    `${X}  - hcall: H_PUT_TCE\n    args: { liobn: 1, ioba: 0x10000000000000000, tce: 3 }\n`,
    8,
    29,
    /ioba 0x10000000000000000 is out of range/,
  ],
  ["negative address", `${X}  - cpu: { read: -1, length: 1 }\n`, 7, 18, /out of range/],
  [
    "dma on unknown device",
    `${X}  - dma: { device: usb9, read: 0, length: 1 }\n`,
    7,
    5,
    /unknown device id 'usb9' \(known here: usb0\)/,
  ],
  [
    "dma with read and write",
    `${X}  - dma: { device: usb0, read: 0, write: 0, data: "00" }\n`,
    7,
    10,
    /exactly one of 'read' or 'write'/,
  ],
  [
    "dma data not hex",
    `${X}  - dma: { device: usb0, write: 0, data: "xyz" }\n`,
    7,
    42,
    /hex bytes in quotes/,
  ],
  [
    "dma data odd length",
    `${X}  - dma: { device: usb0, write: 0, data: "abc" }\n`,
    7,
    42,
    /hex bytes in quotes/,
  ],
  ["read without length", `${X}  - cpu: { read: 0 }\n`, 7, 10, /a cpu step needs 'length'/],
  [
    "data on a read",
    `${X}  - cpu: { read: 0, length: 1, data: "00" }\n`,
    7,
    32,
    /'data' goes with 'write'/,
  ],
  ["device_add without id", `${X}  - device_add: { driver: qemu-xhci }\n`, 7, 17, /needs 'id'/],
  [
    "device_add duplicate id",
    `${X}  - device_add: { id: usb0, driver: qemu-xhci }\n`,
    7,
    5,
    /duplicate device id 'usb0'/,
  ],
  [
    "device_del unknown id",
    `${X}  - device_del: { id: ghost }\n`,
    7,
    5,
    /unknown device id 'ghost'/,
  ],
  [
    "unknown check",
    `${X}  - check: everything\n`,
    7,
    12,
    /check to be one of: shadow, isolation, accounting/,
  ],
  [
    "expect_mtree without text",
    `${X}  - expect_mtree: { flat: true }\n`,
    7,
    19,
    /exactly one of 'contains' or 'equals'/,
  ],
  [
    "unknown expect key",
    `${X}  - cpu: { read: 0, length: 1 }\n    expect: { colour: red }\n`,
    8,
    15,
    /unknown key 'colour' in expect/,
  ],
  [
    "bad expected ret name",
    `${X}  - hcall: H_GET_TCE\n    args: { liobn: 1, ioba: 0 }\n    expect: { ret: H_OOPS }\n`,
    9,
    20,
    /ret as one of H_SUCCESS/,
  ],
  [
    "host page size not a power of two",
    `${M}host:\n  page_size: 48K\n`,
    5,
    14,
    /page_size must be a power of two/,
  ],
  ["host backend unknown", `${M}host:\n  iommu: amd\n`, 5, 10, /host iommu to be one of/],
  [
    "fault errno malformed",
    `${M}host:\n  faults:\n    - { ioctl: MAP_DMA, errno: 22 }\n`,
    6,
    32,
    /errno name like EINVAL/,
  ],
];

function write(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "iova-bad-")), "bad.yaml");
  writeFileSync(path, text);
  return path;
}

test(`at least 40 malformed files are covered (${CASES.length})`, () =>
  assert.ok(CASES.length >= 40));

for (const [what, text, line, column, message] of CASES) {
  test(`bad scenario: ${what}`, () => {
    const path = write(text);
    let err = "";
    let out = "";
    const code = main(
      ["run", path],
      (s) => {
        out += s;
      },
      (s) => {
        err += s;
      },
    );
    assert.equal(code, 2, `exit code for ${what}: ${err}`);
    assert.equal(out, "");
    assert.match(err, message);
    assert.ok(err.startsWith(`iova: ${path}:${line}:${column}: `), `position: ${err}`);
    assert.doesNotMatch(err, /\n\s+at /);
  });
}
