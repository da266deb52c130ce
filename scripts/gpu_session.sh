#!/usr/bin/env bash
# The one prepared call for a lent GPU machine (README, "Measured figures"), and its rehearsal on this CPU.
#
#   bash scripts/gpu_session.sh --prepare    here, first: the data copy in .device-data/ and the wheels in .whl/
#   bash scripts/gpu_session.sh              the call there: run(command="bash scripts/gpu_session.sh",
#                                            carry=[".whl", ".device-data"], timeout_s=600)
#   bash scripts/gpu_session.sh --rehearse   the same steps here, on the CPU, a tiny subset, 1 epoch, in a fresh
#                                            venv holding only what the GPU machine has plus the carried wheels
#
# Steps: env, install (the carried wheels), data (decode), smoke (1 epoch of the three models on a subset, evaluate
# and benchmark on it: a broken step shows within a minute), train (the full recipe), pack, evaluate, benchmark,
# seeds (seeds 1 and 2 in the time left) and pack-seeds.
# Each runs under its own time limit inside a 9-minute whole; a failing step does not stop the later ones, except
# that a failed smoke run skips the long steps (they would fail the same way), leaving the device time for a rerun.
# $OUT (the device tool brings it back: at most 8 files of 16 MiB) gets steps.txt (each step's exit status and
# seconds), session.log (every step's output), evaluate.jsonl, benchmark_training.json and the finished checkpoints
# as checkpoints.tar.gz.NN parts (`cat checkpoints.tar.gz.* | tar xz` gives checkpoints/<model>/). The exit status
# is 1 when any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CARRIED_PACKAGES=(dropblock)  # what the training path imports that the GPU machine lacks (pins: requirements.txt)
WHEELS=${GPU_SESSION_WHEELS:-$REPO/.whl}
DEVICE_DATA=.device-data/cifar10-jpeg.tar.gz
SHARED_DATA=$REPO/../shared/datasets/cifar10-jpeg.tar.gz
HOST_PYTHON=${PYTHON:-python3}  # here: the Python whose packages the rehearsal's venv links

fetch_wheels() {  # the carried packages as wheels for the GPU machine's Python 3.12, pinned as requirements.txt pins them
  local package pin
  mkdir -p "$WHEELS"
  for package in "${CARRIED_PACKAGES[@]}"; do
    compgen -G "$WHEELS/$package-*.whl" >/dev/null && continue
    pin=$(grep -E "^$package==" requirements.txt) || { echo "requirements.txt pins no $package" >&2; return 1; }
    "$HOST_PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d "$WHEELS" "$pin" || return 1
  done
}

case "${1:-}" in
  --prepare)
    fetch_wheels || exit 1
    mkdir -p .device-data
    cmp -s "$SHARED_DATA" "$DEVICE_DATA" || cp "$SHARED_DATA" "$DEVICE_DATA" || exit 1
    echo "ready: $(ls "$WHEELS"), $DEVICE_DATA. Now: run(command=\"bash scripts/gpu_session.sh\"," \
         "carry=[\".whl\", \".device-data\"], timeout_s=600)"
    exit 0 ;;
  --rehearse)
    MODE=rehearse ;;
  "")
    MODE=gpu ;;
  *)
    echo "usage: bash scripts/gpu_session.sh [--prepare | --rehearse]" >&2
    exit 2 ;;
esac

