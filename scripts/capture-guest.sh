#!/bin/sh
# Boots the guest that build-guest.sh made under qemu-system-ppc64 (pseries, TCG) with QEMU's
# sPAPR IOMMU and VFIO trace events on, waits for the guest's INIT READY, dumps `info mtree` and
# `info mtree -f` over QMP, and quits QEMU.
# usage: capture-guest.sh OUTDIR MEM [extra QEMU arguments...]
#   env KAPPEND: extra kernel command line words (for example disable_ddw)
#   env IOVA_QEMU=10.0: boot under QEMU 10.0 from install-qemu-10.sh's tree (via qemu-10.sh);
#     cmdline.txt still names qemu-system-ppc64 (replay it with `iova trace --qemu 10.0`)
# Writes OUTDIR/cmdline.txt (the QEMU command line as shell text), trace.log, console.log,
# mtree.txt and mtree-f.txt. Needs python3 for the QMP exchange.
set -eu
OUT=$1; MEM=$2; shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
GUEST=$(sh "$HERE/build-guest.sh")
mkdir -p "$OUT"; rm -f "$OUT/console.log" "$OUT/trace.log" "$OUT/qmp.sock"
set -- qemu-system-ppc64 -M pseries -accel tcg -smp 1 -m "$MEM" -nodefaults -nographic \
  -kernel "$GUEST/vmlinux" -initrd "$GUEST/initrd.gz" \
  -append "console=hvc0 quiet ${KAPPEND:-}" \
  -serial "file:$OUT/console.log" -qmp "unix:$OUT/qmp.sock,server=on,wait=off" \
  -trace 'spapr_iommu_*' -trace 'vfio_*' -D "$OUT/trace.log" "$@"
# The command line as shell text, one option a line (what `iova trace --machine` reads).
for a in "$@"; do
  case $a in
    -*) printf ' \\\n  %s' "$a" ;;
    *[!A-Za-z0-9_.,:/=@%+-]*|'') printf " '%s'" "$(printf '%s' "$a" | sed "s/'/'\\\\''/g")" ;;
    *) printf ' %s' "$a" ;;
  esac
done | sed '1s/^ //' > "$OUT/cmdline.txt"
echo >> "$OUT/cmdline.txt"
case ${IOVA_QEMU:-7.2} in
  7.2) ;;
  10.0) set -- "$HERE/qemu-10.sh" "$@" ;;
  *) echo "capture-guest: IOVA_QEMU is 7.2 or 10.0, not '$IOVA_QEMU'" >&2; exit 64 ;;
esac
"$@" > "$OUT/qemu-stderr.txt" 2>&1 &
QPID=$!
i=0
until grep -q 'INIT READY' "$OUT/console.log" 2>/dev/null; do
  sleep 1; i=$((i + 1))
  if [ $i -gt 300 ] || ! kill -0 $QPID 2>/dev/null; then echo "capture-guest: no INIT READY" >&2; kill $QPID 2>/dev/null; exit 1; fi
done
python3 - "$OUT" <<'PY'
import json, socket, sys
out = sys.argv[1]
s = socket.socket(socket.AF_UNIX); s.connect(out + "/qmp.sock"); f = s.makefile("rw")
def call(cmd):
    f.write(json.dumps(cmd) + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "event" not in m: return m
json.loads(f.readline()); call({"execute": "qmp_capabilities"})
for name, line in (("mtree.txt", "info mtree"), ("mtree-f.txt", "info mtree -f")):
    r = call({"execute": "human-monitor-command", "arguments": {"command-line": line}})
    open(out + "/" + name, "w").write(r["return"])
call({"execute": "quit"})
PY
wait $QPID || true
