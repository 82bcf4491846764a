#!/usr/bin/env bash
# Create .venv and install posevid into it (idempotent). EXTRAS=dev,teacher for the tests.
# torch: a CPU build is taken where pip can find one pinned locally (torch==2.13.0);
# users with a GPU install their CUDA torch first and this script keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q "torch==2.13.0" 2>/dev/null || .venv/bin/python -m pip install -q torch
fi
.venv/bin/python -m pip install -q -e ".[${EXTRAS:-eval}]"
