#!/usr/bin/env bash
# The prepared calls for a lent GPU machine (issue 20's budget sweep; README, "Measured figures"), and their rehearsal.
#
#   bash scripts/gpu_session.sh --prepare     here, first: the wheels in .whl/, the data copy in .device-data/, and
#                                             the size of what a call sends (refused over the device tool's 64 MiB)
#   call 1   run(command="bash scripts/gpu_session.sh --part 1", carry=[".whl", ".device-data"], timeout_s=600)
#   between  cp <call 1's files_at>/records.tar.gz .device-data/part1-records.tar.gz && bash scripts/gpu_session.sh
#            --prepare                        (a cold machine then keeps call 1's runs too; the size is checked again)
#   call 2   at once: run(command="bash scripts/gpu_session.sh --part 2 --seconds S", carry=[".whl", ".device-data"],
#            timeout_s=S+30), with S = status's budget_left_s - 60, at most 570
#   bash scripts/gpu_session.sh --rehearse [--part 1|2]    the same steps here, on the CPU, 100 images, budgets of 1
#            and 2 epochs, in a fresh venv holding only what the GPU machine has plus the carried wheels
#
# Steps. Part 1: env, install, data, smoke, sweep, seeds, benchmark. Part 2: env, install, data, restore (call 1's
# records), then sweep, seeds and benchmark again, each keeping every run already finished (train_all.py keeps a
# finished budget run unless --fresh), so call 2 goes on where call 1 stopped; on a still-warm machine a run cut off
# mid-way resumes from its last epoch.
#   smoke      check_graphed_step.py, then 1 epoch of the three models on 2,000 images in each step mode under
#              CIFAR_SYNC_CHECK (SMOKE_MODES), evaluated and benchmarked: a broken step shows at once
#   sweep      seed 0 of the three models at 10, 20, 40 and 80 epochs (train_all.py --budgets), the cheapest and most
#              telling first: budget by budget, each in the order Plain CNN, SENet, Inception
#   seeds      seed 1 at 40 and 80 epochs (train_all.py --seeds 2 --budgets 40,80; seed 0's runs are kept)
#   benchmark  benchmark_training.py --epochs 2
# Each step runs under the call's deadline (--seconds, 570 by default, 30 s inside the tool's 600); a step with less
# than 10 s left is skipped, a failing step does not stop the later ones, and a failed smoke run (part 2: data) skips
# the long steps, leaving the device time for a rerun.
#
# Time (H200, today's engine, 40 epochs: Plain CNN 21.8 s, SENet 66.1 s, Inception 93.8 s of training, scaled by
# epochs, plus about 10 s a run to build, test and write it): setup and smoke about 130 s (estimated: 70 s measured
# with one step mode), the sweep about 800 s (682 s of training), seeds about 605 s (545 s), the benchmark about 70 s
# or more (three step modes now): over 1,600 s, and 15 minutes of device time less one start-up (1 to 2 minutes)
# leave about 780 s of commands. So today call 1 reaches budgets 10, 20 and 40 (about 540 s), call 2 (about 200 s)
# Plain CNN's and SENet's 80; Inception's 80, seed 1 and the benchmark wait for the engine's speed-up (issue 20 item
# 1). At the issue's targets (40 epochs: about 6, 33 and 45 s) the plan is about 870 s: call 1 holds the sweep and
# seed 1 at 40 epochs, call 2 seed 1 at 80 and the benchmark.
#
# $OUT (the device tool brings back at most 8 files of 16 MiB) gets steps.txt (each step's exit status and seconds),
# session.log (every step's output), benchmark_training.json, records.tar.gz (every finished run's run.json, as
# budgets/<epochs>/[seed-<k>/]<model>/run.json) and weights.tar.gz.NN (the 40-epoch budget's seed-0 weights, which the
# dashboard loads, in 15 MiB parts: `cat weights.tar.gz.* | tar xz`). Both are rewritten as runs finish, so a call cut
# short still brings back every run it finished. The exit status is 1 when any step failed, timed out or was skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CARRIED_PACKAGES=(dropblock)  # what the training path imports that the GPU machine lacks (pins: requirements.txt)
WHEELS=${GPU_SESSION_WHEELS:-$REPO/.whl}
DEVICE_DATA=.device-data/cifar10-jpeg.tar.gz
SHARED_DATA=$REPO/../shared/datasets/cifar10-jpeg.tar.gz
CARRY=(.whl .device-data)  # the run() call's carry: the ignored folders the session needs besides the tracked tree
TRAVEL_LIMIT=$((64 << 20))  # the device tool's limit on what a call sends: tracked, untracked-not-ignored, carried
CARRIED_RECORDS=${GPU_SESSION_CARRIED_RECORDS:-$REPO/.device-data/part1-records.tar.gz}
MODELS=plain_cnn,senet,inception  # the cheapest first
# The smoke runs, one per step mode ("MODE MODELS CIFAR_SYNC_CHECK"): any host synchronisation inside an epoch fails
# them on CUDA, except compiled's, which synchronises while it compiles in its first epoch and so only warns (with the
# stack, into the log); compiled on Plain CNN alone, as compiling costs half a minute a model.
SMOKE_MODES=("eager $MODELS error" "graphed $MODELS error" "compiled plain_cnn warn")
STEP_MODE=auto  # the sweep's: each model's fastest as measured (cifar_models/step_modes.py), eager until measured
HOST_PYTHON=${PYTHON:-python3}  # here: the Python whose packages the rehearsal's venv links

