#!/usr/bin/env bash
# GPU checks for a lent machine with PyTorch (it installs and fetches nothing).
#   bash benchmarks/gpu_check.sh OUTDIR
# One command under 8 minutes: each step runs under its own timeout and writes its result
# file as it goes, so a run cut short returns what finished; the exit status is non-zero
# when any step failed or timed out. Files in OUTDIR (at most 8):
#   steps.txt           each step: exit status and seconds
#   env.txt             python, torch/CUDA, onnxruntime (and its providers), numpy, OpenCV, GPU
#   pytest_cuda.txt     the CUDA tests (test/test_cuda.py)
#   forward_cuda.md     forward pass of (a) fusion net (b) MultiTaskVIF (c) cascade, every backbone
#   engine_cuda.md      the engine per precision and inference size against CPU fp32
#   node_path_cuda.md   the node's per-frame path (decode, pipeline, encode) beside the bare engine
#   bench_cuda.md       mtvif-bench: every fast path (bf16, fp16, channels_last, torch.compile,
#                       onnxruntime where it has a GPU provider) of every packaged checkpoint
#   profile_cuda.md     per-module profile of the forward, every backbone, fp32 and bf16
# Without a usable CUDA device it says "no CUDA device: skipped" and exits 0. A step that
# would start after BUDGET_S seconds (default 450) is skipped and said so, so the whole run
# stays inside an 8-minute command limit.
set -uo pipefail
out=${1:-gpu_results}
mkdir -p "$out"
PY=${PYTHON:-python3}  # the machine's; the repo's .venv where it has one
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
BUDGET_S=${BUDGET_S:-450}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
: > "$out/steps.txt"
status=0

step() {  # step NAME LIMIT_S FILE COMMAND...: run it, append to FILE, record the outcome
  local name=$1 limit=$2 file=$3 t0=$SECONDS rc
  shift 3
  if [ "$SECONDS" -ge "$BUDGET_S" ]; then
    echo "$name: skipped (the ${BUDGET_S} s budget is spent)" | tee -a "$out/steps.txt"
    return
  fi
  timeout --kill-after=10 "$limit" "$@" >> "$out/$file" 2>&1
  rc=$?
  [ "$rc" -eq 124 ] && echo "(timed out after $limit s)" >> "$out/$file"
  echo "$name: exit $rc, $((SECONDS - t0)) s" | tee -a "$out/steps.txt"
  [ "$rc" -eq 0 ] || status=1
}

step env 60 env.txt "$PY" - <<'PY'
import platform
import cv2, numpy, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "numpy", numpy.__version__, "opencv", cv2.__version__)
try:
    import onnxruntime as ort
    print("onnxruntime", ort.__version__, "providers", ", ".join(ort.get_available_providers()))
except ImportError:
    print("onnxruntime: not installed (its rows are skipped)")
for i in range(torch.cuda.device_count()):
    print(f"gpu {i}", torch.cuda.get_device_name(i), "capability",
          ".".join(map(str, torch.cuda.get_device_capability(i))))
PY
if [ "$status" -ne 0 ]; then
  echo "environment step failed: see $out/env.txt" | tee -a "$out/steps.txt"
  exit 1
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device: skipped" | tee -a "$out/steps.txt"
  exit 0
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >> "$out/env.txt" 2>&1

step pytest_cuda 120 pytest_cuda.txt "$PY" -m pytest -q -p no:cacheprovider test/test_cuda.py
for backbone in seafusion multiscale; do
  step "forward $backbone" 30 forward_cuda.md \
    "$PY" benchmarks/forward.py --device cuda --repeat 20 --backbone "$backbone"
done
step engine 60 engine_cuda.md "$PY" benchmarks/engine_check.py --device cuda --repeat 20
for precision in fp32 fp16; do
  step "node path $precision" 25 node_path_cuda.md \
    "$PY" benchmarks/node_path.py --device cuda --precision "$precision" --repeat 30
done
bench=$(mktemp -d)  # mtvif-bench writes bench.md as each part ends; keep what it measured
step bench 120 bench_cuda.md "$PY" -m mtvif_ros.tools.bench --devices cuda --repeat 15 \
  --compile --out "$bench" --machine gpu
[ -f "$bench/gpu/bench.md" ] && cat "$bench/gpu/bench.md" >> "$out/bench_cuda.md"
for backbone in seafusion multiscale; do
  for precision in fp32 bf16; do
    step "profile $backbone $precision" 20 profile_cuda.md "$PY" benchmarks/profile_forward.py \
      --device cuda --precision "$precision" --repeat 10 --backbone "$backbone"
  done
done
exit "$status"
