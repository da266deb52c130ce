#!/usr/bin/env bash
# One prepared run for a lent GPU machine (see README, "Training on a GPU"): benchmark, then train all three with
# the default recipe, then re-evaluate. Results land in $OUT (the device tool brings them back) and in checkpoints/.
#   Here, before the call:  mkdir -p .device-data && cp ../shared/datasets/cifar10-jpeg.tar.gz .device-data/
#   The call:               bash scripts/gpu_session.sh   (carry: .device-data)
set -euo pipefail
export PYTHONUNBUFFERED=1 CIFAR10_DATA=.device-data/cifar10-jpeg.tar.gz
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 scripts/prepare_data.py
python3 scripts/benchmark_training.py --epochs 2 --json "$OUT/benchmark_training.json" 2>&1 | tee "$OUT/benchmark.log"
/usr/bin/time -v python3 scripts/train_all.py --out checkpoints --fresh 2>&1 | tee "$OUT/train_all.log"
python3 scripts/evaluate.py --checkpoints checkpoints | tee "$OUT/evaluate.jsonl"
tar czf "$OUT/checkpoints.tar.gz" checkpoints
