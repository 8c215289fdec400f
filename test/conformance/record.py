#!/usr/bin/env python3
"""Regenerate a QEMU `info mtree` conformance corpus (7.2 in data/, 10.0 in data-10.0/).

Every case in CASES starts one QEMU process, paused (-S) and without guest
code, optionally changes the machine over QMP, HMP or the qtest protocol
(device_add, PCI config space writes, sPAPR RTAS calls, a short firmware
run), then dumps `info mtree` with several flag combinations through QMP's
human-monitor-command and writes the returned strings to
<case>/<file> byte for byte (QEMU's HMP layer ends lines with "\\r\\n"; that
is kept).  It also lists the IOMMU memory regions found in the QOM tree in
<case>/iommu-regions.txt, since the mtree text prints them as plain i/o.

Kept in the project as test/conformance/record.py; it writes the cases into
test/conformance/data/.  The cases after "bridges, switches, root ports" were
added to cover PCI bridge topologies, vIOMMUs behind switches, hot-plug and
BARs or bridge windows programmed through config space.

Usage:
    python3 record.py                 # all cases
    python3 record.py CASE [CASE...]  # only these (names or fnmatch patterns)
    python3 record.py --list          # print case names
    python3 record.py --readme        # only rebuild README.md from the dumps
    python3 record.py --qemu-10 [CASE...]  # record QEMU 10.0 into data-10.0/

--qemu-10 runs the binaries that scripts/install-qemu-10.sh unpacked (directory from
IOVA_QEMU10_DIR, default ~/.cache/iova/qemu-10.0) with that build's firmware directories
(-L) and module directory (QEMU_MODULE_DIR), and adds -qtest-log none where qtest is used.

`info mtree` and `info mtree -f` print their address-space groups and flat
views by walking GHashTables keyed by pointers, so that order depends on heap
addresses and changes from run to run (even with ASLR off, because of thread
timing).  The order carries no meaning; compare blocks as sets.

Requires: qemu-system-{ppc,ppc64,x86_64,aarch64,arm,riscv64,mips,...} 7.2
(Debian 12 packages qemu-system-ppc, -x86, -arm, -misc, -mips, -sparc) and
swtpm (for the two TPM cases).  Failures go to FAILED.txt.
"""

import fnmatch
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TOOL_DIR = os.path.dirname(os.path.abspath(__file__))
HERE = os.path.join(TOOL_DIR, "data")  # the corpus being written (data-10.0 with --qemu-10)
QEMU10_DIR = None  # set by --qemu-10: the unpacked QEMU 10.0 tree
WORK = os.environ.get("CORPUS_WORK") or os.path.join(tempfile.gettempdir(), "qemu-mtree-corpus")  # scratch files

DUMPS = [
    ("mtree.txt", "info mtree"),
    ("mtree-f.txt", "info mtree -f"),
    ("mtree-D.txt", "info mtree -D"),
    ("mtree-o.txt", "info mtree -o"),
    ("mtree-f-o.txt", "info mtree -f -o"),
    ("mtree-f-d.txt", "info mtree -f -d"),
    ("mtree-o-D.txt", "info mtree -o -D"),   # HMP takes the flags only in f, d, o, D order
]

COMMON = ["-S", "-nographic", "-nodefaults"]

# Scratch files some cases need.  name -> size in bytes (zero-filled).
FILES = {
    "disk.img": 1 << 20,
    "flash0.img": 4 << 20,       # pc system flash (must be a multiple of 4 KiB)
    "flash1.img": 256 << 10,
    "aavmf-code.img": 64 << 20,  # aarch64 virt pflash units are 64 MiB
    "aavmf-vars.img": 64 << 20,
    "nvdimm.img": 256 << 20,
    "nvdimm-spapr.img": (256 << 20) + (128 << 10),
    "bios-512k.bin": 512 << 10,  # dummy firmware for machines that insist on one
}

# A minimal big-endian 32-bit PowerPC ELF executable ("b ." at 0x01000000),
# for the e500 boards, which refuse to start without loadable firmware.
def tiny_ppc_elf():
    import struct
    ehdr = struct.pack(">4sBBBB8xHHIIIIIHHHHHH", b"\x7fELF", 1, 2, 1, 0,
                       2, 20, 1, 0x01000000, 52, 0, 0, 52, 32, 1, 0, 0, 0)
    phdr = struct.pack(">IIIIIIII", 1, 84, 0x01000000, 0x01000000, 4, 4, 5, 4)
    return ehdr + phdr + struct.pack(">I", 0x48000000)


def W(name):
    return os.path.join(WORK, name)


# --------------------------------------------------------------------------
# Steps run after QEMU started and before the dumps.
#   ("qmp", {...})                     raw QMP command, must succeed
#   ("hmp", "cmd")                     HMP command, must print nothing
#   ("qtest", "line")                  raw qtest line, must answer OK...
#   ("x86cfg", bdf, reg, size, value)  PCI config write via 0xcf8/0xcfc
#   ("ecam", base, bdf, reg, size, value)  PCI config write via ECAM MMIO
#   ("rtas", name, [args], nret)       sPAPR RTAS call through qtest
#   ("spaprcfg", buid, bdf, reg, size, value)  ibm,write-pci-config
#   ("run", seconds)                   cont, wait, stop (firmware runs)
# bdf is (bus, device, function).
# --------------------------------------------------------------------------

SPAPR_BUID0 = 0x800000020000000
RTAS_SCRATCH = 0x10000   # guest RAM used for RTAS argument/return buffers


def bdf_pack(bdf):
    b, d, f = bdf
    return (b << 8) | (d << 3) | f


def steps_need_qtest(steps):
    return any(s[0] in ("qtest", "x86cfg", "ecam", "rtas", "spaprcfg") for s in steps)


class Case:
    def __init__(self, name, binary, args, steps=(), what="", swtpm=False):
        self.name = name
        self.binary = binary
        self.args = list(args)
        self.steps = list(steps)
        self.what = what
        self.swtpm = swtpm      # start a swtpm emulator first (socket: swtpm_sock(name))


def C(name, binary, args, steps=(), what="", swtpm=False):
    return Case(name, binary, args, steps, what, swtpm)


def swtpm_sock(name):
    return W(name + ".swtpm")


def tpm_args(name, device):
    return ["-chardev", "socket,id=chrtpm,path=%s" % swtpm_sock(name),
            "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
            "-device", "%s,tpmdev=tpm0" % device]


PPC64 = "qemu-system-ppc64"
PPC = "qemu-system-ppc"
X86 = "qemu-system-x86_64"
I386 = "qemu-system-i386"
A64 = "qemu-system-aarch64"
ARM = "qemu-system-arm"
RV64 = "qemu-system-riscv64"
MIPS = "qemu-system-mips"
MIPS64EL = "qemu-system-mips64el"
SPARC64 = "qemu-system-sparc64"
S390 = "qemu-system-s390x"
LOONG = "qemu-system-loongarch64"

DRIVE0 = ["-drive", "if=none,id=d0,file=%s,format=raw" % W("disk.img")]


def x86_enable(bdf, bars):
    """Program BARs (list of (reg, value)) and set MEM|IO|BUS MASTER."""
    st = [("x86cfg", bdf, reg, 4, val) for reg, val in bars]
    st.append(("x86cfg", bdf, 0x04, 2, 0x0007))
    return st


def ecam_enable(base, bdf, bars):
    st = [("ecam", base, bdf, reg, 4, val) for reg, val in bars]
    st.append(("ecam", base, bdf, 0x04, 2, 0x0007))
    return st


def spapr_enable(buid, bdf, bars):
    st = [("spaprcfg", buid, bdf, reg, 4, val) for reg, val in bars]
    st.append(("spaprcfg", buid, bdf, 0x04, 2, 0x0006))
    return st


def ddw_query(buid, bdf=(0, 0, 0)):
    return ("rtas", "ibm,query-pe-dma-window",
            [bdf_pack(bdf) << 8, buid >> 32, buid & 0xffffffff], 5)


def ddw_create(buid, page_shift, window_shift, bdf=(0, 0, 0)):
    return ("rtas", "ibm,create-pe-dma-window",
            [bdf_pack(bdf) << 8, buid >> 32, buid & 0xffffffff,
             page_shift, window_shift], 4)


def ddw_remove(liobn):
    return ("rtas", "ibm,remove-pe-dma-window", [liobn], 1)


def ddw_reset(buid, bdf=(0, 0, 0)):
    return ("rtas", "ibm,reset-pe-dma-window",
            [bdf_pack(bdf) << 8, buid >> 32, buid & 0xffffffff], 1)


# --------------------------------------------------------------------------
# Bridge, switch and root-port cases.
# --------------------------------------------------------------------------

def x86_bridge(bdf, secondary, subordinate, mem=None, io=None, pref=None, control=None):
    """Program a type-1 header through 0xcf8/0xcfc: bus numbers, windows, command."""
    st = [("x86cfg", bdf, 0x18, 4, (subordinate << 16) | (secondary << 8) | bdf[0])]
    if io is not None:
        st.append(("x86cfg", bdf, 0x1c, 2, ((io[1] >> 8) & 0xf0) << 8 | ((io[0] >> 8) & 0xf0)))
    if mem is not None:
        st.append(("x86cfg", bdf, 0x20, 4, ((mem[1] >> 16) & 0xfff0) << 16 | ((mem[0] >> 16) & 0xfff0)))
    if pref is not None:
        st.append(("x86cfg", bdf, 0x24, 4, ((pref[1] >> 16) & 0xfff0) << 16 | ((pref[0] >> 16) & 0xfff0)))
    if control is not None:
        st.append(("x86cfg", bdf, 0x3e, 2, control))
    st.append(("x86cfg", bdf, 0x04, 2, 0x0007))
    return st


