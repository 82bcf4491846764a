#!/usr/bin/env bash
# Set up (with the test and teacher extras) and run the whole test suite and the linter.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev,teacher bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
