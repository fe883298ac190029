#!/usr/bin/env bash
# The main job, offline: runs notebooks/quickstart.ipynb in a real kernel against a loopback
# model server and prints exactly what telemetry recorded (nothing is sent).
#
#   bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x .venv/bin/python ]]; then
    "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install -q -e ".[notebook]" 2>&1 | grep -v "^WARNING: Location" || true
exec .venv/bin/python scripts/quickstart.py "$@"