usage() {
  echo "usage: bash scripts/gpu_session.sh --prepare | [--rehearse] [--part 1|2] [--seconds N]" >&2
  exit 2
}

fetch_wheels() {  # the carried packages as wheels for the GPU machine's Python 3.12, pinned as requirements.txt pins them
  local package pin
  mkdir -p "$WHEELS"
  for package in "${CARRIED_PACKAGES[@]}"; do
    compgen -G "$WHEELS/$package-*.whl" >/dev/null && continue
    pin=$(grep -E "^$package==" requirements.txt) || { echo "requirements.txt pins no $package" >&2; return 1; }
    "$HOST_PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d "$WHEELS" "$pin" || return 1
  done
}

bytes() {  # bytes of the NUL-separated files on stdin
  du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1
}

mib() {
  awk -v bytes="$1" 'BEGIN { printf "%.2f MiB", bytes / 1048576 }'
}

check_travel_size() {  # what a run() call sends, against the device tool's limit; 2 when over it
  local tracked untracked path size total line
  tracked=$(git ls-files -z | bytes)
  untracked=$(git ls-files -z --others --exclude-standard | bytes)
  total=$((tracked + untracked))
  line="tracked files $(mib "$tracked"), untracked $(mib "$untracked")"
  for path in "${CARRY[@]}"; do
    size=$(find "$path" -type f -print0 2>/dev/null | bytes)
    total=$((total + size))
    line="$line, $path $(mib "$size")"
  done
  echo "a call sends $(mib "$total") of $(mib "$TRAVEL_LIMIT") ($line; $(mib $((TRAVEL_LIMIT - total))) to spare)"
  if (( total > TRAVEL_LIMIT )); then
    echo "error: that is over the device tool's limit, and the call would be refused: the tracked files travel with" \
         "every call, so commit less (a budget's weights stay ignored) or leave untracked files out" >&2
    return 2
  fi
}

MODE=gpu PART=1 CALL_SECONDS=""
while (( $# )); do
  case $1 in
    --prepare)
      (( $# == 1 )) || usage
      fetch_wheels || exit 1
      mkdir -p .device-data
      cmp -s "$SHARED_DATA" "$DEVICE_DATA" || cp "$SHARED_DATA" "$DEVICE_DATA" || exit 1
      echo "ready: $(ls "$WHEELS"), $DEVICE_DATA"
      check_travel_size || exit 2
      echo "call 1: run(command=\"bash scripts/gpu_session.sh --part 1\", carry=[\".whl\", \".device-data\"]," \
           "timeout_s=600)"
      exit 0 ;;
    --rehearse) MODE=rehearse ;;
    --part) PART=${2:-}; shift ;;
    --seconds) CALL_SECONDS=${2:-}; shift ;;
    *) usage ;;
  esac
  shift