def ecam_bridge(base, bdf, secondary, subordinate, mem=None, io=None):
    st = [("ecam", base, bdf, 0x18, 4, (subordinate << 16) | (secondary << 8) | bdf[0])]
    if io is not None:
        st.append(("ecam", base, bdf, 0x1c, 2, ((io[1] >> 8) & 0xf0) << 8 | ((io[0] >> 8) & 0xf0)))
    if mem is not None:
        st.append(("ecam", base, bdf, 0x20, 4, ((mem[1] >> 16) & 0xfff0) << 16 | ((mem[0] >> 16) & 0xfff0)))
    st.append(("ecam", base, bdf, 0x04, 2, 0x0007))
    return st


SWITCH = ["-device", "pcie-root-port,id=rp1,chassis=1",
          "-device", "x3130-upstream,id=up1,bus=rp1",
          "-device", "xio3130-downstream,id=dn1,bus=up1,chassis=2"]
NESTED3 = ["-device", "pci-bridge,id=br1,chassis_nr=1,addr=5",
           "-device", "pci-bridge,id=br2,bus=br1,chassis_nr=2,addr=1",
           "-device", "pci-bridge,id=br3,bus=br2,chassis_nr=3,addr=1"]
VIRT_ECAM = 0x4010000000

BRIDGE_CASES = [
    C("x86_64-pc-bridges-nested3", X86,
      ["-M", "pc", "-m", "256M"] + NESTED3 + ["-device", "e1000,bus=br3,addr=1"],
      what="three nested pci-bridges, an e1000 behind the innermost"),
    C("x86_64-pc-bridges-nested3-open", X86,
      ["-M", "pc", "-m", "256M"] + NESTED3 + ["-device", "e1000,bus=br3,addr=1"],
      steps=x86_bridge((0, 5, 0), 1, 3, mem=(0xfe000000, 0xfe0fffff), io=(0x1000, 0x1fff)) +
      x86_bridge((1, 1, 0), 2, 3, mem=(0xfe000000, 0xfe0fffff), io=(0x1000, 0x1fff)) +
      x86_bridge((2, 1, 0), 3, 3, mem=(0xfe000000, 0xfe0fffff), io=(0x1000, 0x1fff)) +
      x86_enable((3, 1, 0), [(0x10, 0xfe000000), (0x14, 0x1001)]),
      what="three nested pci-bridges with windows opened and the e1000 BARs placed"),
    C("x86_64-pc-bridges-siblings-open", X86,
      ["-M", "pc", "-m", "256M",
       "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5",
       "-device", "pci-bridge,id=br2,chassis_nr=2,addr=6",
       "-device", "e1000,bus=br1,addr=1", "-device", "e1000,bus=br2,addr=1"],
      steps=x86_bridge((0, 5, 0), 1, 1, mem=(0xfe000000, 0xfe0fffff), io=(0x1000, 0x1fff)) +
      x86_bridge((0, 6, 0), 2, 2, mem=(0xfe100000, 0xfe1fffff), io=(0x2000, 0x2fff)) +
      x86_enable((1, 1, 0), [(0x10, 0xfe000000), (0x14, 0x1001)]) +
      x86_enable((2, 1, 0), [(0x10, 0xfe100000), (0x14, 0x2001)]),
      what="two sibling pci-bridges with open windows and an e1000 BAR behind each"),
    C("x86_64-pc-bridges-siblings-closed", X86,
      ["-M", "pc", "-m", "256M",
       "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5",
       "-device", "pci-bridge,id=br2,chassis_nr=2,addr=6",
       "-device", "e1000,bus=br1,addr=1", "-device", "e1000,bus=br2,addr=1"],
      what="two sibling pci-bridges, windows closed"),
    C("x86_64-pc-bridge-vga", X86,
      ["-M", "pc", "-m", "256M",
       "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5", "-device", "VGA,bus=br1,addr=1"],
      steps=x86_bridge((0, 5, 0), 1, 1, mem=(0xfd000000, 0xfdffffff), io=(0x1000, 0x1fff),
                       control=0x0008) +
      x86_enable((1, 1, 0), [(0x10, 0xfd000000)]),
      what="VGA behind a pci-bridge with the bridge's VGA enable bit set"),
    C("x86_64-pc-bridge-pref-open", X86,
      ["-M", "pc", "-m", "256M",
       "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5",
       "-device", "virtio-net-pci,bus=br1,addr=1"],
      steps=x86_bridge((0, 5, 0), 1, 1, mem=(0xfe000000, 0xfe0fffff),
                       pref=(0xfc000000, 0xfcffffff), io=(0x1000, 0x1fff)) +
      x86_enable((1, 1, 0), [(0x10, 0x1001), (0x14, 0xfe000000), (0x20, 0xfc000000), (0x24, 0)]),
      what="pci-bridge with its prefetchable window open: virtio BAR in pref-mem"),
    C("x86_64-pc-bridge-hotplug", X86,
      ["-M", "pc", "-m", "256M", "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5"],
      steps=[("qmp", {"execute": "device_add",
                      "arguments": {"driver": "e1000", "id": "hot0", "bus": "br1", "addr": "1"}}),
             ("qmp", {"execute": "device_add",
                      "arguments": {"driver": "virtio-net-pci", "id": "hot1", "bus": "br1",
                                    "addr": "2"}})],
      what="devices hot-plugged behind a pci-bridge while paused"),
    C("x86_64-pc-bridges-seabios", X86,
      ["-M", "pc", "-m", "256M"] + NESTED3 + ["-device", "e1000,bus=br3,addr=1",
       "-device", "pci-bridge,id=br4,chassis_nr=4,addr=6", "-device", "e1000,bus=br4,addr=1"],
      steps=[("run", 4)],
      what="SeaBIOS programmed nested and sibling pci-bridges"),
    C("x86_64-pc-pxb-bridge", X86,
      ["-M", "pc", "-m", "256M", "-device", "pxb,id=pxb1,bus_nr=4",
       "-device", "pci-bridge,id=br1,bus=pxb1,chassis_nr=1,addr=1",
       "-device", "e1000,bus=br1,addr=1"],
      what="pci-bridge behind a PCI expander bridge"),
    C("x86_64-pc-bars-64bit", X86,
      ["-M", "pc", "-m", "256M", "-device", "virtio-net-pci,addr=4"],
      steps=x86_enable((0, 4, 0), [(0x10, 0xc041), (0x14, 0xfebf1000),
                                   (0x20, 0x0000000c), (0x24, 0x80)]),
      what="a 64-bit BAR placed above 4 GiB in the 64-bit PCI hole"),
    C("i386-pc-bridge", I386,
      ["-M", "pc", "-m", "128M",
       "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5", "-device", "e1000,bus=br1,addr=1"],
      what="i386 pc with a pci-bridge"),
    C("x86_64-q35-rp-switch-pcipci", X86,
      ["-M", "q35", "-m", "256M"] + SWITCH +
      ["-device", "pcie-pci-bridge,id=pb1,bus=dn1", "-device", "e1000,bus=pb1,addr=1"],
      what="root port, switch and PCIe-to-PCI bridge, an e1000 at the bottom"),
    C("x86_64-q35-rp-switch-pcipci-open", X86,
      ["-M", "q35", "-m", "256M"] + SWITCH +
      ["-device", "pcie-pci-bridge,id=pb1,bus=dn1", "-device", "e1000,bus=pb1,addr=1"],
      steps=x86_bridge((0, 1, 0), 1, 4, mem=(0xfe000000, 0xfe0fffff), io=(0x1000, 0x1fff)) +
      x86_bridge((1, 0, 0), 2, 4, mem=(0xfe000000, 0xfe0fffff), io=(0x1000, 0x1fff)) +
      x86_bridge((2, 0, 0), 3, 4, mem=(0xfe000000, 0xfe0fffff), io=(0x1000, 0x1fff)) +
      x86_bridge((3, 0, 0), 4, 4, mem=(0xfe000000, 0xfe0fffff), io=(0x1000, 0x1fff)) +
      x86_enable((4, 1, 0), [(0x10, 0xfe000000), (0x14, 0x1001)]),
      what="root port, switch, PCIe-to-PCI bridge, all windows opened, e1000 BARs placed"),
    C("x86_64-q35-virtio-iommu-switch", X86,
      ["-M", "q35", "-m", "512M", "-device", "virtio-iommu-pci"] + SWITCH +
      ["-device", "virtio-net-pci,bus=dn1"],
      what="virtio-iommu with a virtio-net-pci behind a switch"),
    C("x86_64-q35-switch-seabios", X86,
      ["-M", "q35", "-m", "512M"] + SWITCH +
      ["-device", "xio3130-downstream,id=dn2,bus=up1,chassis=3",
       "-device", "e1000e,bus=dn1", "-device", "virtio-net-pci,bus=dn2"],
      steps=[("run", 4)],
      what="SeaBIOS programmed a switch with two downstream ports"),
    C("x86_64-q35-switch-2down", X86,
      ["-M", "q35", "-m", "256M"] + SWITCH +
      ["-device", "xio3130-downstream,id=dn2,bus=up1,chassis=3",
       "-device", "e1000e,bus=dn1", "-device", "virtio-net-pci,bus=dn2"],
      what="switch with two downstream ports and a device on each"),
    C("x86_64-q35-switches-nested", X86,
      ["-M", "q35", "-m", "256M"] + SWITCH +
      ["-device", "x3130-upstream,id=up2,bus=dn1",
       "-device", "xio3130-downstream,id=dn3,bus=up2,chassis=4",
       "-device", "e1000e,bus=dn3"],
      what="a switch behind a switch"),
    C("x86_64-q35-root-ports-4", X86,
      ["-M", "q35", "-m", "256M"] +
      sum([["-device", "pcie-root-port,id=rp%d,chassis=%d" % (i, i)] for i in range(1, 5)], []) +
      ["-device", "e1000e,bus=rp1", "-device", "virtio-net-pci,bus=rp2",
       "-device", "qemu-xhci,bus=rp3"],
      what="four root ports, three with devices"),
    C("x86_64-q35-root-ports-open", X86,
      ["-M", "q35", "-m", "256M",
       "-device", "pcie-root-port,id=rp1,chassis=1,addr=3",
       "-device", "pcie-root-port,id=rp2,chassis=2,addr=4",
       "-device", "e1000e,bus=rp1", "-device", "e1000e,bus=rp2"],
      steps=x86_bridge((0, 3, 0), 1, 1, mem=(0xfe000000, 0xfe0fffff), io=(0x1000, 0x1fff)) +
      x86_bridge((0, 4, 0), 2, 2, mem=(0xfe100000, 0xfe1fffff), io=(0x2000, 0x2fff)) +
      x86_enable((1, 0, 0), [(0x10, 0xfe000000)]) + x86_enable((2, 0, 0), [(0x10, 0xfe100000)]),
      what="two root ports with open windows and an e1000e BAR behind each"),
    C("x86_64-q35-intel-iommu-bridges", X86,
      ["-M", "q35,kernel-irqchip=split", "-m", "512M", "-device", "intel-iommu",
       "-device", "pcie-root-port,id=rp1,chassis=1",
       "-device", "pcie-pci-bridge,id=pb1,bus=rp1", "-device", "e1000,bus=pb1,addr=1",
       "-device", "virtio-net-pci"],
      what="VT-d with a device behind a root port and a PCIe-to-PCI bridge"),
    C("x86_64-q35-intel-iommu-switch", X86,
      ["-M", "q35,kernel-irqchip=split", "-m", "512M", "-device", "intel-iommu"] + SWITCH +
      ["-device", "e1000e,bus=dn1"],
      what="VT-d with a device behind a switch"),
    C("x86_64-q35-amd-iommu-switch", X86,
      ["-M", "q35", "-m", "512M", "-device", "amd-iommu"] + SWITCH +
      ["-device", "e1000e,bus=dn1"],
      what="AMD IOMMU with a device behind a switch"),
    C("x86_64-q35-virtio-iommu-bridges", X86,
      ["-M", "q35", "-m", "512M", "-device", "virtio-iommu-pci",
       "-device", "pcie-root-port,id=rp1,chassis=1",
       "-device", "pcie-pci-bridge,id=pb1,bus=rp1", "-device", "e1000,bus=pb1,addr=1"],
      what="virtio-iommu with a device behind a PCIe-to-PCI bridge"),
    C("x86_64-q35-rp-hotplug-switch", X86,
      ["-M", "q35", "-m", "256M"] + SWITCH,
      steps=[("qmp", {"execute": "device_add",
                      "arguments": {"driver": "e1000e", "id": "hot0", "bus": "dn1"}})],
      what="a device hot-plugged into a switch's downstream port"),
    C("x86_64-q35-pxb-pcie", X86,
      ["-M", "q35", "-m", "256M", "-device", "pxb-pcie,id=pxb1,bus_nr=8",
       "-device", "pcie-root-port,id=rp1,bus=pxb1,chassis=1", "-device", "e1000e,bus=rp1"],
      what="PCIe expander bridge with a root port"),
    C("aarch64-virt-root-ports", A64,
      ["-M", "virt", "-cpu", "cortex-a57", "-m", "512M",
       "-device", "pcie-root-port,id=rp1,chassis=1", "-device", "pcie-root-port,id=rp2,chassis=2",
       "-device", "virtio-net-pci,bus=rp1", "-device", "e1000e,bus=rp2"],
      what="virt with two root ports and a device on each"),
    C("aarch64-virt-smmuv3-switch", A64,
      ["-M", "virt,iommu=smmuv3", "-cpu", "cortex-a57", "-m", "512M"] + SWITCH +
      ["-device", "e1000e,bus=dn1"],
      what="SMMUv3 with a device behind a switch"),
    C("aarch64-virt-smmuv3-pcie-pci-bridge", A64,
      ["-M", "virt,iommu=smmuv3", "-cpu", "cortex-a57", "-m", "512M",
       "-device", "pcie-root-port,id=rp1,chassis=1",
       "-device", "pcie-pci-bridge,id=pb1,bus=rp1",
       "-device", "e1000,bus=pb1,addr=1", "-device", "e1000,bus=pb1,addr=2",
       "-device", "e1000e"],
      what="SMMUv3 with two devices behind a PCIe-to-PCI bridge (one requester alias)"),
    C("x86_64-q35-intel-iommu-pci-bridge", X86,
      ["-M", "q35,kernel-irqchip=split", "-m", "512M", "-device", "intel-iommu",
       "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5",
       "-device", "e1000,bus=br1,addr=1", "-device", "e1000,bus=br1,addr=2"],
      what="VT-d with devices behind a conventional PCI bridge on pcie.0 (the bridge's requester id)"),
    C("aarch64-virt-virtio-iommu-bridge", A64,
      ["-M", "virt", "-cpu", "cortex-a57", "-m", "512M", "-device", "virtio-iommu-pci",
       "-device", "pcie-root-port,id=rp1,chassis=1",
       "-device", "pcie-pci-bridge,id=pb1,bus=rp1", "-device", "e1000,bus=pb1,addr=1"],
      what="virtio-iommu on virt with a device behind a PCIe-to-PCI bridge"),
    C("aarch64-virt-rp-open", A64,
      ["-M", "virt", "-cpu", "cortex-a57", "-m", "512M",
       "-device", "pcie-root-port,id=rp1,chassis=1,addr=1", "-device", "e1000e,bus=rp1"],
      steps=ecam_bridge(VIRT_ECAM, (0, 1, 0), 1, 1, mem=(0x10000000, 0x100fffff),
                        io=(0x1000, 0x1fff)) +
      ecam_enable(VIRT_ECAM, (1, 0, 0), [(0x10, 0x10000000)]),
      what="virt root port window opened and an e1000e BAR placed via ECAM"),
    C("aarch64-virt-bridges-bars", A64,
      ["-M", "virt", "-cpu", "cortex-a57", "-m", "512M",
       "-device", "pcie-pci-bridge,id=pb1,addr=1",
       "-device", "pci-bridge,id=br1,chassis_nr=1,addr=2"],
      # Windows closed first (base above limit) so that they do not overlap; memory decoding
      # on, bus mastering on for pci-bridge only (so no flat view lists both bridges).
      steps=[("ecam", VIRT_ECAM, bdf, reg, 4, val)
             for bdf, bar in (((0, 1, 0), 0x10000000), ((0, 2, 0), 0x10001000))
             for reg, val in ((0x1c, 0x000000f0), (0x20, 0x0000fff0), (0x24, 0x0000fff0),
                              (0x10, bar), (0x14, 0))] +
      [("ecam", VIRT_ECAM, (0, 1, 0), 0x04, 2, 0x0002),
       ("ecam", VIRT_ECAM, (0, 2, 0), 0x04, 2, 0x0006)],
      what="virt: a pcie-pci-bridge's and a pci-bridge's SHPC BARs placed, windows closed"),
    C("aarch64-virt-hotplug-rp", A64,
      ["-M", "virt", "-cpu", "cortex-a57", "-m", "512M",
       "-device", "pcie-root-port,id=rp1,chassis=1"],
      steps=[("qmp", {"execute": "device_add",
                      "arguments": {"driver": "virtio-net-pci", "id": "hot0", "bus": "rp1"}})],
      what="virtio-net-pci hot-plugged into a root port on virt"),
    C("ppc64-pseries-pci-bridge", PPC64,
      ["-M", "pseries", "-m", "1G", "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5",
       "-device", "e1000,bus=br1,addr=1"],
      what="pseries with a pci-bridge and a device behind it"),
    C("ppc64-pseries-bridges-nested", PPC64,
      ["-M", "pseries", "-m", "1G", "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5",
       "-device", "pci-bridge,id=br2,bus=br1,chassis_nr=2,addr=1",
       "-device", "virtio-net-pci,bus=br2,addr=1"],
      what="pseries with nested pci-bridges"),
    C("riscv64-virt-root-port", RV64,
      ["-M", "virt", "-m", "512M", "-device", "pcie-root-port,id=rp1,chassis=1",
       "-device", "e1000e,bus=rp1"],
      what="RISC-V virt with a root port"),
    C("mips-malta-bridge", MIPS,
      ["-M", "malta", "-m", "256M", "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5",
       "-device", "e1000,bus=br1,addr=1"],
      what="Malta with a pci-bridge"),
    C("sparc-ss5", "qemu-system-sparc", ["-M", "SS-5"],
      what="SPARCstation 5: sbus, iommu"),
]


