#!/usr/bin/env bash
# Trains Medusa and Hydra heads, exit adapters and an EAGLE head for a model with `speclab
# train-heads`, then (unless --train-only) runs the heads reference runs:
# experiments/specs/heads.json (Medusa vs Hydra vs EAGLE, budgets 8-64) into results/<stem>-heads and experiments/specs/early_exit_adapters.json
# (early-exit E x d and DEL with adapters) into results/<stem>-early-exit-adapters. Greedy, story
# prompts, one thread.
# Usage: scripts/heads.sh [--model PATH] [--train-only] [--steps N] [--samples-per-prompt N]
#   --model: default $SPECLAB_MODEL, else ../shared/models/stories260K.bin.
#   Heads go to results/heads/<model file stem>-{medusa,medusa-ce,hydra,exit,eagle,eagle-ttt,eagle3}, a local cache that
#   is never committed (.gitignore); the specs find them there through "{model_stem}". A head set
#   is retrained unless it loads for this model (weights present, fingerprint matching) and was
#   trained with the same settings (`train-heads --reuse`).
#   --train-only: train what is missing, run nothing (scripts/main.sh).
#   --steps / --samples-per-prompt: passed to every train-heads (short runs; the defaults are the
#   reference settings). A reference run copies each head set's heads.json (eagle.json) and training log
#   into results/<stem>-heads/training/ (the weights stay in the cache).
set -euo pipefail
cd "$(dirname "$0")/.."
model="${SPECLAB_MODEL:-../shared/models/stories260K.bin}"
train_only=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --train-only) train_only=1; shift ;;
    --steps|--samples-per-prompt) extra+=("$1" "$2"); shift 2 ;;
    *) echo "usage: scripts/heads.sh [--model PATH] [--train-only] [--steps N] [--samples-per-prompt N]" >&2; exit 2 ;;
  esac
done
stem="$(basename "$model")"
stem="${stem%.*}"
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target speclab -j"$(nproc)"
train() {  # name, train-heads flags
  local name="$1"; shift
  local dir="results/heads/$stem-$name"
  local log="$dir.train.txt"
  local t0=$SECONDS
  build/speclab train-heads --reuse --model "$model" --out "$dir" "$@" "${extra[@]+"${extra[@]}"}" \
    >"$log.new" 2>&1 || { cat "$log.new" >&2; rm -f "$log.new"; exit 1; }
  if grep -q '^train-heads: reusing' "$log.new"; then
    echo "heads: $dir loads for $model with the same settings, not retraining" >&2
    rm -f "$log.new"
    return
  fi
  echo "heads: $name trained in $((SECONDS - t0)) s (data generation included)" >>"$log.new"
  mv "$log.new" "$log"
  tail -n 8 "$log" >&2
}
mkdir -p results/heads
train medusa --kind medusa --heads 4
train medusa-ce --kind medusa --heads 4 --teacher-weight 0
train hydra --kind hydra --heads 4
train exit --kind exit-adapter
train eagle --kind eagle
if [ "$train_only" = 1 ]; then exit 0; fi
# EAGLE with the training-time test (2 passes): the reference run only (~2.5x EAGLE's training).
train eagle-ttt --kind eagle --ttt-steps 2
# EAGLE-3-style fused features (low / mid / high: residuals after layers 1 and 3, the final-normed
# state) plus the training-time test. EAGLE-3's own rule (layers 2, L/2, L-3) gives no three
# distinct layers of a 5-layer model.
train eagle3 --kind eagle --ttt-steps 2 --feature-layers 1,3,final
SPECLAB_MODEL="$model" build/speclab run experiments/specs/heads.json --out "results/$stem-heads"
SPECLAB_MODEL="$model" build/speclab run experiments/specs/early_exit_adapters.json \
  --out "results/$stem-early-exit-adapters"
mkdir -p "results/$stem-heads/training"
for name in medusa medusa-ce hydra exit eagle eagle-ttt eagle3; do
  if [ "${name#eagle}" != "$name" ]; then
    cp "results/heads/$stem-$name/eagle.json" "results/$stem-heads/training/$name.eagle.json"
  else
    cp "results/heads/$stem-$name/heads.json" "results/$stem-heads/training/$name.heads.json"
  fi
  [ -f "results/heads/$stem-$name.train.txt" ] &&
    cp "results/heads/$stem-$name.train.txt" "results/$stem-heads/training/$name.train.txt"
done
