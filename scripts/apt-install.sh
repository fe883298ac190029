#!/usr/bin/env bash
# Install Debian packages with apt-get, as root or through sudo (shared by scripts/install-*.sh).
#
#   scripts/apt-install.sh PACKAGE...
set -euo pipefail
SUDO=""
if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "apt-install: $* missing and not root (no sudo)" >&2
        exit 2
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "$@"