CASES = [
    # ---------------------------------------------------------------- ppc64
    C("ppc64-pseries-default", PPC64, ["-M", "pseries", "-m", "1G"],
      what="pseries, no devices: PHB iommu-root, TCE window, msi, XIVE"),
    C("ppc64-pseries-xhci", PPC64, ["-M", "pseries", "-m", "1G", "-device", "qemu-xhci"],
      what="PCI device with a bus-master AS whose flat view is not rendered"),
    C("ppc64-pseries-xhci-phb1", PPC64,
      ["-M", "pseries", "-m", "1G", "-device", "qemu-xhci",
       "-device", "spapr-pci-host-bridge,index=1"],
      what="second PHB: two iommu-roots, two TCE windows"),
    C("ppc64-pseries-phb1-phb2", PPC64,
      ["-M", "pseries", "-m", "2G", "-device", "spapr-pci-host-bridge,index=1",
       "-device", "spapr-pci-host-bridge,index=2",
       "-device", "qemu-xhci,bus=pci.1", "-device", "virtio-net-pci,bus=pci.2"],
      what="three PHBs with devices behind the extra ones"),
    C("ppc64-pseries-ddw-off", PPC64,
      ["-M", "pseries", "-m", "1G", "-global", "spapr-pci-host-bridge.ddw=off",
       "-device", "qemu-xhci"],
      what="DDW disabled: only the default 32-bit DMA window"),
    C("ppc64-pseries-m256M", PPC64, ["-M", "pseries", "-m", "256M"],
      what="small RAM"),
    C("ppc64-pseries-m16G-hotplug-mem", PPC64,
      ["-M", "pseries", "-m", "16G,slots=4,maxmem=32G"],
      what="large RAM plus device-memory container for DIMMs"),
    C("ppc64-pseries-virtio", PPC64,
      ["-M", "pseries", "-m", "1G", "-netdev", "user,id=n0",
       "-device", "virtio-net-pci,netdev=n0"] + DRIVE0 +
      ["-device", "virtio-blk-pci,drive=d0"],
      what="virtio-net-pci and virtio-blk-pci: BAR containers with virtio caps"),
    C("ppc64-pseries-vio", PPC64,
      ["-M", "pseries", "-m", "1G", "-device", "spapr-vscsi",
       "-netdev", "user,id=n0", "-device", "spapr-vlan,netdev=n0",
       "-chardev", "null,id=c0", "-device", "spapr-vty,chardev=c0"],
      what="VIO devices, each with its own TCE IOMMU address space"),
    C("ppc64-pseries-smp4", PPC64,
      ["-M", "pseries", "-m", "1G", "-smp", "4"],
      what="four CPUs: four cpu-memory-N address spaces sharing one flat view"),
    C("ppc64-pseries-2.1-compat", PPC64, ["-M", "pseries-2.1", "-m", "1G"],
      what="old machine type (XICS, legacy PHB layout)"),
    C("ppc64-pseries-xhci-enabled", PPC64,
      ["-M", "pseries", "-m", "1G", "-device", "qemu-xhci"],
      steps=spapr_enable(SPAPR_BUID0, (0, 0, 0), [(0x10, 0x80000000), (0x14, 0)]),
      what="xhci BAR0 placed and bus mastering on (RTAS config writes): rendered DMA AS"),
    C("ppc64-pseries-xhci-ddw", PPC64,
      ["-M", "pseries", "-m", "2G", "-device", "qemu-xhci"],
      steps=spapr_enable(SPAPR_BUID0, (0, 0, 0), [(0x10, 0x80000000), (0x14, 0)]) +
      [ddw_query(SPAPR_BUID0), ddw_create(SPAPR_BUID0, 16, 31)],
      what="xhci plus a 64-bit dynamic DMA window created by RTAS at 0x800000000000000"),
    C("ppc64-pseries-xhci-ddw-removed-default", PPC64,
      ["-M", "pseries", "-m", "2G", "-device", "qemu-xhci"],
      steps=spapr_enable(SPAPR_BUID0, (0, 0, 0), [(0x10, 0x80000000), (0x14, 0)]) +
      [ddw_query(SPAPR_BUID0), ddw_remove(0x80000000), ddw_create(SPAPR_BUID0, 16, 31)],
      what="default window removed, then DDW created (lands at bus address 0)"),
    C("ppc64-pseries-ddw-reset", PPC64,
      ["-M", "pseries", "-m", "2G", "-device", "qemu-xhci"],
      steps=[ddw_query(SPAPR_BUID0), ddw_create(SPAPR_BUID0, 16, 31),
             ddw_reset(SPAPR_BUID0)],
      what="DDW created then reset: back to the default window"),
    C("ppc64-pseries-ddw-16M-pages-1T", PPC64,
      ["-M", "pseries", "-m", "1G", "-device", "qemu-xhci"],
      steps=[ddw_query(SPAPR_BUID0), ddw_create(SPAPR_BUID0, 24, 40)],
      what="DDW with 16 MiB IOMMU pages covering 1 TiB"),
    C("ppc64-pseries-phb1-ddw", PPC64,
      ["-M", "pseries", "-m", "1G", "-device", "spapr-pci-host-bridge,index=1",
       "-device", "qemu-xhci", "-device", "virtio-net-pci,bus=pci.1"],
      steps=spapr_enable(SPAPR_BUID0 + 1, (0, 0, 0), [(0x14, 0x80000000)]) +
      [ddw_query(SPAPR_BUID0 + 1), ddw_create(SPAPR_BUID0 + 1, 16, 32)],
      what="DDW on the second PHB only"),
    C("ppc64-pseries-xhci-ddw-hotplug", PPC64,
      ["-M", "pseries", "-m", "2G", "-device", "qemu-xhci"],
      steps=spapr_enable(SPAPR_BUID0, (0, 0, 0), [(0x10, 0x80000000), (0x14, 0)]) +
      [ddw_query(SPAPR_BUID0), ddw_create(SPAPR_BUID0, 16, 31),
       ("qmp", {"execute": "device_add",
                "arguments": {"driver": "virtio-net-pci", "id": "hot0", "addr": "4"}})],
      what="xhci with a DDW, then a virtio-net-pci hot-plugged behind the same PHB"),
    C("ppc64-pseries-nvdimm", PPC64,
      ["-M", "pseries,nvdimm=on", "-m", "1G,slots=2,maxmem=4G",
       "-object", "memory-backend-file,id=nv0,share=on,mem-path=%s,size=262272K"
       % W("nvdimm-spapr.img"),
       "-device", "nvdimm,memdev=nv0,id=nvdimm0,label-size=128K,uuid=5ee9d5a6-1b0e-4d5c-9a8e-22d6f4b7e0a1"],
      what="sPAPR NVDIMM: nv-ram alias"),
    C("ppc64-pseries-hotplug-pci", PPC64,
      ["-M", "pseries", "-m", "1G", "-device", "qemu-xhci"],
      steps=[("qmp", {"execute": "device_add",
                      "arguments": {"driver": "virtio-net-pci", "id": "hot0",
                                    "addr": "5"}})],
      what="virtio-net-pci hot-plugged over QMP while paused"),
    C("ppc64-pseries-hotplug-dimm", PPC64,
      ["-M", "pseries", "-m", "1G,slots=2,maxmem=4G"],
      steps=[("qmp", {"execute": "object-add",
                      "arguments": {"qom-type": "memory-backend-ram", "id": "mb1",
                                    "size": 1 << 30}}),
             ("qmp", {"execute": "device_add",
                      "arguments": {"driver": "pc-dimm", "id": "dimm1",
                                    "memdev": "mb1"}})],
      what="pc-dimm hot-plugged into device-memory"),
    C("ppc64-pseries-slof-booted", PPC64,
      ["-M", "pseries", "-m", "1G", "-device", "qemu-xhci",
       "-device", "virtio-net-pci"],
      steps=[("run", 20)],
      what="SLOF ran for a while: BARs assigned by firmware"),
    C("ppc64-powernv8", PPC64, ["-M", "powernv8", "-m", "1G"],
      what="POWER8 PowerNV: PHB3s, XSCOM, LPC, ICP"),
    C("ppc64-powernv9", PPC64, ["-M", "powernv9", "-m", "2G"],
      what="POWER9 PowerNV: PHB4s, XIVE, PSI"),
    C("ppc64-powernv10", PPC64, ["-M", "powernv10", "-m", "2G"],
      what="POWER10 PowerNV: PHB5s"),
    C("ppc64-mac99", PPC64, ["-M", "mac99"],
      what="New World Mac (G5 under ppc64): uninorth, macio"),
    C("ppc-mac99", PPC, ["-M", "mac99"],
      what="New World Mac (G4): uninorth PCI buses, macio, openpic"),
    C("ppc-g3beige", PPC, ["-M", "g3beige"],
      what="Old World Mac: grackle, heathrow, isa io alias"),
    C("ppc-40p", PPC, ["-M", "40p"],
      what="PReP 40p: raven PCI host, ISA, BIOS ROM"),
    C("ppc-pegasos2", PPC, ["-M", "pegasos2"],
      what="Pegasos II: MV64361 windows (aliases), VT8231"),
    C("ppc-bamboo", PPC, ["-M", "bamboo"],
      what="PPC440 bamboo: ppc4xx PCI, SDRAM banks"),
    C("ppc-sam460ex", PPC, ["-M", "sam460ex"],
      what="Sam460ex: ppc460ex, PCIe, many aliases"),
    C("ppc-ppce500", PPC, ["-M", "ppce500", "-bios", W("e500-bios.elf")],
      what="e500 paravirt board: CCSR, PCI, platform bus"),

    # --------------------------------------------------------------- x86_64
    C("x86_64-pc-default", X86, ["-M", "pc", "-m", "128M"],
      what="i440fx: PAM aliases, smram, pci hole, isa-bios alias"),
    C("x86_64-pc-m4G", X86, ["-M", "pc", "-m", "4G"],
      what="RAM above 4G: ram-below-4g/ram-above-4g aliases"),
    C("x86_64-pc-vga-devices", X86,
      ["-M", "pc", "-m", "512M", "-device", "VGA", "-device", "e1000",
       "-device", "piix3-usb-uhci", "-device", "ich9-ahci"],
      what="VGA low-memory alias windows and several PCI devices"),
    C("x86_64-pc-cirrus", X86, ["-M", "pc", "-m", "256M", "-device", "cirrus-vga"],
      what="cirrus-vga: overlapping low-memory regions and bank aliases"),
    C("x86_64-pc-pflash", X86,
      ["-M", "pc", "-m", "256M",
       "-drive", "if=pflash,format=raw,readonly=on,file=%s" % W("flash0.img"),
       "-drive", "if=pflash,format=raw,file=%s" % W("flash1.img")],
      what="system flash (romd) instead of pc.bios"),
    C("x86_64-pc-pci-bridge", X86,
      ["-M", "pc", "-m", "256M",
       "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5",
       "-device", "e1000,bus=br1,addr=1", "-device", "virtio-net-pci,bus=br1,addr=2"],
      what="pci-bridge windows: disabled aliases, VGA windows"),
    C("x86_64-pc-smp2-hpet", X86,
      ["-M", "pc", "-m", "256M", "-smp", "2", "-device", "e1000"],
      what="two CPUs: cpu-memory-N and cpu-smm-N address spaces"),
    C("x86_64-pc-nvdimm", X86,
      ["-M", "pc,nvdimm=on", "-m", "1G,slots=2,maxmem=4G",
       "-object", "memory-backend-file,id=nv0,share=on,mem-path=%s,size=256M" % W("nvdimm.img"),
       "-device", "nvdimm,memdev=nv0,id=nvdimm0"],
      what="NVDIMM: nv-ram alias in device-memory"),
    C("x86_64-q35-amd-iommu", X86,
      ["-M", "q35", "-m", "256M", "-device", "amd-iommu", "-device", "e1000",
       "-device", "virtio-net-pci"],
      what="AMD IOMMU: per-device IOMMU regions and address spaces"),
    C("x86_64-pc-hotplug-dimm", X86,
      ["-M", "pc", "-m", "1G,slots=2,maxmem=4G"],
      steps=[("qmp", {"execute": "object-add",
                      "arguments": {"qom-type": "memory-backend-ram", "id": "mb1",
                                    "size": 512 << 20}}),
             ("qmp", {"execute": "device_add",
                      "arguments": {"driver": "pc-dimm", "id": "dimm1",
                                    "memdev": "mb1"}})],
      what="pc-dimm added over QMP while paused"),
    C("x86_64-pc-hotplug-pci", X86,
      ["-M", "pc", "-m", "256M"],
      steps=[("qmp", {"execute": "device_add",
                      "arguments": {"driver": "e1000", "id": "hot0", "addr": "6"}}),
             ("qmp", {"execute": "device_add",
                      "arguments": {"driver": "qemu-xhci", "id": "hot1", "addr": "7"}})],
      what="e1000 and qemu-xhci hot-plugged on i440fx"),
    C("x86_64-pc-bars-programmed", X86,
      ["-M", "pc", "-m", "256M", "-device", "e1000,addr=3",
       "-device", "virtio-net-pci,addr=4", "-device", "VGA,addr=2"],
      steps=x86_enable((0, 3, 0), [(0x10, 0xfebc0000), (0x14, 0xc001)]) +
      x86_enable((0, 4, 0), [(0x10, 0xc041), (0x14, 0xfebf1000),
                             (0x20, 0xfe000000), (0x24, 0)]) +
      x86_enable((0, 2, 0), [(0x10, 0xfd000000), (0x18, 0xfebf0000)]),
      what="PCI BARs placed and bus mastering on through 0xcf8/0xcfc (qtest)"),
    C("x86_64-pc-bars-overlap", X86,
      ["-M", "pc", "-m", "256M", "-device", "e1000,addr=3", "-device", "e1000,addr=4",
       "-device", "virtio-net-pci,addr=5", "-device", "e1000,addr=6"],
      steps=x86_enable((0, 3, 0), [(0x10, 0xfeb00000)]) +
      x86_enable((0, 4, 0), [(0x10, 0xfeb00000)]) +
      x86_enable((0, 5, 0), [(0x14, 0xfeb08000)]) +
      x86_enable((0, 6, 0), [(0x10, 0x00100000)]),
      what="equal-priority BARs: two at one address, a smaller one inside them, one inside RAM"),
    C("x86_64-pc-pam-programmed", X86, ["-M", "pc", "-m", "256M"],
      steps=[("x86cfg", (0, 0, 0), 0x59, 1, 0x30),
             ("x86cfg", (0, 0, 0), 0x5a, 1, 0x13),
             ("x86cfg", (0, 0, 0), 0x5b, 1, 0x31),
             ("x86cfg", (0, 0, 0), 0x5c, 1, 0x22),
             ("x86cfg", (0, 0, 0), 0x5f, 1, 0x33),
             ("x86cfg", (0, 0, 0), 0x72, 1, 0x4a)],
      what="PAM registers set to RAM/ROM/write-only modes, SMRAM opened"),
    C("x86_64-pc-seabios-booted", X86,
      ["-M", "pc", "-m", "256M", "-device", "e1000", "-device", "VGA"],
      steps=[("run", 4)],
      what="SeaBIOS ran: PAM shadowing, BARs assigned, bus master bits"),
    C("x86_64-pc-pflash-cmd-mode", X86,
      ["-M", "pc", "-m", "256M",
       "-drive", "if=pflash,format=raw,readonly=on,file=%s" % W("flash0.img"),
       "-drive", "if=pflash,format=raw,file=%s" % W("flash1.img")],
      steps=[("qtest", "writeb 0xffbc0000 0x90")],
      what="flash1 switched to command mode (romd off): prints as i/o"),
    C("x86_64-pc-tpm-tis", X86,
      ["-M", "pc", "-m", "256M"] + tpm_args("x86_64-pc-tpm-tis", "tpm-tis"),
      swtpm=True,
      what="TPM TIS with PPI: a ram-device (ramd) region"),
    C("x86_64-q35-tpm-crb", X86,
      ["-M", "q35", "-m", "256M"] + tpm_args("x86_64-q35-tpm-crb", "tpm-crb"),
      swtpm=True,
      what="TPM CRB with PPI on q35: ramd"),
    C("x86_64-pc-pxb", X86,
      ["-M", "pc", "-m", "256M", "-device", "pxb,id=pxb1,bus_nr=4",
       "-device", "e1000,bus=pxb1,addr=1"],
      what="PCI expander bridge: an extra root bus"),
    C("x86_64-q35-default", X86, ["-M", "q35", "-m", "256M"],
      what="q35: MCH, PCIe MMCFG, smram/tseg, LPC"),
    C("x86_64-q35-m6G", X86, ["-M", "q35", "-m", "6G"],
      what="q35 with RAM above 4G"),
    C("x86_64-q35-intel-iommu", X86,
      ["-M", "q35,kernel-irqchip=split", "-m", "512M", "-device", "intel-iommu",
       "-device", "e1000e", "-device", "virtio-net-pci"],
      what="VT-d: per-device IOMMU regions, vtd-nodmar/iommu aliases"),
    C("x86_64-q35-intel-iommu-cm", X86,
      ["-M", "q35,kernel-irqchip=split", "-m", "512M",
       "-device", "intel-iommu,caching-mode=on,intremap=on",
       "-device", "e1000", "-device", "virtio-net-pci", "-device", "qemu-xhci",
       "-device", "nvme,drive=d0,serial=deadbeef"] + DRIVE0,
      what="VT-d caching-mode with four PCI devices: many device address spaces"),
    C("x86_64-q35-virtio-iommu", X86,
      ["-M", "q35", "-m", "512M", "-device", "virtio-iommu-pci",
       "-device", "virtio-net-pci", "-device", "e1000e"],
      what="virtio-iommu: IOMMU regions per endpoint"),
    C("x86_64-q35-root-ports-hotplug", X86,
      ["-M", "q35", "-m", "256M",
       "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
       "-device", "pcie-root-port,id=rp2,chassis=2,slot=2"] + DRIVE0,
      steps=[("qmp", {"execute": "device_add",
                      "arguments": {"driver": "virtio-net-pci", "id": "hot0",
                                    "bus": "rp1"}}),
             ("qmp", {"execute": "device_add",
                      "arguments": {"driver": "nvme", "id": "hot1", "bus": "rp2",
                                    "serial": "cafe", "drive": "d0"}})],
      what="PCIe root ports with devices hot-plugged while paused"),
    C("x86_64-q35-bridges", X86,
      ["-M", "q35", "-m", "256M",
       "-device", "pcie-root-port,id=rp1,chassis=1",
       "-device", "pcie-pci-bridge,id=pb1,bus=rp1",
       "-device", "e1000,bus=pb1,addr=1",
       "-device", "ich9-usb-ehci1"],
      what="PCIe root port, PCIe-to-PCI bridge, nested bridge windows"),
    C("x86_64-q35-mmcfg-programmed", X86,
      ["-M", "q35", "-m", "256M", "-device", "e1000e,addr=3"],
      steps=[("x86cfg", (0, 0, 0), 0x60, 4, 0xb0000001),
             ("x86cfg", (0, 0, 0), 0x64, 4, 0x00000000),
             ("x86cfg", (0, 0, 0), 0x9d, 1, 0x4a)] +
      x86_enable((0, 3, 0), [(0x10, 0xfebc0000), (0x14, 0xfeb80000), (0x18, 0xc001)]),
      what="q35 PCIEXBAR enabled, SMRAM open, e1000e BARs and bus master"),
    C("x86_64-q35-seabios-booted", X86,
      ["-M", "q35", "-m", "512M", "-device", "virtio-net-pci", "-device", "VGA"],
      steps=[("run", 4)],
      what="SeaBIOS ran on q35"),
    C("x86_64-q35-kvm", X86,
      ["-M", "q35", "-accel", "kvm", "-m", "512M", "-device", "e1000e"],
      what="KVM accelerator: -f lines carry the accelerator name"),
    C("x86_64-microvm", X86, ["-M", "microvm", "-m", "256M"],
      what="microvm: virtio-mmio transports, no PCI"),
    C("x86_64-microvm-pcie", X86,
      ["-M", "microvm,pcie=on,rtc=on", "-m", "256M", "-device", "virtio-net-pci"],
      what="microvm with GPEX PCIe: ECAM and MMIO windows as aliases"),
    C("i386-isapc", I386, ["-M", "isapc", "-m", "32M"],
      what="ISA-only PC: no PCI, ISA bus memory"),

    # -------------------------------------------------------------- aarch64
    C("aarch64-virt-default", A64, ["-M", "virt", "-cpu", "cortex-a57", "-m", "512M"],
      what="virt: GIC, GPEX ECAM/MMIO/IO aliases, platform bus, flash"),
    C("aarch64-virt-gicv3-smp4", A64,
      ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "4", "-m", "1G"],
      what="GICv3 and four CPUs"),
    C("aarch64-virt-secure", A64,
      ["-M", "virt,secure=on", "-cpu", "cortex-a57", "-m", "512M"],
      what="secure world: secure-ram, secure address spaces"),
    C("aarch64-virt-virtualization-mte", A64,
      ["-M", "virt,virtualization=on,mte=on", "-cpu", "max", "-m", "512M"],
      what="EL2 and MTE: tag memory address spaces"),
    C("aarch64-virt-highmem-off", A64,
      ["-M", "virt,highmem=off", "-cpu", "cortex-a57", "-m", "1G"],
      what="virt without high ECAM/MMIO"),
    C("aarch64-virt-smmuv3", A64,
      ["-M", "virt,iommu=smmuv3", "-cpu", "cortex-a57", "-m", "512M",
       "-device", "virtio-net-pci", "-device", "e1000e",
       "-device", "qemu-xhci"],
      what="SMMUv3: per-device IOMMU regions and address spaces"),
    C("aarch64-virt-smmuv3-enabled", A64,
      ["-M", "virt,iommu=smmuv3", "-cpu", "cortex-a57", "-m", "512M",
       "-device", "e1000e,addr=1", "-device", "virtio-net-pci,addr=2"],
      steps=ecam_enable(0x4010000000, (0, 1, 0), [(0x10, 0x10000000), (0x14, 0x10020000)]) +
      ecam_enable(0x4010000000, (0, 2, 0), [(0x20, 0x10100000), (0x24, 0)]),
      what="SMMUv3 with BARs placed and bus mastering on via ECAM (qtest)"),
    C("aarch64-virt-virtio-iommu", A64,
      ["-M", "virt", "-cpu", "cortex-a57", "-m", "512M",
       "-device", "virtio-iommu-pci", "-device", "virtio-net-pci"],
      what="virtio-iommu on virt"),
    C("aarch64-virt-pflash", A64,
      ["-M", "virt", "-cpu", "cortex-a57", "-m", "512M",
       "-drive", "if=pflash,format=raw,file=%s" % W("aavmf-code.img"),
       "-drive", "if=pflash,format=raw,file=%s" % W("aavmf-vars.img")],
      what="two pflash devices (romd)"),
    C("aarch64-virt-hotplug-dimm", A64,
      ["-M", "virt", "-cpu", "cortex-a57", "-m", "1G,slots=2,maxmem=4G",
       "-drive", "if=pflash,format=raw,file=%s" % W("aavmf-code.img"),
       "-drive", "if=pflash,format=raw,file=%s" % W("aavmf-vars.img")],
      steps=[("qmp", {"execute": "object-add",
                      "arguments": {"qom-type": "memory-backend-ram", "id": "mb1",
                                    "size": 512 << 20}}),
             ("qmp", {"execute": "device_add",
                      "arguments": {"driver": "pc-dimm", "id": "dimm1",
                                    "memdev": "mb1"}})],
      what="pc-dimm added while paused on virt"),
    C("aarch64-raspi3b", A64, ["-M", "raspi3b"],
      what="BCM2837: nested peripheral containers, GPU bus aliases"),
    C("aarch64-sbsa-ref", A64, ["-M", "sbsa-ref", "-m", "1G"],
      what="SBSA reference: secure flash, AHCI, EHCI, GIC ITS"),
    C("aarch64-xlnx-zcu102", A64, ["-M", "xlnx-zcu102", "-m", "2G"],
      what="ZynqMP: RPU/APU views, many aliases and MMIO containers"),
    C("arm-vexpress-a15", ARM, ["-M", "vexpress-a15", "-m", "256M"],
      what="vexpress A15: motherboard aliases, flash, a15mpcore"),
    C("arm-mps2-an505", ARM, ["-M", "mps2-an505"],
      what="M-profile with TrustZone: IDAU, MPC IOMMU regions, secure views"),
    C("arm-sabrelite", ARM, ["-M", "sabrelite", "-m", "1G"],
      what="i.MX6: many peripheral regions"),
    C("arm-versatilepb", ARM, ["-M", "versatilepb"],
      what="Versatile PB: versatile PCI with aliases"),
    C("arm-ast2600-evb", ARM, ["-M", "ast2600-evb"],
      what="Aspeed AST2600: SoC containers, spi flash aliases"),

    # ---------------------------------------------------------------- other
    C("riscv64-virt", RV64, ["-M", "virt", "-m", "512M", "-device", "virtio-net-pci"],
      what="RISC-V virt: PLIC/ACLINT, GPEX, virtio-mmio"),
    C("riscv64-sifive_u", RV64, ["-M", "sifive_u"],
      what="SiFive U: many SoC regions"),
    C("mips-malta", MIPS, ["-M", "malta", "-m", "256M"],
      what="Malta: GT-64120 windows, isa, flash"),
    C("mips64el-fuloong2e", MIPS64EL, ["-M", "fuloong2e", "-bios", W("bios-512k.bin")],
      what="Fuloong 2E: bonito PCI windows"),
    C("sparc64-sun4u", SPARC64, ["-M", "sun4u"],
      what="sun4u: sabre PCI, IOMMU"),
    C("s390x-ccw", S390, ["-M", "s390-ccw-virtio", "-m", "512M"],
      what="s390x: tiny tree, no I/O ports"),
    C("s390x-ccw-zpci", S390,
      ["-M", "s390-ccw-virtio", "-m", "512M", "-device", "virtio-net-pci"],
      what="s390x zPCI: per-function IOMMU regions"),
    C("loongarch64-virt", LOONG, ["-M", "virt", "-m", "1G"],
      what="LoongArch virt: iocsr address spaces"),

    # ------------------------------- bridges, switches, root ports (added here)
] + BRIDGE_CASES + [
    # ------------------------------------------- known not to start (FAILED.txt)
    C("ppc-mpc8544ds", PPC, ["-M", "mpc8544ds"],
      what="needs u-boot.e500, which Debian does not ship"),
    C("ppc64-pseries-2.10", PPC64, ["-M", "pseries-2.10", "-m", "1G"],
      what="machine types 2.8 to 2.11 want transactional memory, which TCG lacks"),
    C("x86_64-pc-amd-iommu", X86, ["-M", "pc", "-device", "amd-iommu"],
      what="amd-iommu is only a dynamic sysbus device on q35"),
    C("aarch64-virt-hotplug-dimm-no-firmware", A64,
      ["-M", "virt", "-cpu", "cortex-a57", "-m", "1G,slots=2,maxmem=4G"],
      steps=[("qmp", {"execute": "object-add",
                      "arguments": {"qom-type": "memory-backend-ram", "id": "mb1",
                                    "size": 512 << 20}}),
             ("qmp", {"execute": "device_add",
                      "arguments": {"driver": "pc-dimm", "id": "dimm1",
                                    "memdev": "mb1"}})],
      what="virt creates its ACPI GED (needed for DIMM hotplug) only with firmware"),
    C("arm-connex", ARM, ["-M", "connex"],
      what="needs a pflash image"),
]


