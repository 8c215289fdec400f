#!/usr/bin/env python3
"""Records how QEMU 7.2's pseries answers ibm,read-pci-config and ibm,write-pci-config.

Starts qemu-system-ppc64 paused under the qtest accelerator (no guest CPU runs), makes each RTAS
call through qtest's `rtas` command with its argument and return buffers in guest RAM, and writes
what was asked and what came back to test/spapr/data/rtas-pci-config-qemu-7.2.json. Return words
are preset to 0xdeadbeef, so a word QEMU leaves untouched shows as such.

    python3 scripts/record-rtas-config.py [--qemu-10]

With --qemu-10 the binary is QEMU 10.0 from scripts/install-qemu-10.sh's tree (run through
scripts/qemu-10.sh, with -qtest-log none, which 10.0's qtest needs) and the output is
rtas-pci-config-qemu-10.0.json.
"""
import json, os, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU10 = "--qemu-10" in sys.argv[1:]
OUT = os.path.join(HERE, "..", "test", "spapr", "data",
                   "rtas-pci-config-qemu-%s.json" % ("10.0" if QEMU10 else "7.2"))
# How to run the binary: the host's, or the 10.0 tree's through its wrapper.
RUN = [os.path.join(HERE, "qemu-10.sh")] if QEMU10 else []
BUID = 0x800000020000000
SCRATCH = 0x10000


def cfg(devfn, reg, bus=0):
    # The config address cell: bus << 16 | devfn << 8 | reg[7:0], reg[11:8] in bits 28..31.
    return (bus << 16) | (devfn << 8) | (reg & 0xff) | ((reg & 0xf00) << 20)


# (what, rtas name, args, nret)
def probes():
    hi, lo = BUID >> 32, BUID & 0xffffffff
    out = []
    def rd(what, devfn, reg, size, bus=0):
        out.append((what, "ibm,read-pci-config", [cfg(devfn, reg, bus), hi, lo, size], 2))
    def wr(what, devfn, reg, size, value):
        out.append((what, "ibm,write-pci-config", [cfg(devfn, reg), hi, lo, size, value], 1))
    rd("vendor and device ID", 0, 0x0, 4)
    rd("extended config space, first word", 0, 0x100, 4)
    rd("extended config space, 2 bytes", 0, 0x102, 2)
    rd("extended config space, 1 byte", 0, 0x101, 1)
    rd("extended config space, last word", 0, 0xffc, 4)
    wr("write the device-specific area (0x40)", 0, 0x40, 4, 0x12345678)
    rd("read it back", 0, 0x40, 4)
    rd("unaligned 4-byte read", 0, 0x101, 4)
    rd("unaligned 2-byte read", 0, 0x3, 2)
    rd("size 3", 0, 0x0, 3)
    rd("size 8", 0, 0x0, 8)
    rd("no device at devfn 0x10", 0x10, 0x0, 4)
    rd("bus 1", 0, 0x0, 4, bus=1)
    rd("conventional PCI device (e1000 at 00:01.0): reg 0xfc", 0x08, 0xfc, 4)
    rd("conventional PCI device (e1000 at 00:01.0): reg 0x100", 0x08, 0x100, 4)
    wr("write extended config space", 0, 0x100, 4, 0x12345678)
    rd("read it back", 0, 0x100, 4)
    wr("unaligned write", 0, 0x101, 4, 0)
    wr("write past a conventional device's 256 bytes", 0x08, 0x100, 4, 0)
    out.append(("wrong argument count (3)", "ibm,read-pci-config", [cfg(0, 0), hi, lo], 2))
    out.append(("wrong return count (1)", "ibm,read-pci-config", [cfg(0, 0), hi, lo, 4], 1))
    out.append(("unknown BUID", "ibm,read-pci-config", [cfg(0, 0), hi, lo + 1, 4], 2))
    return out


class Line:
    def __init__(self, path, proc):
        deadline = time.time() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit("QEMU exited during startup")
            try:
                s = socket.socket(socket.AF_UNIX); s.connect(path); break
            except OSError:
                s.close()
                if time.time() > deadline: raise SystemExit("no socket " + path)
                time.sleep(0.05)
        self.s, self.buf = s, b""

    def q(self, line):
        self.s.sendall(line.encode() + b"\n")
        while True:
            while b"\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk: raise SystemExit("qtest closed")
                self.buf += chunk
            r, self.buf = self.buf.split(b"\n", 1)
            r = r.decode()
            if not r.startswith("IRQ"): break
        if not r.startswith("OK"): raise SystemExit("qtest %r -> %r" % (line, r))
        return r[2:].strip()


def main():
    work = tempfile.mkdtemp(prefix="iova-rtas-")
    qt_sock = os.path.join(work, "qtest")
    argv = ["qemu-system-ppc64", "-S", "-nographic", "-nodefaults", "-M", "pseries", "-m", "1G",
            "-device", "qemu-xhci,addr=0.0", "-device", "e1000,addr=1.0",
            "-qtest", "unix:%s,server=on,wait=off" % qt_sock]
    if QEMU10:
        argv += ["-qtest-log", "none"]
    proc = subprocess.Popen(RUN + argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        qt = Line(qt_sock, proc)
        calls = []
        for what, name, args, nret in probes():
            for i, a in enumerate(args):
                qt.q("writel 0x%x 0x%x" % (SCRATCH + 4 * i, a))
            for i in range(nret):
                qt.q("writel 0x%x 0xdeadbeef" % (SCRATCH + 0x100 + 4 * i))
            res = qt.q("rtas %s %d 0x%x %d 0x%x" % (name, len(args), SCRATCH, nret, SCRATCH + 0x100))
            rets = [int(qt.q("readl 0x%x" % (SCRATCH + 0x100 + 4 * i)), 16) for i in range(nret)]
            calls.append({"what": what, "name": name, "args": ["0x%x" % a for a in args],
                          "nret": nret, "qtest": res, "rets": ["0x%x" % r for r in rets]})
    finally:
        proc.kill(); proc.wait()
    version = subprocess.run(RUN + ["qemu-system-ppc64", "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    shown = [a if not a.startswith("unix:") else "unix:$WORK/qtest,server=on,wait=off" for a in argv]
    data = {"qemu": version, "cmdline": " ".join(shown),
            "note": "qtest `rtas NAME NARGS ARGS NRET RETS`; return words preset to 0xdeadbeef (a word QEMU leaves untouched)",
            "calls": calls}
    with open(OUT, "w") as f:
        json.dump(data, f, indent=2); f.write("\n")
    print("wrote", os.path.relpath(OUT))


main()
