#!/usr/bin/env bash
# Run every test, on a fresh machine too: makes .venv, installs the package with its test extras,
# installs Debian's Chromium for the browser test, tinyproxy for the network tests and strace for
# a syscall count, then lints, type-checks and runs pytest.
#
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x .venv/bin/python ]]; then
    "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import devscode_nb, pytest, nbclient, playwright" # the install worked
bash scripts/install-browser.sh .venv
bash scripts/install-proxy.sh
command -v strace >/dev/null || bash scripts/apt-install.sh strace  # test_vscode_settings.py

.venv/bin/ruff check devscode_nb tests benchmarks scripts
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
