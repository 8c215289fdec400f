#!/usr/bin/env bash
# Runs a QEMU 10.0 binary unpacked by scripts/install-qemu-10.sh, with its own firmware directories
# and module directory (so it never loads the host 7.2's files).
# Usage: scripts/qemu-10.sh qemu-system-ppc64 ARGS...
set -euo pipefail
DIR="${IOVA_QEMU10_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/iova/qemu-10.0}"
if [[ $# -lt 1 ]]; then
  echo "usage: $0 qemu-system-NAME [ARGS...]" >&2
  exit 64
fi
binary="$1"
shift
if [[ "$binary" == */* || ! -x "$DIR/usr/bin/$binary" ]]; then
  echo "qemu-10.sh: no $binary in $DIR/usr/bin (run scripts/install-qemu-10.sh)" >&2
  exit 69
fi
export QEMU_MODULE_DIR="$DIR/usr/lib/x86_64-linux-gnu/qemu"
exec "$DIR/usr/bin/$binary" -L "$DIR/usr/share/qemu" -L "$DIR/usr/share/seabios" "$@"