# --------------------------------------------------------------------------
# QMP and qtest plumbing
# --------------------------------------------------------------------------

class Failed(Exception):
    pass


class LineSock:
    def __init__(self, path, proc, timeout=30.0):
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise Failed("QEMU exited during startup")
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                break
            except OSError:
                s.close()
                if time.time() > deadline:
                    raise Failed("could not connect to " + path)
                time.sleep(0.05)
        s.settimeout(120)
        self.sock = s
        self.f = s.makefile("rwb", buffering=0)
        self.buf = b""

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Failed("connection closed by QEMU")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "surrogateescape")


class QMP(LineSock):
    def __init__(self, path, proc):
        super().__init__(path, proc)
        self._recv()
        self.cmd({"execute": "qmp_capabilities"})

    def _recv(self):
        while True:
            msg = json.loads(self.readline())
            if "event" not in msg:
                return msg

    def cmd(self, obj):
        self.send(json.dumps(obj))
        r = self._recv()
        if "error" in r:
            raise Failed("QMP %s: %s" % (obj.get("execute"), r["error"].get("desc")))
        return r["return"]

    def hmp(self, line):
        return self.cmd({"execute": "human-monitor-command",
                         "arguments": {"command-line": line}})


class QTest(LineSock):
    def q(self, line):
        self.send(line)
        while True:
            r = self.readline()
            if r.startswith("IRQ"):
                continue
            break
        if not r.startswith("OK"):
            raise Failed("qtest %r -> %r" % (line, r))
        return r[2:].strip()


