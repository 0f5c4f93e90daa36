#!/usr/bin/env bash
# The main job: build speclab (Release, -O3 -march=native) and run the default drafter
# comparison (experiments/specs/default.json: every drafter vs autoregressive decoding, budgets
# 8-64, greedy and temperature 1; with a real model also the cost budget policy and projected
# speedups on this machine's measured profile and an A100 roofline) writing CSVs, config.json,
# profile_host.json and plots to results/main/.
# Model: --model PATH, else $SPECLAB_MODEL, else ../shared/models/stories260K.bin, else a
# deterministic synthetic model (said in every output). Before the run, heads for the head
# drafters are trained for the model (scripts/heads.sh --train-only) unless the local cache
# results/heads/<model stem>-* already holds heads that load for it with the same settings.
# Usage: scripts/main.sh [--model PATH] [--out DIR] [--heads-steps N] [--heads-samples N]
#                        [any other `speclab run` flag, e.g. --max-prompts 1 --budgets 8]
#   --heads-steps / --heads-samples: train-heads --steps / --samples-per-prompt (short runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target speclab -j"$(nproc)"
out=results/main
args=()
heads_args=()
model="${SPECLAB_MODEL:-../shared/models/stories260K.bin}"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --model) model="$2"; args+=("$1" "$2"); shift 2 ;;
    --heads-steps) heads_args+=(--steps "$2"); shift 2 ;;
    --heads-samples) heads_args+=(--samples-per-prompt "$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
# Medusa / Hydra heads and exit adapters for the model (trained once, ~2.5 min, kept in the
# ignored cache results/heads/<model stem>-*); without a real model the head drafters are skipped.
if [ -e "$model" ] && [ "$model" != synthetic ]; then
  scripts/heads.sh --train-only --model "$model" "${heads_args[@]+"${heads_args[@]}"}"
fi
# This machine's cost curve for the model (speclab profile, seconds for stories260K): the run
# projects every configuration onto it and onto an A100 roofline (projected_speedup_host /
# _a100 columns), and runs each drafter both with fixed budgets and with the cost policy.
profile_args=()
if [ -e "$model" ] && [ "$model" != synthetic ]; then
  mkdir -p "$out"
  build/speclab profile --model "$model" --threads 1 --out "$out/profile_host.json"
  profile_args=(--profile "$out/profile_host.json" --profile experiments/hardware/a100_sxm4_80gb.json
                --budget-policy fixed,cost)
fi
echo "speclab: running experiments/specs/default.json -> $out" >&2
build/speclab run experiments/specs/default.json --out "$out" "${profile_args[@]+"${profile_args[@]}"}" \
  "${args[@]+"${args[@]}"}"
echo "speclab: done; see $out/summary.csv and $out/*.png" >&2