done
[[ $PART == 1 || $PART == 2 ]] || usage
[[ -z $CALL_SECONDS || $CALL_SECONDS =~ ^[1-9][0-9]*$ ]] || usage

WORK=$(mktemp -d -t gpu-session.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
OUT=${OUT:-$(mktemp -d -t gpu-session-out.XXXXXX)}
mkdir -p "$OUT" "$WORK/logs"
export PYTHONUNBUFFERED=1 PYTHONPATH="$WORK/site:$REPO"  # the carried wheels and this checkout, nothing else
if [[ $MODE == gpu ]]; then
  PY=python3 DEVICE=cuda SMOKE_OPTIONS="--subset 2000 --epochs 1" SMOKE_IMAGES=2000
  SMOKE_BENCHMARK_OPTIONS="--models plain_cnn --images 2000 --epochs 1" BENCHMARK_OPTIONS="--epochs 2"
  RUN_OPTIONS="" SWEEP_BUDGETS=10,20,40,80 SEED_BUDGETS=40,80 DEFAULT_BUDGET=40
  RUNS=${GPU_SESSION_RUNS:-$REPO/.device-runs}  # ignored: a still-warm machine keeps it for call 2
  export CIFAR10_DATA=$REPO/$DEVICE_DATA
  [[ -f $CIFAR10_DATA ]] || { echo "no $DEVICE_DATA: run --prepare here and carry .device-data" >&2; exit 2; }
  CALL_SECONDS=${CALL_SECONDS:-570} SLOWER=1
else
  fetch_wheels || exit 1
  PY=$("$HOST_PYTHON" "$REPO/scripts/gpu_machine_venv.py" "$WORK/venv") || exit 1
  echo '{"batch_size": 64}' >"$WORK/small-batches.json"  # one step of 64 on 100 images: the same code, less work
  DEVICE=cpu SMOKE_OPTIONS="--subset 100 --epochs 1 --recipe $WORK/small-batches.json" SMOKE_IMAGES=100
  # the benchmark keeps the default recipe's batch of 512; the smoke run and the sweep cover the other models
  SMOKE_BENCHMARK_OPTIONS="--models plain_cnn --images 600 --epochs 1 --workers 2"
  BENCHMARK_OPTIONS=$SMOKE_BENCHMARK_OPTIONS
  RUN_OPTIONS="--subset 100 --recipe $WORK/small-batches.json" SWEEP_BUDGETS=1,2 SEED_BUDGETS=2 DEFAULT_BUDGET=2
  RUNS=${GPU_SESSION_RUNS:-$WORK/runs}
  export CIFAR10_DATA=${CIFAR10_DATA:-$SHARED_DATA}
  CALL_SECONDS=${CALL_SECONDS:-1700} SLOWER=10  # a shared 2-core CPU: the limits only catch a hang here
fi
DEADLINE=$((SECONDS + CALL_SECONDS - 20))  # 20 s kept for the last packing and the summary
mkdir -p "$RUNS"
: >"$OUT/steps.txt"
: >"$OUT/session.log"
any_failed=0

# step NAME SECONDS COMMAND: run COMMAND (a bash line) for at most SECONDS (times SLOWER; less if the deadline is
# nearer), its output into session.log and logs/NAME.log; record the exit status in steps.txt.
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

# pack FOLDER: every finished run's run.json into $OUT/records.tar.gz, and the default budget's seed-0 weights (of
# finished runs) into $OUT/weights.tar.gz.NN, each written in FOLDER first and then moved in.
pack() {
  local temporary=$1 records weights
  mkdir -p "$temporary"
  mapfile -t records < <(cd "$RUNS" && find budgets -name run.json 2>/dev/null | sort)
  (( ${#records[@]} )) || return 0
  (cd "$RUNS" && tar czf "$temporary/records.tar.gz" "${records[@]}") && mv "$temporary/records.tar.gz" "$OUT/"
  mapfile -t weights < <(cd "$RUNS" && for record in budgets/"$DEFAULT_BUDGET"/*/run.json; do
    [[ -f ${record%run.json}model.safetensors ]] && echo "${record%run.json}model.safetensors"; done)
  (( ${#weights[@]} )) || return 0
  rm -f "$temporary"/weights.tar.gz.*
  (cd "$RUNS" && tar cf - "${weights[@]}" | gzip -1 | split -d -b 15M - "$temporary/weights.tar.gz.") || return 1
  rm -f "$OUT"/weights.tar.gz.*
  mv "$temporary"/weights.tar.gz.* "$OUT/"
}

# While the long steps run: pack again whenever a run has finished (a record or a weights file is new), until told
# to stop, so a call cut short by the tool still brings back what it finished.
pack_as_runs_finish() {
  local packed="" listing
  until [[ -f $WORK/stop-packing ]]; do
    listing=$(find "$RUNS/budgets" \( -name run.json -o -name model.safetensors \) -printf '%p %T@\n' 2>/dev/null \
      | sort)
    if [[ $listing != "$packed" ]]; then
      pack "$WORK/pack-watch" && packed=$listing
    fi
    sleep 5
  done
}

TRAIN="$PY scripts/train_all.py --device $DEVICE --models $MODELS --step-mode $STEP_MODE --out $RUNS --quiet"
TRAIN+=" $RUN_OPTIONS"
step env 60 "$PY -c 'import os, sys, torch
print(\"python\", sys.version.split()[0], \"torch\", torch.__version__, \"cpus\", os.cpu_count())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f\"cuda:{i}\", p.name, round(p.total_memory / 2**30), \"GiB\")'"
step install 60 "$PY -m pip install --no-index --no-deps --no-compile --no-cache-dir --target $WORK/site $WHEELS/*.whl"
step data 180 "$PY scripts/prepare_data.py"
ready=$?
if [[ $PART == 1 ]]; then
  smoke="$PY scripts/check_graphed_step.py --device $DEVICE"
  for entry in "${SMOKE_MODES[@]}"; do
    read -r mode models sync <<<"$entry"
    smoke+=" && CIFAR_SYNC_CHECK=$sync $PY scripts/train_all.py --device $DEVICE $SMOKE_OPTIONS --models $models \
      --step-mode $mode --out $WORK/smoke-$mode --fresh --quiet"
  done
  step smoke 240 "$smoke && $PY scripts/evaluate.py --device $DEVICE --checkpoints $WORK/smoke-eager \
      --limit $SMOKE_IMAGES && $PY scripts/benchmark_training.py --device $DEVICE $SMOKE_BENCHMARK_OPTIONS \
      --json $WORK/smoke-benchmark.json"
  ready=$?
else
  step restore 30 "if [[ -f $CARRIED_RECORDS ]]; then tar xzvf $CARRIED_RECORDS -C $RUNS --skip-old-files; \
      else echo 'no $CARRIED_RECORDS: only the runs this machine kept'; fi"
fi
if (( ready == 0 )); then
  pack_as_runs_finish &
  packer=$!
  step sweep 9999 "$TRAIN --budgets $SWEEP_BUDGETS"
  step seeds 9999 "$TRAIN --budgets $SEED_BUDGETS --seeds 2"
  step benchmark 240 "$PY scripts/benchmark_training.py --device $DEVICE --json $OUT/benchmark_training.json \
      $BENCHMARK_OPTIONS"
  touch "$WORK/stop-packing"
  wait "$packer"
  pack "$WORK/pack-last" || record pack 1 0 "the last packing failed"
else
  for skipped in sweep seeds benchmark; do record "$skipped" skipped 0 "the $([[ $PART == 1 ]] && echo smoke run ||
    echo data step) failed"; done
fi

echo "---- steps (part $PART, $MODE, $SECONDS s; output in $OUT)"
cat "$OUT/steps.txt"
for log in "$WORK"/logs/*.log; do
  name=$(basename "$log" .log)
  if ! grep -qE "^$name +0 " "$OUT/steps.txt"; then
    echo "---- $name failed; the end of its output:"
    tail -n 25 "$log"
  fi
done
if [[ -f $OUT/records.tar.gz ]]; then
  echo "---- finished runs in records.tar.gz"
  tar tzf "$OUT/records.tar.gz" | sed 's|/run.json$||'
fi
[[ -f $WORK/logs/benchmark.log ]] && { echo "---- benchmark"; tail -n 12 "$WORK/logs/benchmark.log"; }
exit "$any_failed"
