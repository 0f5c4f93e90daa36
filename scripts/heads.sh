#!/usr/bin/env bash
# Issue 7 reference run: trains Medusa and Hydra heads for stories260K with `speclab
# train-heads` (skipped when results/heads/<name>/heads.json exists) and runs
# experiments/specs/heads.json (budgets 8-64, greedy, story prompts) into results/stories260K-heads.
# Usage: scripts/heads.sh [--model PATH]   (default: $SPECLAB_MODEL, else ../shared/models/stories260K.bin)
set -euo pipefail
cd "$(dirname "$0")/.."
model="${SPECLAB_MODEL:-../shared/models/stories260K.bin}"
if [ "${1:-}" = "--model" ]; then model="$2"; fi
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target speclab -j"$(nproc)"
train() {  # name, extra flags
  local name="$1"; shift
  local dir="results/heads/stories260K-$name"
  if [ -f "$dir/heads.json" ]; then echo "heads: $dir exists, not retraining" >&2; return; fi
  local t0=$SECONDS
  build/speclab train-heads --model "$model" --out "$dir" "$@" 2>&1 | tee "$dir.train.txt"
  echo "heads: $name trained in $((SECONDS - t0)) s (data generation included)" | tee -a "$dir.train.txt"
}
mkdir -p results/heads
train medusa --kind medusa --heads 4
train medusa-ce --kind medusa --heads 4 --teacher-weight 0
train hydra --kind hydra --heads 4
SPECLAB_MODEL="$model" build/speclab run experiments/specs/heads.json --out results/stories260K-heads
