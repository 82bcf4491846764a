#!/usr/bin/env bash
# Train one config on a lent GPU machine (the session's `device` tool), where $OUT is what comes
# back. The config's packed samples (posevid train CONFIG --pack DIR) travel with the tree:
#   device run, carry [work-data/pack-h128]:  bash scripts/gpu_train.sh configs/h128-gpu.yaml
# It uses the machine's own python3 (torch, OpenCV, NumPy, click, tqdm, PyYAML are there; PyAV is
# not, and packed training needs none). If the run dies in its first two minutes (worker processes
# short of shared memory, say) it runs again with the loop making its own batches. Then it copies
# the curves and the weight file into $OUT, the weight file in pieces under the 16 MB a returned
# file may have: `cat model.pt.part-* > model.pt` puts it together here.
set -uo pipefail
config=$1
back=${OUT:-runs/gpu-back}
mkdir -p "$back"
export PYTHONUNBUFFERED=1
out_dir=$(python3 -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['train']['out'])" "$config")
minutes=$(python3 -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['train']['minutes'])" "$config")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, cv2, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cv2', cv2.__version__)"
start=$(date +%s)
python3 -m posevid.cli train "$config" -q 2>&1 | tee "$back/train.log"
rc=${PIPESTATUS[0]}
spent=$(( $(date +%s) - start ))
if [ "$rc" -ne 0 ] && [ "$spent" -lt 120 ]; then
    left=$(python3 -c "print(max(0.5, $minutes - $spent / 60))")
    echo "gpu_train: the run failed after ${spent}s; again with --workers 0 for $left minutes" | tee -a "$back/train.log"
    rm -rf "$out_dir"
    python3 -m posevid.cli train "$config" -q --workers 0 --minutes "$left" 2>&1 | tee -a "$back/train.log"
    rc=${PIPESTATUS[0]}
fi
for f in loss.csv validation.csv curves.png; do
    [ -f "$out_dir/$f" ] && cp "$out_dir/$f" "$back/"
done
[ -f "$out_dir/model.pt" ] && split -b 15000000 -d "$out_dir/model.pt" "$back/model.pt.part-"
ls -la "$back"
exit "$rc"
