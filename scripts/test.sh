#!/usr/bin/env bash
# Set up (with the test, teacher and cluster extras) and run the whole test suite and the linter.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev,teacher,cluster bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
