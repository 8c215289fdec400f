/** The q35 machine and its devices: RAM split, command lines, hot-plug, edu's registers. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Q35DeviceError, Q35Machine } from "../../src/machine/q35.ts";
import { CmdlineError, q35ConfigFromArgv, splitCommandLine } from "../../src/qtest/cmdline.ts";
import { QtestSession } from "../../src/qtest/protocol.ts";

const GiB = 1n << 30n;
const MiB = 1n << 20n;

test("RAM splits at 2 GiB once it reaches 2.75 GiB, else stays below 4 GiB (pc_q35_init)", () => {
  const split = (size: bigint) => {
    const m = new Q35Machine({ memory: size });
    return [m.belowFourG, m.aboveFourG];
  };
  assert.deepEqual(split(256n * MiB), [256n * MiB, 0n]);
  assert.deepEqual(split(0xb0000000n - 1n), [0xb0000000n - 1n, 0n]);
  assert.deepEqual(split(0xb0000000n), [2n * GiB, 0xb0000000n - 2n * GiB]);
  assert.deepEqual(split(6n * GiB), [2n * GiB, 4n * GiB]);
});

test("RAM above 4 GiB is reachable at 4 GiB and past it, through ram-above-4g", () => {
  const m = new Q35Machine({ memory: 3n * GiB });
  m.cpuMemory.write(4n * GiB + 0x10n, new Uint8Array([0xaa]));
  assert.equal(readByte(m, 2n * GiB + 0x10n), 0xaa);
});

function readByte(m: Q35Machine, ramOffset: bigint): number {
  const b = new Uint8Array(1);
  m.ram.ramBlock!.read(ramOffset, b);
  return b[0];
}

test("QEMU command lines: options that matter are read, the rest named in the error", () => {
  const c = q35ConfigFromArgv(
    splitCommandLine(
      "qemu-system-x86_64 -S -nodefaults -M q35,kernel-irqchip=split -m 2G -smp 2 -device intel-iommu,caching-mode=on,aw-bits=48 -device edu,addr=4.0,dma_mask=0xffffffff,id=e",
    ),
  );
  assert.equal(c.memory, 2n * GiB);
  assert.equal(c.smp, 2);
  assert.deepEqual(c.intelIommu, { cachingMode: true, awBits: 48 });
  assert.deepEqual(c.devices, [
    { driver: "edu", id: "e", slot: 4, function: 0, properties: { dma_mask: "0xffffffff" } },
  ]);
  assert.throws(() => q35ConfigFromArgv(["-M", "q35", "-netdev", "user"]), CmdlineError);
  assert.throws(() => q35ConfigFromArgv(["-M", "q35", "-m", "1G,maxmem=4G"]), /hot-plug/);
  assert.throws(() => q35ConfigFromArgv(["-M", "virt"]), /only q35 is modelled/);
  assert.throws(() => q35ConfigFromArgv(["-M", "q35", "-m"]), /needs an argument/);
  assert.throws(() => q35ConfigFromArgv(["-M", "q35", "-device", "edu,addr=zz"]), /addr/);
});

test("a hot-plugged edu gets its bus-master alias at once, behind intel-iommu its own vtd space", () => {
  const m = new Q35Machine({ intelIommu: {} });
  const d = m.plug({ driver: "edu", slot: 3 });
  assert.ok(d.busMasterReady);
  assert.equal(d.busMasterAlias.alias?.name, "vtd-03.0");
  assert.throws(() => m.plug({ driver: "edu", slot: 3 }), Q35DeviceError);
  assert.throws(
    () => m.plug({ driver: "nonsense" }),
    /'nonsense' is not a valid device model name/,
  );
});

test("edu: identity, liveness, interrupt status raise and acknowledge; narrow accesses refused", () => {
  const m = new Q35Machine({ devices: [{ driver: "edu" }] });
  const s = new QtestSession(m);
  const run = (l: string) => {
    const r = s.execute(l);
    assert.ok("reply" in r);
    return r.reply;
  };
  run("outl 0xcf8 0x80000810");
  run("outl 0xcfc 0xfe000000");
  run("outl 0xcf8 0x80000804");
  run("outw 0xcfc 0x2");
  assert.equal(run("readl 0xfe000000"), "OK 0x00000000010000ed");
  run("writel 0xfe000004 0x0");
  assert.equal(run("readl 0xfe000004"), "OK 0x00000000ffffffff");
  run("writel 0xfe000060 0x105");
  run("writel 0xfe000064 0x4");
  assert.equal(run("readl 0xfe000024"), "OK 0x0000000000000101");
  assert.equal(run("readb 0xfe000000"), "OK 0x0000000000000000");
});

test("edu's factorial of the largest operand finishes at once (the product is 0 mod 2^32)", () => {
  const m = new Q35Machine({ devices: [{ driver: "edu" }] });
  const s = new QtestSession(m);
  for (const l of [
    "outl 0xcf8 0x80000810",
    "outl 0xcfc 0xfe000000",
    "outl 0xcf8 0x80000804",
    "outw 0xcfc 0x2",
  ])
    s.execute(l);
  s.execute("writel 0xfe000008 0xffffffff");
  assert.deepEqual(s.execute("readl 0xfe000020"), { reply: "OK 0x0000000000000001" });
  s.passTime();
  assert.deepEqual(s.execute("readl 0xfe000008"), { reply: "OK 0x0000000000000000" });
  s.execute("writel 0xfe000008 0x5");
  s.passTime();
  assert.deepEqual(s.execute("readl 0xfe000008"), { reply: "OK 0x0000000000000078" });
});

/** An edu at 00:01.0 with its BAR at 0xfe000000, then each DMA `[src, dst, cnt, cmd]`, time passing after each. */
function eduDmas(
  qemu: "7.2" | "10.0",
  dmas: readonly (readonly [number, number, number, number])[],
) {
  const m = new Q35Machine({ memory: 256n * MiB, devices: [{ driver: "edu", id: "e" }], qemu });
  const s = new QtestSession(m);
  for (const l of [
    "outl 0xcf8 0x80000810",
    "outl 0xcfc 0xfe000000",
    "outl 0xcf8 0x80000804",
    "outw 0xcfc 0x6",
  ])
    s.execute(l);
  for (const [src, dst, cnt, cmd] of dmas) {
    for (const [reg, v] of [
      [0x80, src],
      [0x88, dst],
      [0x90, cnt],
      [0x98, cmd],
    ])
      s.execute(`writeq 0x${(0xfe000000 + reg).toString(16)} 0x${v.toString(16)}`);
    s.passTime();
  }
  const state = (
    m.devices.get("e")!.spec as unknown as { state: { log: string[]; guestErrors: string[] } }
  ).state;
  return { m, s, log: state.log, guestErrors: state.guestErrors };
}