def x86cfg(qt, bdf, reg, size, value):
    addr = 0x80000000 | (bdf_pack(bdf) << 8) | (reg & 0xfc)
    qt.q("outl 0xcf8 0x%x" % addr)
    port = 0xcfc + (reg & 3)
    op = {1: "outb", 2: "outw", 4: "outl"}[size]
    qt.q("%s 0x%x 0x%x" % (op, port, value))


def ecam(qt, base, bdf, reg, size, value):
    addr = base + (bdf_pack(bdf) << 12) + reg
    op = {1: "writeb", 2: "writew", 4: "writel"}[size]
    qt.q("%s 0x%x 0x%x" % (op, addr, value))


def rtas(qt, name, args, nret):
    argp = RTAS_SCRATCH
    retp = RTAS_SCRATCH + 0x100
    for i, a in enumerate(args):
        qt.q("writel 0x%x 0x%x" % (argp + 4 * i, a & 0xffffffff))
    for i in range(nret):
        qt.q("writel 0x%x 0xffffffff" % (retp + 4 * i))
    res = qt.q("rtas %s %d 0x%x %d 0x%x" % (name, len(args), argp, nret, retp))
    if res != "0":
        raise Failed("rtas %s returned %s" % (name, res))
    rets = [int(qt.q("readl 0x%x" % (retp + 4 * i)), 16) for i in range(nret)]
    if rets and rets[0] != 0:
        raise Failed("rtas %s status %d" % (name, rets[0] - (1 << 32) if rets[0] >> 31 else rets[0]))
    return rets


