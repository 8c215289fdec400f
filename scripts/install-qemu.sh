#!/usr/bin/env bash
# Installs Debian's QEMU for the live tests (iova qemu / attach against a real QEMU 7.2).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq qemu-system-ppc