test("edu under 10.0: an out-of-range DMA and a clamped address are guest errors, with 10.0's texts; 7.2 prints the clamp on stdout", () => {
  // Both texts as QEMU 10.0.2 logged them with -d guest_errors for these two transfers (an empty
  // one out from 0x50000, then 16 bytes out to 0x10200000).
  const dmas = [
    [0x50000, 0x10200000, 0, 3],
    [0x40000, 0x10200000, 0x10, 3],
  ] as const;
  const ten = eduDmas("10.0", dmas);
  assert.equal(ten.m.aborted, undefined, "10.0 goes on");
  assert.deepEqual(ten.guestErrors, [
    "EDU: DMA range 0x0000000000050000-0x000000000004ffff out of bounds (0x0000000000040000-0x0000000000040fff)!",
    "EDU: clamping DMA 0x0000000010200000 to 0x0000000000200000!",
    "EDU: clamping DMA 0x0000000010200000 to 0x0000000000200000!",
  ]);
  assert.deepEqual(ten.log, [], "nothing on stdout");
  assert.deepEqual(ten.s.execute("readq 0xfe000098"), { reply: "OK 0x0000000000000002" });
  // 7.2 stops at the first transfer; its clamp notice (edu-dma-no-iommu's recording) is stdout's.
  const seven = eduDmas("7.2", dmas);
  assert.match(seven.m.aborted ?? "", /^hardware error: EDU: DMA range 0x0000000000050000-/);
  const clamp = eduDmas("7.2", [dmas[1]]);
  assert.deepEqual(clamp.log, ["EDU: clamping DMA 0x0000000010200000 to 0x0000000000200000!"]);
  assert.deepEqual(clamp.guestErrors, []);
});

test("edu under 10.0: a DMA that would copy bytes outside the buffer stops the machine, saying iova does not model it", () => {
  const { m, guestErrors } = eduDmas("10.0", [[0x40ff8, 0x200000, 0x10, 3]]);
  assert.deepEqual(guestErrors, [
    "EDU: DMA range 0x0000000000040ff8-0x0000000000041007 out of bounds (0x0000000000040000-0x0000000000040fff)!",
  ]);
  assert.match(
    m.aborted ?? "",
    /copies the 16 bytes anyway, to or from its own memory beyond the buffer: not modelled by iova$/,
  );
});

test("edu refuses a dma_mask that is not a number", () => {
  assert.throws(
    () => new Q35Machine({ devices: [{ driver: "edu", properties: { dma_mask: "lots" } }] }),
    /Property 'edu.dma_mask' doesn't take value 'lots'/,
  );
});

test("qtest: malformed numbers end the session as QEMU's assertion would", () => {
  const s = new QtestSession(new Q35Machine({}));
  assert.ok("abort" in s.execute("readl banana"));
  assert.ok("abort" in s.execute("readl 0"), "the session stays dead");
  const t = new QtestSession(new Q35Machine({}));
  assert.deepEqual(t.execute("write 0x1000 2 0x"), { reply: "ERR invalid argument size" });
  assert.deepEqual(t.execute("write 0x1000 4 0xaabb"), { reply: "OK" });
  assert.deepEqual(t.execute("read 0x1000 4"), { reply: "OK 0xaabb0000" });
  assert.deepEqual(t.execute("memset 0x1000 3 0x1ff"), { reply: "OK" });
  assert.deepEqual(t.execute("read 0x1000 4"), { reply: "OK 0xffffff00" });
  assert.deepEqual(t.execute("inq 0x80"), { reply: "FAIL Unknown command 'inq'" });
});

test("qtest: a zero-length read is QEMU's assertion, a zero-length write or memset is fine", () => {
  const s = new QtestSession(new Q35Machine({}));
  assert.deepEqual(s.execute("write 0x1000 0 0x00"), { reply: "OK" });
  assert.deepEqual(s.execute("memset 0x1000 0 0x5"), { reply: "OK" });
  assert.ok("abort" in s.execute("read 0x1000 0"));
});

test("qtest: b64read and b64write as QEMU 7.2 answers them (checked on QEMU)", () => {
  const s = new QtestSession(new Q35Machine({}));
  s.execute("write 0x1000 4 0xdeadbeef");
  assert.deepEqual(s.execute("b64read 0x1000 4"), { reply: "OK 3q2+7w==" });
  assert.deepEqual(s.execute("b64write 0x3000 2 AQID"), { reply: "OK" });
  assert.deepEqual(s.execute("read 0x3000 4"), { reply: "OK 0x01020000" });
});
