#!/usr/bin/env bash
# Regenerate docs/performance.md: run every benchmark (about 35 minutes on 2 cores) and gather
# their tables. Run on a quiet machine; speed figures are ratios within one run.
# --assemble-only rebuilds the page from benchmarks/results/*.md without running anything.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-../.venv/bin/python}
if [ "${1:-}" != "--assemble-only" ]; then
  $PY throughput.py
  $PY throughput.py --presets q128,h128 --flows dis --windows 15 --out results/throughput-presets.md
  $PY network.py
  $PY precision.py
  if $PY -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    $PY gpu.py
  else
    echo "(gpu.py skipped: no CUDA device here; results/gpu.md keeps the last GPU run)"
  fi
  $PY flow_presets.py
  $PY versus_mediapipe.py || echo "(versus_mediapipe skipped: needs the teacher extra)"
  $PY memory.py --size 160x90
  $PY roi_accuracy.py
  $PY cuts.py
  $PY unseen.py || echo "(unseen.py skipped: needs work-data/mmpose, see docs/training.md)"
fi
{
  echo "# Performance"
  echo
  echo "Regenerate with \`bash benchmarks/run_all.sh\` (writes benchmarks/results/*.md and this file)."
  echo "Figures are measured, on the machine named in each section; speed is also given as a ratio"
  echo "to a baseline run in the same process. The gpu section comes from benchmarks/gpu.py on a CUDA"
  echo "machine; where there is none, run_all.sh keeps its last result. The commentary comes from"
  echo "benchmarks/notes.md; every file of benchmarks/results/ follows, none left out."
  echo
  cat notes.md
  # the standing sections first, in this order; then every other result file (runs with other
  # options or on another machine), by name
  order="throughput-h128 throughput-avx2 throughput-q128 throughput-people throughput network precision
         flow_presets versus_mediapipe memory gpu roi_accuracy cuts detector accuracy unseen"
  others=$(ls results/*.md | xargs -n1 basename | sed 's/\.md$//' | grep -vxF -f <(echo $order | tr ' ' '\n') || true)
  for part in $order $others; do
    [ -f "results/$part.md" ] || continue
    echo
    echo "## $part"
    echo
    sed "s/^\(#\+\) /\1## /" "results/$part.md"  # its own headings go below this one
  done
} > ../docs/performance.md
echo "wrote docs/performance.md"
