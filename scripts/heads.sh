#!/usr/bin/env bash
# Reference runs of the trained heads (issues 7 and 8): trains Medusa and Hydra heads and exit
# adapters for the model with `speclab train-heads` (each skipped when its heads.json exists),
# then runs experiments/specs/heads.json (Medusa vs Hydra, budgets 8-64) into
# results/<stem>-heads and experiments/specs/early_exit_adapters.json (early-exit E x d and DEL
# with adapters) into results/<stem>-early-exit-adapters. Greedy, story prompts, one thread.
# Usage: scripts/heads.sh [--model PATH] [--train-only]
#   --model: default $SPECLAB_MODEL, else ../shared/models/stories260K.bin. Heads go to
#   results/heads/<model file stem>-{medusa,medusa-ce,hydra,exit}; the specs find them there
#   through "{model_stem}". --train-only: train what is missing, run nothing (scripts/main.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
model="${SPECLAB_MODEL:-../shared/models/stories260K.bin}"
train_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --train-only) train_only=1; shift ;;
    *) echo "usage: scripts/heads.sh [--model PATH] [--train-only]" >&2; exit 2 ;;
  esac
done
stem="$(basename "$model")"
stem="${stem%.*}"
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target speclab -j"$(nproc)"
train() {  # name, extra flags
  local name="$1"; shift
  local dir="results/heads/$stem-$name"
  if [ -f "$dir/heads.json" ]; then echo "heads: $dir exists, not retraining" >&2; return; fi
  local t0=$SECONDS
  build/speclab train-heads --model "$model" --out "$dir" "$@" 2>&1 | tee "$dir.train.txt"
  echo "heads: $name trained in $((SECONDS - t0)) s (data generation included)" | tee -a "$dir.train.txt"
}
mkdir -p results/heads
train medusa --kind medusa --heads 4
train medusa-ce --kind medusa --heads 4 --teacher-weight 0
train hydra --kind hydra --heads 4
train exit --kind exit-adapter
if [ "$train_only" = 1 ]; then exit 0; fi
SPECLAB_MODEL="$model" build/speclab run experiments/specs/heads.json --out "results/$stem-heads"
SPECLAB_MODEL="$model" build/speclab run experiments/specs/early_exit_adapters.json \
  --out "results/$stem-early-exit-adapters"
