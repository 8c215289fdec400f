#!/bin/sh
# Builds a tiny Linux pseries guest for the real-guest tests: Debian's ppc64el kernel (the one the
# linux-image-powerpc64le meta-package names) and busybox-static, unpacked (never installed) into a
# small initramfs that loads the xhci, virtio-net and NVMe drivers and prints INIT READY.
#
# The result is cached outside the repository, in $IOVA_GUEST_CACHE (default ~/.cache/iova/guest),
# one folder per kernel package version; the script prints that folder (vmlinux, initrd.gz) and
# does nothing more when it is already built. Needs apt with the ppc64el architecture (added here
# when run as root), dpkg-deb, depmod (kmod) and cpio.
set -eu
CACHE=${IOVA_GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iova/guest}
META=linux-image-powerpc64le:ppc64el

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/sbin/$1" ]; }
if ! dpkg --print-foreign-architectures | grep -qx ppc64el; then
  [ "$(id -u)" = 0 ] || { echo "build-guest: run 'dpkg --add-architecture ppc64el && apt-get update' as root first" >&2; exit 1; }
  dpkg --add-architecture ppc64el
  apt-get update -q >&2
fi
if ! need depmod || ! need cpio; then
  [ "$(id -u)" = 0 ] || { echo "build-guest: install kmod and cpio first" >&2; exit 1; }
  apt-get install -y -q kmod cpio >&2
fi
# The kernel package the meta-package depends on now (for example linux-image-6.1.0-37-powerpc64le).
KPKG=$(apt-cache depends "$META" 2>/dev/null | awk '/Depends:/{print $2; exit}' | sed 's/:ppc64el$//')
if [ -z "$KPKG" ]; then
  apt-get update -q >&2
  KPKG=$(apt-cache depends "$META" | awk '/Depends:/{print $2; exit}' | sed 's/:ppc64el$//')
fi
KVER=$(apt-cache policy "$KPKG:ppc64el" | awk '/Candidate:/{print $2}')
OUT="$CACHE/$KPKG-$KVER"
if [ -s "$OUT/vmlinux" ] && [ -s "$OUT/initrd.gz" ]; then echo "$OUT"; exit 0; fi

WORK="$OUT.tmp.$$"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/debs" "$WORK/root"
(cd "$WORK/debs" && apt-get download -q "$KPKG:ppc64el" busybox-static:ppc64el >&2)
for d in "$WORK"/debs/*.deb; do dpkg-deb -x "$d" "$WORK/root"; done
K=$(ls "$WORK/root/lib/modules")
PATH="$PATH:/sbin:/usr/sbin" depmod -b "$WORK/root" "$K"

# The drivers to load, with what they depend on (from modules.dep), in load order.
TARGETS="xhci-pci virtio_pci virtio_net nvme"
DEP="$WORK/root/lib/modules/$K/modules.dep"
S="$WORK/initramfs"
mkdir -p "$S/bin" "$S/proc" "$S/sys" "$S/dev" "$S/etc" "$S/lib/modules/$K"
cp "$WORK/root/bin/busybox" "$S/bin/busybox"
ln -s busybox "$S/bin/sh"
# Each module path after its dependencies: modules.dep lists a module's dependencies after it,
# the deepest last, so a module's line read backwards is a load order.
awk -v targets="$TARGETS" '
  { m = $1; sub(/:$/, "", m); line[m] = $0; n = split(m, parts, "/"); base = parts[n]; sub(/\.ko.*$/, "", base); gsub(/-/, "_", base); path[base] = m }
  function add(m,   f, i, k) {
    if (m in seen) return; seen[m] = 1
    k = split(line[m], f, " ")
    for (i = k; i >= 2; i--) add(f[i])
    print m
  }
  END { n = split(targets, t, " "); for (i = 1; i <= n; i++) { b = t[i]; gsub(/-/, "_", b); if (b in path) add(path[b]) } }
' "$DEP" > "$S/etc/modlist"
for m in $(cat "$S/etc/modlist"); do
  mkdir -p "$S/lib/modules/$K/$(dirname "$m")"
  cp "$WORK/root/lib/modules/$K/$m" "$S/lib/modules/$K/$m"
done
cat > "$S/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
echo "=== INIT START $(uname -r) ==="
for m in $(cat /etc/modlist); do
  insmod "/lib/modules/$(uname -r)/$m" || echo "insmod $m FAILED"
done
# Let the drivers probe (the 64-bit DMA window is created when the first 64-bit driver binds).
sleep 3
for d in /sys/bus/pci/devices/*; do
  [ -e "$d" ] || continue
  drv=-; [ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
  echo "pci $(basename "$d") driver=$drv dma_mask_bits=$(cat "$d/dma_mask_bits" 2>/dev/null)"
done
dmesg | grep -i -E 'ddw|dma window|iommu' | tail -20
if [ -b /dev/nvme0n1 ]; then dd if=/dev/nvme0n1 of=/dev/null bs=64k count=16 2>&1; fi
echo "=== INIT READY ==="
while true; do sleep 3600; done
INIT
chmod +x "$S/init"
# /dev/console for the kernel to open before init mounts devtmpfs (init reopens it anyway).
mknod -m 600 "$S/dev/console" c 5 1 2>/dev/null || true
(cd "$S" && find . | cpio -o -H newc 2>/dev/null) > "$WORK/initrd"
gzip -9 < "$WORK/initrd" > "$WORK/initrd.gz"
cp "$WORK/root/boot/vmlinux-$K" "$WORK/vmlinux"
mkdir -p "$OUT"
mv "$WORK/vmlinux" "$WORK/initrd.gz" "$OUT/"
echo "$OUT"
