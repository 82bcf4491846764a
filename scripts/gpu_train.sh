#!/usr/bin/env bash
# Train one or more configs at once on a lent GPU machine (the session's `device` tool), where
# $OUT is what comes back. The configs' packed samples (posevid train CONFIG --pack DIR) travel
# with the tree:
#   device run, carry [work-data/pack]:
#     bash scripts/gpu_train.sh configs/h128-gpu.yaml configs/paper-gpu.yaml
# It uses the machine's own python3 (torch, OpenCV, NumPy, click, tqdm, PyYAML are there; PyAV is
# not, and packed training needs none). The runs share the GPU and split the cores between their
# batch workers; each ends inside its `minutes` (a probe sizes its schedule) and is sent SIGTERM
# 75 s after that, which saves its checkpoint and exports its weights all the same. With minutes
# 7.5 everything is back inside 9.5 minutes: run the device call with timeout_s 590. A run that
# dies in its first two minutes (worker processes short of shared memory, say) runs again with
# the loop making its own batches. Then every run's weights, curves and log go into one archive,
# returned in pieces under the 16 MB a returned file may have:
#   cat gpu-runs.tar.part-* | tar -x      (here, in the repository root, afterwards)
set -uo pipefail
back=${OUT:-runs/gpu-back}
mkdir -p "$back"
export PYTHONUNBUFFERED=1
field() {  # a config's resolved setting (defaults and `extends:` applied, as `posevid train` reads it)
    python3 -c "import sys; from posevid.config import section; print(section('train', sys.argv[1])[sys.argv[2]])" "$1" "$2"
}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, cv2, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cv2', cv2.__version__)"
workers=$(( ($(nproc) - 2 * $#) / $# ))
[ "$workers" -lt 1 ] && workers=1

one_run() {  # config -> trains it, retrying once without workers if it fails fast
    local config=$1 name out minutes start spent rc left
    name=$(basename "$config" .yaml)
    out=$(field "$config" out)
    minutes=$(field "$config" minutes)
    start=$(date +%s)
    timeout -s TERM "$(python3 -c "print(int($minutes * 60 + 75))")" \
        python3 -m posevid.cli train "$config" -q --workers "$workers" > "$back/$name.log" 2>&1
    rc=$?
    spent=$(( $(date +%s) - start ))
    if [ "$rc" -ne 0 ] && [ "$spent" -lt 120 ]; then
        left=$(python3 -c "print(max(0.5, $minutes - $spent / 60))")
        echo "gpu_train: $name failed after ${spent}s (exit $rc); again without workers for $left minutes" >> "$back/$name.log"
        rm -rf "$out"
        timeout -s TERM "$(python3 -c "print(int($left * 60 + 75))")" \
            python3 -m posevid.cli train "$config" -q --workers 0 --minutes "$left" >> "$back/$name.log" 2>&1
        rc=$?
    fi
    cp "$back/$name.log" "$out/train.log" 2>/dev/null
    echo "gpu_train: $name exit $rc after $(( $(date +%s) - start ))s"
    return "$rc"
}

pids=()
for config in "$@"; do
    one_run "$config" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
tail -n 3 "$back"/*.log
outs=()
for config in "$@"; do
    out=$(field "$config" out)
    rm -f "$out/checkpoint.pt"   # hundreds of MB with the optimizer state; the weights are exported
    [ -d "$out" ] && outs+=("$out")
done
tar -cf - "${outs[@]}" | split -b 15000000 -d - "$back/gpu-runs.tar.part-"
ls -la "$back"
exit "$status"
