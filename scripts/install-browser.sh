#!/usr/bin/env bash
# Install what the browser tests (tests/harness/browser.py) need. Idempotent.
#
#   scripts/install-browser.sh [VENV]      # VENV defaults to .venv
#
# * Debian's `chromium` (+ fonts) via apt-get, only if /usr/bin/chromium is missing.
#   Needs root (or sudo). Playwright is pointed at /usr/bin/chromium by the harness;
#   `playwright install` is never run (it downloads browsers from the internet).
# * Python packages `jupyterlab` (4.x), `notebook` (7.x) and `playwright` into VENV, only if
#   missing.
set -euo pipefail

VENV="${1:-.venv}"
PY="$VENV/bin/python"
CHROMIUM=/usr/bin/chromium

if [[ ! -x "$PY" ]]; then
    echo "install-browser: no Python interpreter at $PY (pass the venv as \$1)" >&2
    exit 2
fi

if [[ ! -x "$CHROMIUM" ]]; then
    echo "install-browser: installing chromium with apt-get"
    # fonts-liberation/fonts-dejavu-core: readable text in screenshots.
    bash "$(dirname "$0")/apt-install.sh" chromium fonts-liberation fonts-dejavu-core ca-certificates
else
    echo "install-browser: $CHROMIUM present ($("$CHROMIUM" --version 2>/dev/null || echo '?'))"
fi

need=()
"$PY" - <<'EOF' || need+=("jupyterlab>=4.2,<5")
import importlib.metadata as m, sys
v = m.version("jupyterlab")
sys.exit(0 if v.split(".")[0] == "4" else 1)
EOF
"$PY" - <<'EOF' || need+=("notebook>=7,<8")
import importlib.metadata as m, sys
v = m.version("notebook")
sys.exit(0 if v.split(".")[0] == "7" else 1)
EOF
"$PY" -c 'import playwright.sync_api' 2>/dev/null || need+=("playwright>=1.45")

if ((${#need[@]})); then
    echo "install-browser: pip installing ${need[*]} into $VENV"
    "$PY" -m pip install -q "${need[@]}"
else
    echo "install-browser: jupyterlab, notebook and playwright already in $VENV"
fi

"$PY" - <<'EOF'
import importlib.metadata as m
for name in ("jupyterlab", "notebook", "playwright"):
    print(f"install-browser: {name} {m.version(name)}")
EOF