def spaprcfg(qt, buid, bdf, reg, size, value):
    addr = (bdf_pack(bdf) << 8) | (reg & 0xff) | ((reg & 0xf00) << 20)
    return rtas(qt, "ibm,write-pci-config",
                [addr, buid >> 32, buid & 0xffffffff, size, value], 1)


def step_text(st):
    kind = st[0]
    if kind == "qmp":
        return "qmp " + json.dumps(st[1])
    if kind == "hmp":
        return "hmp " + st[1]
    if kind == "qtest":
        return "qtest " + st[1]
    if kind == "x86cfg":
        _, bdf, reg, size, val = st
        return "pci-config-write (0xcf8/0xcfc, qtest) %02x:%02x.%x reg 0x%02x size %d value 0x%x" % (
            bdf + (reg, size, val))
    if kind == "ecam":
        _, base, bdf, reg, size, val = st
        return "pci-config-write (ECAM 0x%x, qtest) %02x:%02x.%x reg 0x%02x size %d value 0x%x" % (
            (base,) + bdf + (reg, size, val))
    if kind == "spaprcfg":
        _, buid, bdf, reg, size, val = st
        return "rtas ibm,write-pci-config buid 0x%x %02x:%02x.%x reg 0x%02x size %d value 0x%x" % (
            (buid,) + bdf + (reg, size, val))
    if kind == "rtas":
        return "rtas %s args [%s]" % (st[1], ", ".join("0x%x" % a for a in st[2]))
    if kind == "run":
        return "qmp cont; sleep %s; qmp stop" % st[1]
    raise ValueError(kind)


