#!/usr/bin/env bash
# Device check (not a test; needs an NVIDIA GPU): the CUDA / AMP / channels-last paths for real.
#
#   bash scripts/perf/gpu_check.sh [OUTDIR]
#
# Runs from the repository root without installing the package (PYTHONPATH=.), so it works on a
# machine whose torch differs from ours. Wheels of packages missing there (pycocotools,
# platformdirs) may be put in .whl/ first. Every part runs even if an earlier one fails; each
# part's log goes to OUTDIR (default: a temporary folder) and a summary is printed last.
set -u
OUT_DIR="${1:-${OUT:-$(mktemp -d)}}"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 RNXSTUDIO_NO_DOWNLOAD=1 RNXSTUDIO_HOME="$(mktemp -d)"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="$PWD:/tmp/site"
else
  export PYTHONPATH="$PWD"
fi
declare -a SUMMARY=()
part() {  # part NAME TIMEOUT_S COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "===== $name: $*"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$OUT_DIR/$name.log"
  local rc=${PIPESTATUS[0]}
  SUMMARY+=("$name rc=$rc $((SECONDS - t0))s")
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name(0))"

# inference: X50-FPN at 800 px, raw torchvision vs our path, fp32 then fp16 autocast
part infer_fp32 90 python3 -m rnxstudio bench infer -- --model resnext50_32x4d_fpn --size 800 --device cuda --n 20 --warmup 3 --amp off --no-flops
part infer_fp16 90 python3 -m rnxstudio bench infer -- --model resnext50_32x4d_fpn --size 800 --device cuda --n 20 --warmup 3 --amp fp16 --no-flops
# training throughput: our trainer vs the plain torchvision loop (fp32), then ours with AMP
part train_fp32 120 python3 -m rnxstudio bench train -- --model resnext50_32x4d_fpn --images 16 --image-size 640 --size 640 --batch 8 --steps 8 --warmup 3 --rounds 2 --device cuda
part train_amp 120 python3 -m rnxstudio bench train -- --model resnext50_32x4d_fpn --images 16 --image-size 640 --size 640 --batch 8 --steps 8 --warmup 3 --rounds 2 --device cuda --amp
# a real CUDA out-of-memory in the middle of a fine-tune, then pre-labelling on the same card
part oom 150 python3 scripts/perf/gpu_oom_check.py --model resnext50_32x4d_fpn --size 800 --batch 16 --steps 3
# the shapes benchmark with the app's CPU recipe on the GPU (AMP + channels_last by default)
part shapes 200 python3 -m rnxstudio bench shapes -- --device cuda --minutes "${SHAPES_MINUTES:-2}" --eval-every 2 --json "$OUT_DIR/shapes.json"

echo "===== summary"
printf '%s\n' "${SUMMARY[@]}"
grep -h "ratio\|img/s$\|b/a\|median\|gpu_oom_check\|best val\|^trainer\|^reference" "$OUT_DIR"/*.log 2>/dev/null | head -40
