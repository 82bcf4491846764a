#!/usr/bin/env bash
# Set up and run the main job: annotate one video (default: the shipped clip examples/signer.mp4) into out/.
set -euo pipefail
VIDEO=${1:+$(realpath -m "$1")}  # a path given from any folder, before moving to the repository
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/posevid annotate "${VIDEO:-examples/signer.mp4}" -o out/ --overwrite