def run_step(qmp, qt, st):
    kind = st[0]
    if kind == "qmp":
        qmp.cmd(st[1])
    elif kind == "hmp":
        out = qmp.hmp(st[1])
        if out:
            raise Failed("HMP %s: %s" % (st[1], out.strip()))
    elif kind == "qtest":
        qt.q(st[1])
    elif kind == "x86cfg":
        x86cfg(qt, *st[1:])
    elif kind == "ecam":
        ecam(qt, *st[1:])
    elif kind == "spaprcfg":
        return spaprcfg(qt, *st[1:])
    elif kind == "rtas":
        return rtas(qt, st[1], st[2], st[3])
    elif kind == "run":
        qmp.cmd({"execute": "cont"})
        time.sleep(st[1])
        qmp.cmd({"execute": "stop"})
    return None


IOMMU_FILE = "iommu-regions.txt"


def unescape_mr_name(child):
    """QOM child name of a memory region -> the region's name.

    memory.c adds a region as child "<escaped name>[N]" of its owner, writing
    '/', '[', '\\' and ']' as \\xNN."""
    name = re.sub(r"\[\d+\]$", "", child)
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), name)


def iommu_listing(qmp):
    """The tree dumps print IOMMU regions as plain i/o; list them from QOM."""
    types = {t["name"] for t in qmp.cmd({"execute": "qom-list-types",
                                         "arguments": {"implements": "iommu-memory-region",
                                                       "abstract": True}})}
    found = []
    todo = ["/machine"]
    while todo:
        path = todo.pop(0)
        for prop in qmp.cmd({"execute": "qom-list", "arguments": {"path": path}}):
            ty = prop["type"]
            if not ty.startswith("child<"):
                continue
            child = path + "/" + prop["name"]
            todo.append(child)
            if ty[6:-1] in types:
                found.append((child, prop["name"], ty[6:-1]))
    lines = ["# IOMMU memory regions in the QOM tree: name, QOM type, size, "
             "container (QOM path, '-' if none), QOM path\n"]
    for path, child, ty in sorted(found):
        get = lambda prop: qmp.cmd({"execute": "qom-get",
                                    "arguments": {"path": path, "property": prop}})
        size = get("size")
        cont = get("container") or "-"
        lines.append("%s\t%s\t0x%x\t%s\t%s\n" % (unescape_mr_name(child), ty, size, cont, path))
    return "".join(lines)


def first_error(stderr_text):
    lines = [l for l in stderr_text.splitlines() if l.strip()]
    for l in lines:
        if "warning:" in l or "terminating on signal" in l or l.startswith("Unexpected error in "):
            continue
        return l
    return lines[-1] if lines else "(no message)"


def build_argv(case, qmp_sock, qt_sock):
    argv = [case.binary] + COMMON + case.args
    argv += ["-qmp", "unix:%s,server=on,wait=off" % qmp_sock]
    if qt_sock:
        argv += ["-qtest", "unix:%s,server=on,wait=off" % qt_sock]
        if QEMU10_DIR:
            argv += ["-qtest-log", "none"]
    return argv


def qemu10_run(argv):
    """The argv and environment that run argv's binary from the QEMU 10.0 tree."""
    exe = os.path.join(QEMU10_DIR, "usr", "bin", argv[0])
    firmware = ["-L", os.path.join(QEMU10_DIR, "usr/share/qemu"),
                "-L", os.path.join(QEMU10_DIR, "usr/share/seabios")]
    env = dict(os.environ, QEMU_MODULE_DIR=os.path.join(QEMU10_DIR, "usr/lib/x86_64-linux-gnu/qemu"))
    return [exe] + firmware + argv[1:], env


