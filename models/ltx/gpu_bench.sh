#!/usr/bin/env bash
# Issue 21's speed checks on a CUDA machine, in one go:
#  1. Kinema's generation bench (the plugin's own runtime on the CUDA provider) against diffusers'
#     LTXPipeline on the same GPU, tiny LTX graphs, three sizes, one run;
#  2. one forward of the full-width LTX transformer at real shot sizes, PyTorch against ONNX Runtime's
#     CUDA provider (gpu_forward.py).
#
#   ORT_GPU_DIR=DIR BENCH=BIN OUT=DIR models/ltx/gpu_bench.sh
#
# ORT_GPU_DIR: libonnxruntime.so.1.31.1 with libonnxruntime_providers_{shared,cuda}.so beside it (the
# onnxruntime-gpu 1.31.1 wheel's onnxruntime/capi). BENCH: the generation bench binary
# (`cargo bench -p kinema-plugin --bench generation --no-run` prints its path). python3 must import torch
# (CUDA), diffusers 0.42.1, onnx, onnxscript and onnxruntime-gpu; CUDA 13 and cuDNN 9 are taken from the
# nvidia-* wheels beside torch. Figures go to stdout and to $OUT.
set -u -o pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp}
nvidia=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])')
libs=$(find "$nvidia" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
export LD_LIBRARY_PATH="$ORT_GPU_DIR:$libs:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

echo "== 1. generation bench, CUDA provider against diffusers on the GPU"
KINEMA_REPO=$repo KINEMA_ORT_LIB=$ORT_GPU_DIR/libonnxruntime.so.1.31.1 KINEMA_EP=cuda \
  KINEMA_BENCH_DEVICE=cuda KINEMA_TORCH_PYTHON=python3 timeout 180 "$BENCH" 2>&1 | tee "$out/generation_bench.txt"

echo "== 2. one transformer forward, full width, real sizes"
PYTHONUNBUFFERED=1 timeout 300 python3 "$repo/models/ltx/gpu_forward.py" --layers "${LAYERS:-4}" \
  --tokens "${TOKENS:-6144,15360,30720}" --work /tmp/gpu_forward --json "$out/gpu_forward.json" 2>&1 \
  | grep -v -i -E "warn|deprecat" | tee "$out/gpu_forward.txt"
