#!/usr/bin/env bash
# Installs QEMU 10.0 (Debian bookworm-backports' build) beside the host's QEMU 7.2, without
# touching the host's apt sources or dpkg database: the .deb files are fetched with a private apt
# state and unpacked with `dpkg -x` into a cache directory, kept between runs.
#
# Usage: scripts/install-qemu-10.sh [--print-env]
#   IOVA_QEMU10_DIR  where to unpack (default: ${XDG_CACHE_HOME:-~/.cache}/iova/qemu-10.0)
# Prints the directory on success; scripts/qemu-10.sh runs a binary from it with the right
# firmware paths and module directory. Idempotent: once DIR/.complete matches the package list
# nothing is downloaded again.
set -euo pipefail

SUITE_LINE="deb http://deb.debian.org/debian bookworm-backports main"
# The system emulators iova's tests and conformance corpus use (misc, riscv, mips, s390x: the
# corpus's other architectures), and what they load at run time (firmware, keymaps, the display
# modules: without qemu-system-modules-opengl QEMU 10 finds 7.2's module and refuses it;
# qemu-system-x86 10.0 needs SeaBIOS newer than bookworm's).
PACKAGES=(qemu-system-x86 qemu-system-ppc qemu-system-arm qemu-system-common qemu-system-data
  qemu-system-modules-opengl seabios qemu-system-misc qemu-system-riscv qemu-system-mips
  qemu-system-s390x)
# Only backports builds are wanted; the host's installed 7.2 must not satisfy the download.
VERSION_PATTERN='~bpo12\+'

DIR="${IOVA_QEMU10_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/iova/qemu-10.0}"
APT="$DIR.apt"
STAMP="$DIR/.complete"
WANT="${PACKAGES[*]}"

if [[ -f "$STAMP" && "$(head -n1 "$STAMP")" == "$WANT" && -x "$DIR/usr/bin/qemu-system-x86_64" ]]; then
  echo "$DIR"
  exit 0
fi

mkdir -p "$APT/state/lists/partial" "$APT/cache/archives/partial" "$APT/debs"
echo "$SUITE_LINE" >"$APT/sources.list"
apt_private=(-o "Dir::State=$APT/state" -o "Dir::Cache=$APT/cache"
  -o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")

apt-get "${apt_private[@]}" -qq update >&2

for pkg in "${PACKAGES[@]}"; do
  version="$(apt-cache "${apt_private[@]}" show "$pkg" 2>/dev/null |
    sed -n 's/^Version: //p' | grep -E "$VERSION_PATTERN" | sort -V | tail -n1 || true)"
  if [[ -z "$version" ]]; then
    echo "install-qemu-10: bookworm-backports offers no $pkg version matching $VERSION_PATTERN" >&2
    exit 1
  fi
  (cd "$APT/debs" && apt-get "${apt_private[@]}" -qq download "$pkg=$version" >&2)
done

# Unpack into a fresh directory and swap it in, so an interrupted run never leaves a half tree.
rm -rf "$DIR.new"
mkdir -p "$DIR.new"
for deb in "$APT"/debs/*.deb; do
  dpkg -x "$deb" "$DIR.new"
done
# The paths the binaries are run with, for scripts and humans.
cat >"$DIR.new/qemu-10.env" <<EOF
# Run QEMU 10.0 from this directory (scripts/qemu-10.sh does this):
#   QEMU_MODULE_DIR=$DIR/usr/lib/x86_64-linux-gnu/qemu \\
#   $DIR/usr/bin/qemu-system-x86_64 -L $DIR/usr/share/qemu -L $DIR/usr/share/seabios ...
# qtest (-qtest ...) also needs -qtest-log none.
QEMU10_DIR=$DIR
QEMU_MODULE_DIR=$DIR/usr/lib/x86_64-linux-gnu/qemu
EOF
{
  echo "$WANT"
  for deb in "$APT"/debs/*.deb; do basename "$deb"; done
} >"$DIR.new/.complete"
rm -rf "$DIR"
mv "$DIR.new" "$DIR"
rm -rf "$APT/debs"

if ! "$(dirname "$0")/qemu-10.sh" qemu-system-x86_64 --version >&2; then
  echo "install-qemu-10: unpacked into $DIR, but qemu-system-x86_64 does not run" >&2
  exit 1
fi
echo "$DIR"