def qemu_version_line():
    argv, env = qemu10_run(["qemu-system-x86_64", "--version"]) if QEMU10_DIR else (
        ["qemu-system-x86_64", "--version"], None)
    out = subprocess.run(argv, env=env, capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "(unknown)"


def record(case):
    """Returns None on success, else an error line."""
    outdir = os.path.join(HERE, case.name)
    qmp_sock = W(case.name + ".qmp")
    qt_sock = W(case.name + ".qtest") if steps_need_qtest(case.steps) else None
    for s in (qmp_sock, qt_sock):
        if s and os.path.exists(s):
            os.unlink(s)
    argv = build_argv(case, qmp_sock, qt_sock)
    errpath = W(case.name + ".stderr")
    helper = None
    helper_argv = None
    if case.swtpm:
        state = W(case.name + ".tpmstate")
        shutil.rmtree(state, ignore_errors=True)
        os.makedirs(state)
        if os.path.exists(swtpm_sock(case.name)):
            os.unlink(swtpm_sock(case.name))
        helper_argv = ["swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + state,
                       "--ctrl", "type=unixio,path=" + swtpm_sock(case.name)]
        helper = subprocess.Popen(helper_argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(swtpm_sock(case.name)):
                break
            time.sleep(0.05)
    run_argv, env = qemu10_run(argv) if QEMU10_DIR else (argv, None)
    if shutil.which(run_argv[0]) is None:
        return "%s: not installed" % run_argv[0]
    with open(errpath, "w") as err:
        try:
            proc = subprocess.Popen(run_argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    env=env)
        except OSError as e:
            if helper is not None:
                helper.kill()
                helper.wait()
            return "cannot start %s: %s" % (run_argv[0], e.strerror)
    notes = []
    dumps = {}
    try:
        try:
            qmp = QMP(qmp_sock, proc)
            qt = QTest(qt_sock, proc) if qt_sock else None
            for st in case.steps:
                res = run_step(qmp, qt, st)
                line = step_text(st)
                if res is not None:
                    line += "  -> rets [%s]" % ", ".join("0x%x" % r for r in res)
                notes.append(line)
            for fname, cmd in DUMPS:
                dumps[fname] = qmp.hmp(cmd)
                if dumps[fname].startswith("mtree: "):
                    raise Failed("%s: %s" % (cmd, dumps[fname].splitlines()[0]))
            dumps[IOMMU_FILE] = iommu_listing(qmp)
        except (Failed, OSError, ValueError) as e:
            time.sleep(0.3)
            if proc.poll() is not None:
                with open(errpath) as f:
                    return first_error(f.read())
            return str(e)
    finally:
        for p in (proc, helper):
            if p is None or p.poll() is not None:
                continue
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if os.path.isdir(outdir):
        shutil.rmtree(outdir)
    os.makedirs(outdir)
    # The scratch directory is shown as $WORK (after quoting, as the 7.2 corpus has it), so the
    # corpus does not depend on where it was made.
    shown = [a for a in argv]
    with open(os.path.join(outdir, "cmdline.txt"), "w") as f:
        f.write(" ".join(shlex.quote(a) for a in shown).replace(WORK, "$WORK") + "\n")
        if QEMU10_DIR:
            f.write("# run as %s from scripts/install-qemu-10.sh's tree: -L DIR/usr/share/qemu "
                    "-L DIR/usr/share/seabios, QEMU_MODULE_DIR=DIR/usr/lib/x86_64-linux-gnu/qemu\n"
                    % qemu_version_line())
        if helper_argv:
            f.write("# started before QEMU: %s\n"
                    % " ".join(shlex.quote(a) for a in helper_argv).replace(WORK, "$WORK"))
        if notes:
            f.write("# then, in this order, before the dumps:\n")
            for n in notes:
                f.write(n + "\n")
    for fname, text in dumps.items():
        with open(os.path.join(outdir, fname), "w", newline="") as f:
            f.write(text)
    return None


# --------------------------------------------------------------------------
# README statistics (simple parsing of the tree dumps)
# --------------------------------------------------------------------------

LINE_RE = re.compile(r"^(?P<ind> *)(?P<start>[0-9a-f]{16})-(?P<end>[0-9a-f]{16}) "
                     r"\(prio (?P<prio>-?\d+), (?P<type>[a-z/-]+)\): (?P<rest>.*)$")


def blocks(text):
    """Split a dump into blank-line separated blocks (lists of lines)."""
    out, cur = [], []
    for l in text.split("\n"):
        if l == "":
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(l)
    if cur:
        out.append(cur)
    return out


def stats(casedir):
    def read(n):
        p = os.path.join(casedir, n)
        if not os.path.exists(p):
            return ""
        with open(p, newline="") as f:
            return f.read().replace("\r\n", "\n")
    tree = read("mtree.txt")
    treeD = read("mtree-D.txt")
    flat = read("mtree-f.txt")
    disp = read("mtree-f-d.txt")
    s = dict(as_=0, groups=0, mrsec=0, regions=0, aliases=0, disabled=0, depth=0,
             hidden=0, fv=0, empty=0, types=set(), pmin=0, pmax=0)
    for b in blocks(treeD):
        if b[0].startswith("memory-region: "):
            s["mrsec"] += 1
            continue
        s["groups"] += 1
        s["as_"] += sum(1 for l in b if l.startswith("address-space: "))
        for l in b:
            m = LINE_RE.match(l)
            if not m:
                continue
            s["regions"] += 1
            s["types"].add(m.group("type"))
            if m.group("rest").startswith("alias "):
                s["aliases"] += 1
            if m.group("rest").endswith(" [disabled]"):
                s["disabled"] += 1
            s["depth"] = max(s["depth"], len(m.group("ind")) // 2)
            p = int(m.group("prio"))
            s["pmin"] = min(s["pmin"], p)
            s["pmax"] = max(s["pmax"], p)
    # lines of `info mtree` (no -D) whose parent is hidden because it is disabled
    for b in blocks(tree):
        prev = None
        for l in b:
            m = LINE_RE.match(l)
            if not m:
                continue
            ind = len(m.group("ind"))
            if prev is not None and ind > prev + 2:
                s["hidden"] += 1
            prev = ind
    s["iommu"] = sum(1 for l in read(IOMMU_FILE).split("\n") if l and not l.startswith("#"))
    for b in blocks(flat):
        if b[0].startswith("FlatView #"):
            s["fv"] += 1
            if any(l == "  No rendered FlatView" for l in b):
                s["empty"] += 1
    s["types"] = sorted(s["types"])
    return s


def write_readme():
    rows = []
    for case in CASES:
        d = os.path.join(HERE, case.name)
        if not os.path.isdir(d):
            continue
        s = stats(d)
        rows.append(
            "| `%s` | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d/%d | %d..%d | %s |"
            % (case.name, case.what, s["as_"], s["groups"], s["regions"], s["aliases"],
               s["disabled"], s["iommu"], s["depth"], s["mrsec"], s["fv"], s["empty"],
               s["pmin"], s["pmax"], " ".join(s["types"])))
    failed = []
    fp = os.path.join(HERE, "FAILED.txt")
    if os.path.exists(fp):
        failed = [l.rstrip("\n") for l in open(fp) if l.strip() and not l[0].isspace()]
    with open(os.path.join(HERE, "README.md"), "w") as f:
        f.write(README_HEAD_10 % qemu_version_line() if QEMU10_DIR else README_HEAD)
        f.write("\n## Cases (%d)\n\n" % len(rows))
        f.write("| case | what it exercises | AS | AS groups | regions | aliases | "
                "disabled | IOMMU | depth | alias-target sections | flat views/empty | "
                "prio | types |\n")
        f.write("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        f.write("\n".join(rows) + "\n")
        f.write("\nFailed cases: %s.\n" % ("none" if not failed else
                                            "%d, listed in `FAILED.txt`" % len(failed)))


README_HEAD = """# QEMU 7.2 `info mtree` corpus

Ground truth recorded from Debian 12's QEMU 7.2 (`1:7.2+dfsg-7+deb12u18`; accelerator TCG,
or KVM where the command line says `-accel kvm`, or QEMU's qtest accelerator, under which
no guest CPU runs, where it has `-qtest`) by `record.py`: `python3 record.py` regenerates every case,
`python3 record.py NAME...` some (fnmatch patterns allowed), `python3 record.py --readme`
only this file. The format itself is described in `../../research/mtree-format.md`.

Each case directory holds:

- `cmdline.txt`: line 1 is the exact argv that was run (the `-qmp`/`-qtest` unix sockets
  are how `record.py` drives QEMU). Later lines, after `# then, in this order, before the
  dumps:`, list what was done to the paused machine before dumping: QMP commands, PCI
  config-space writes through the qtest protocol (`0xcf8/0xcfc` port I/O on x86, ECAM MMIO
  on arm, RTAS `ibm,write-pci-config` on pseries), sPAPR RTAS calls made through qtest's
  `rtas` command with the words they returned (`ibm,create-pe-dma-window` returns status,
  LIOBN, window start high, low), a qtest memory write, or `qmp cont; sleep N; qmp stop`
  (firmware allowed to run: those cases are timing dependent). A `# started before QEMU:`
  line names a helper process (swtpm).
- `mtree.txt` = `info mtree`, `mtree-f.txt` = `info mtree -f`, `mtree-D.txt` =
  `info mtree -D`, `mtree-o.txt` = `info mtree -o`, `mtree-f-o.txt` = `info mtree -f -o`,
  `mtree-f-d.txt` = `info mtree -f -d`, `mtree-o-D.txt` = `info mtree -o -D` (HMP accepts
  the flags only in the order `-f -d -o -D`; `-D -o` is rejected).
- `iommu-regions.txt` (made by `record.py`, not a QEMU dump): the `info mtree` text prints
  IOMMU regions as plain `i/o`, so the IOMMU memory regions are listed here from a walk of
  the QOM tree over QMP (`qom-list`, `qom-get`). One tab-separated line per region: name,
  QOM type, size, container (QOM path of the region it is a subregion of, `-` if none:
  either not mapped, or used directly as an address space's root), QOM path. QOM reports
  a size of 2^64 as 0xffffffffffffffff.

The dumps are the decoded `human-monitor-command` return strings, unedited, so **lines end
in `\\r\\n`**: QEMU's HMP layer puts `\\r` before every `\\n`. Strip the `\\r` before parsing.

**Block order is not meaningful.** `info mtree` prints its `address-space:` groups, and
`info mtree -f` its `FlatView #N` blocks, by iterating hash tables keyed by pointers, so
the order (and the FlatView numbers) change from run to run of the same command line. The
`memory-region:` sections follow the order in which the groups happened to be printed.
Compare blocks as sets (drop the `#N`), or see the format notes for how to derive the
`memory-region:` order from a given group order. Everything inside a block is deterministic.

Columns, computed by `record.py` from the dumps: AS = `address-space:` lines; AS groups =
address-space blocks (address spaces with the same root region share one); regions,
aliases, disabled = region lines inside the address-space blocks of `mtree-D.txt`
(`memory-region:` sections not counted); IOMMU = IOMMU regions listed in
`iommu-regions.txt`; depth = deepest nesting in `mtree-D.txt`, an address space's root
being 1; alias-target sections = `memory-region:` blocks in `mtree-D.txt`; flat
views/empty = `FlatView` blocks and those showing `No rendered FlatView`; prio = lowest and
highest priority in `mtree-D.txt`; types = type words seen in `mtree-D.txt`.
"""


README_HEAD_10 = """# QEMU 10.0 `info mtree` corpus

The same command lines and steps as `../data/` (QEMU 7.2), recorded from Debian
bookworm-backports' QEMU 10.0 (`%s`) by `python3 ../record.py --qemu-10`, with the binaries
that `scripts/install-qemu-10.sh` unpacks (run with that build's `-L` firmware directories and
`QEMU_MODULE_DIR`; qtest cases also get `-qtest-log none`). Line 2 of each `cmdline.txt` says so.
Files, conventions (`\\r\\n` line ends, block order not meaningful) and columns are those of
`../data/README.md`. Command lines QEMU 10.0 refuses are listed in `FAILED.txt` with its message.
Three of those depend on the recording machine rather than on QEMU 10.0 alone: it had no
`/dev/kvm` (`x86_64-q35-kvm`) and no working audio back end; 7.2 starts the boards with
built-in audio there anyway, 10.0 stops with "no default audio driver available"
(`arm-versatilepb`, `mips64el-fuloong2e`; `-audio none` would start them).
"""


def ensure_files():
    os.makedirs(WORK, exist_ok=True)
    for name, size in FILES.items():
        p = W(name)
        if not os.path.exists(p) or os.path.getsize(p) != size:
            with open(p, "wb") as f:
                f.truncate(size)
    with open(W("e500-bios.elf"), "wb") as f:
        f.write(tiny_ppc_elf())


def main():
    global HERE, QEMU10_DIR
    args = sys.argv[1:]
    if args[:1] == ["--qemu-10"]:
        args = args[1:]
        QEMU10_DIR = os.environ.get("IOVA_QEMU10_DIR") or os.path.expanduser("~/.cache/iova/qemu-10.0")
        if not os.path.exists(os.path.join(QEMU10_DIR, "usr/bin/qemu-system-x86_64")):
            print("record.py: no QEMU 10.0 in %s (run scripts/install-qemu-10.sh)" % QEMU10_DIR,
                  file=sys.stderr)
            return 69
        HERE = os.path.join(TOOL_DIR, "data-10.0")
    os.makedirs(HERE, exist_ok=True)
    if args == ["--list"]:
        for c in CASES:
            print(c.name)
        return 0
    if args == ["--readme"]:
        write_readme()
        return 0
    ensure_files()
    sel = CASES
    if args:
        sel = [c for c in CASES if any(fnmatch.fnmatch(c.name, a) for a in args)]
    fp = os.path.join(HERE, "FAILED.txt")
    failed = {}
    if os.path.exists(fp):
        for l in open(fp):
            if ": " in l and not l[0].isspace():
                n, e = l.rstrip("\n").split(": ", 1)
                failed[n] = e
    known = {c.name for c in CASES}
    failed = {k: v for k, v in failed.items() if k in known}
    if not args:
        # drop directories of cases that are no longer in the table
        for d in sorted(os.listdir(HERE)):
            if d not in known and os.path.exists(os.path.join(HERE, d, "cmdline.txt")):
                shutil.rmtree(os.path.join(HERE, d))
    for case in sel:
        t0 = time.time()
        err = record(case)
        if err:
            failed[case.name] = err
            d = os.path.join(HERE, case.name)
            if os.path.isdir(d):
                shutil.rmtree(d)
            print("FAIL %-45s %s" % (case.name, err), flush=True)
        else:
            failed.pop(case.name, None)
            print("ok   %-45s %.1fs" % (case.name, time.time() - t0), flush=True)
    with open(fp, "w") as f:
        for c in CASES:
            if c.name in failed:
                f.write("%s: %s\n" % (c.name, failed[c.name].replace(WORK, "$WORK")))
                f.write("    %s\n" % " ".join(shlex.quote(a) for a in [c.binary] + COMMON + c.args)
                        .replace(WORK, "$WORK"))
    write_readme()
    return 0


if __name__ == "__main__":
    sys.exit(main())