WORK=$(mktemp -d -t gpu-session.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
OUT=${OUT:-$(mktemp -d -t gpu-session-out.XXXXXX)}
mkdir -p "$OUT" "$WORK/logs"
export PYTHONUNBUFFERED=1 PYTHONPATH="$WORK/site:$REPO"  # the carried wheels and this checkout, nothing else
if [[ $MODE == gpu ]]; then
  PY=python3 DEVICE=cuda SMOKE_OPTIONS="--subset 2000 --epochs 1" SMOKE_IMAGES=2000 TRAIN_OPTIONS="" EVALUATE_OPTIONS=""
  echo '{"seed": 1}' >"$WORK/later-seeds.json"
  SEEDS_OPTIONS="--recipe $WORK/later-seeds.json"
  SMOKE_BENCHMARK_OPTIONS="--models plain_cnn --images 2000 --epochs 1" BENCHMARK_OPTIONS="--epochs 2"
  export CIFAR10_DATA=$REPO/$DEVICE_DATA
  [[ -f $CIFAR10_DATA ]] || { echo "no $DEVICE_DATA: run --prepare here and carry .device-data" >&2; exit 2; }
  BUDGET=570 SLOWER=1
else
  fetch_wheels || exit 1
  PY=$("$HOST_PYTHON" "$REPO/scripts/gpu_machine_venv.py" "$WORK/venv") || exit 1
  echo '{"batch_size": 64}' >"$WORK/small-batches.json"  # one step of 64 on 100 images: the same code, less work
  DEVICE=cpu SMOKE_OPTIONS="--subset 100 --epochs 1 --recipe $WORK/small-batches.json" SMOKE_IMAGES=100
  TRAIN_OPTIONS=$SMOKE_OPTIONS EVALUATE_OPTIONS="--limit 100"
  echo '{"batch_size": 64, "seed": 1}' >"$WORK/later-seeds.json"
  SEEDS_OPTIONS="--subset 100 --epochs 1 --recipe $WORK/later-seeds.json"
  # the benchmark keeps the default recipe's batch of 512; smoke and train cover the other models
  SMOKE_BENCHMARK_OPTIONS="--models plain_cnn --images 600 --epochs 1 --workers 2"
  BENCHMARK_OPTIONS=$SMOKE_BENCHMARK_OPTIONS
  export CIFAR10_DATA=${CIFAR10_DATA:-$SHARED_DATA}
  BUDGET=1700 SLOWER=10  # a shared 2-core CPU: the limits only catch a hang here
fi
DEADLINE=$((SECONDS + BUDGET))
: >"$OUT/steps.txt"
: >"$OUT/session.log"
any_failed=0

# step NAME SECONDS COMMAND: run COMMAND (a bash line) for at most SECONDS (times SLOWER; less if the budget has less
# left), its output into session.log and logs/NAME.log; record the exit status in steps.txt.
step() {
  local name=$1 limit=$(($2 * SLOWER)) command=$3 started=$SECONDS status note=""
  (( limit > DEADLINE - SECONDS )) && limit=$((DEADLINE - SECONDS))
  if (( limit < 10 )); then
    record "$name" skipped 0 "out of time"
    return 1
  fi
  echo "==== $name: $command" >>"$OUT/session.log"
  timeout --kill-after=10 "$limit" bash -o pipefail -c "$command" 2>&1 | tee -a "$OUT/session.log" >"$WORK/logs/$name.log"
  status=${PIPESTATUS[0]}
  (( status == 124 || status == 137 )) && note="timed out after ${limit} s"
  record "$name" "$status" $((SECONDS - started)) "$note"
  return "$status"
}

record() {  # record NAME STATUS SECONDS NOTE
  printf '%-10s %-8s %4s s  %s\n' "$1" "$2" "$3" "$4" | tee -a "$OUT/steps.txt"
  [[ $2 == 0 ]] || any_failed=1
}

TRAIN="$PY scripts/train_all.py --device $DEVICE"
step env 60 "$PY -c 'import os, sys, torch
print(\"python\", sys.version.split()[0], \"torch\", torch.__version__, \"cpus\", os.cpu_count())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f\"cuda:{i}\", p.name, round(p.total_memory / 2**30), \"GiB\")'"
step install 60 "$PY -m pip install --no-index --no-deps --no-compile --no-cache-dir --target $WORK/site $WHEELS/*.whl"
step data 180 "$PY scripts/prepare_data.py"
if step smoke 120 "$TRAIN $SMOKE_OPTIONS --out $WORK/smoke --fresh \
      && $PY scripts/evaluate.py --device $DEVICE --checkpoints $WORK/smoke --limit $SMOKE_IMAGES \
      && $PY scripts/benchmark_training.py --device $DEVICE $SMOKE_BENCHMARK_OPTIONS --json $WORK/smoke-benchmark.json"
then
  step train 330 "$TRAIN --out $WORK/checkpoints --fresh $TRAIN_OPTIONS"
  step pack 60 "cd $WORK && tar czf - checkpoints/*/model.safetensors checkpoints/*/run.json \
      | split -d -b 15M - $OUT/checkpoints.tar.gz."
  step evaluate 60 "$PY scripts/evaluate.py --device $DEVICE --checkpoints $WORK/checkpoints $EVALUATE_OPTIONS \
      | tee $OUT/evaluate.jsonl"
  step benchmark 240 "$PY scripts/benchmark_training.py --device $DEVICE --json $OUT/benchmark_training.json \
      $BENCHMARK_OPTIONS"
  # Seeds 1 and 2 (issue 14's evidence) in whatever time is left, seed 1 of every model first. Only their run records
  # come back (the weights would pass $OUT's 64 MiB); a model unfinished at the deadline is left out.
  step seeds $(((DEADLINE - SECONDS - 20) / SLOWER)) "$TRAIN --seeds 2 --out $WORK/seeds --fresh $SEEDS_OPTIONS"
  step pack-seeds 15 "cd $WORK && find seeds -name model.safetensors -printf '%h/run.json\\n' \
      | tar czf $OUT/seed-records.tar.gz -T -"
else
  for skipped in train pack evaluate benchmark seeds pack-seeds; do record "$skipped" skipped 0 "the smoke run failed"; done
fi

echo "---- steps ($MODE, $((SECONDS)) s; output in $OUT)"
cat "$OUT/steps.txt"
for log in "$WORK"/logs/*.log; do
  name=$(basename "$log" .log)
  if ! grep -qE "^$name +0 " "$OUT/steps.txt"; then
    echo "---- $name failed; the end of its output:"
    tail -n 25 "$log"
  fi
done
[[ -f $WORK/logs/train.log ]] && { echo "---- train"; grep -A5 "^model " "$WORK/logs/train.log"; }
[[ -f $WORK/logs/benchmark.log ]] && { echo "---- benchmark"; tail -n 12 "$WORK/logs/benchmark.log"; }
exit "$any_failed"
