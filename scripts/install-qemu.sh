#!/usr/bin/env bash
# Installs Debian's QEMU 7.2 for the live tests (iova qemu / attach against pseries, q35, arm virt).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq qemu-system-ppc qemu-system-x86 qemu-system-arm
