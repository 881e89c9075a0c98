#!/usr/bin/env bash
# GPU checks, run on a machine with an NVIDIA GPU and PyTorch already installed
# (installs nothing). Usage: bash benchmarks/gpu_check.sh OUTDIR
# Runs the CUDA tests of the engine, the forward benchmark (every backbone), the engine
# check, the full mtvif-bench table (fp32/bf16/fp16/channels_last/torch.compile/onnxruntime;
# every packaged checkpoint) on CUDA and a per-module profile of the forward (every
# backbone, fp32 and bf16), and
# writes logs, Markdown and JSON into OUTDIR.
set -uo pipefail
out=${1:-gpu_results}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 - <<'PY' | tee "$out/env.txt"
import torch, numpy, cv2, platform
print("torch", torch.__version__, "cuda", torch.version.cuda, "numpy", numpy.__version__,
      "opencv", cv2.__version__, "python", platform.python_version())
print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
PY
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee -a "$out/env.txt"
python3 -m pytest -q -p no:cacheprovider test/test_engine.py test/test_model.py test/test_hiaf.py \
  2>&1 | tee "$out/pytest_cuda.txt"
for backbone in seafusion multiscale; do  # every backbone, in one file
  python3 benchmarks/forward.py --device cuda --repeat 20 --backbone "$backbone" 2>&1 \
    | tee -a "$out/forward_cuda.md"
done
python3 benchmarks/engine_check.py --device cuda --repeat 30 --json "$out/engine_cuda.json" \
  2>&1 | tee "$out/engine_cuda.md"
python3 -m mtvif_ros.tools.bench --devices cuda --repeat 30 --compile --out "$out" \
  --machine bench 2>&1 | tail -30
for backbone in seafusion multiscale; do
  for precision in fp32 bf16; do  # every backbone and both precisions in one file
    python3 benchmarks/profile_forward.py --device cuda --precision "$precision" --repeat 20 \
      --backbone "$backbone" 2>&1 | grep -v "^USDT" | tee -a "$out/profile_cuda.md"
  done
done
