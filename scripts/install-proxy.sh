#!/usr/bin/env bash
# Install the forward proxy the network tests (tests/test_network.py) start on 127.0.0.1:
# Debian's `tinyproxy-bin` — the executable only, with no service that would start by itself.
# Idempotent; needs root (or sudo) only when it is missing.
set -euo pipefail

if command -v tinyproxy >/dev/null 2>&1; then
    echo "install-proxy: $(tinyproxy -v 2>&1 | head -1) present"
    exit 0
fi
echo "install-proxy: installing tinyproxy-bin with apt-get"
bash "$(dirname "$0")/apt-install.sh" tinyproxy-bin
echo "install-proxy: $(tinyproxy -v 2>&1 | head -1)"
