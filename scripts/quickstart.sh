#!/usr/bin/env bash
# Set up and run the main job: annotate one video (default: a clip from ../shared/data) into out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VIDEO=${1:-../shared/data/pose2sim-demo/single-person/cam02.mp4}
if [ ! -f "$VIDEO" ]; then
  echo "quickstart: $VIDEO not found; give a video: bash scripts/quickstart.sh my_video.mp4" >&2
  exit 3
fi
.venv/bin/posevid annotate "$VIDEO" -o out/ --overwrite
