#!/usr/bin/env bash
# Installs Debian's chromium, which the browser tests drive with playwright-core (playwright's own
# browser download is not used). Needs root, as on the CI and development machines.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium
