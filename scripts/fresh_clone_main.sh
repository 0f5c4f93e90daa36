#!/usr/bin/env bash
# The README's first command as a new user runs it, on a short run: a fresh clone of the
# committed tree (HEAD) with ../shared beside it runs scripts/main.sh with fewer prompts, one
# budget, few new tokens and heads trained with few steps, and this fails unless the run wrote
# its CSVs and plots (and, when the shared models are there, ran the head drafters). The same
# script and spec as the real main job; only sizes differ. Called by scripts/test.sh.
# The clone lives in build/fresh-clone/ so that ccache (CCACHE_BASEDIR = this checkout, set by
# scripts/test.sh) serves its build from the checkout's own Release build.
# Usage: scripts/fresh_clone_main.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
scratch="$root/build/fresh-clone"
rm -rf "$scratch"
mkdir -p "$scratch"
git clone -q "$root" "$scratch/speclab"
if [ -d "$root/../shared" ]; then
  ln -s "$(cd "$root/../shared" && pwd)" "$scratch/shared"
fi
echo "fresh-clone: $(git -C "$scratch/speclab" log -1 --format='%h %s') in $scratch/speclab" >&2
t0=$SECONDS
(cd "$scratch/speclab" &&
  scripts/main.sh --out results/main --max-prompts 1 --budgets 8 --max-new 24 \
    --heads-steps 40 --heads-samples 2) >"$scratch/main.log" 2>&1 || {
  tail -n 40 "$scratch/main.log" >&2
  echo "fresh-clone: FAILED: scripts/main.sh exited non-zero in a fresh clone (log: $scratch/main.log)" >&2
  exit 1
}
out="$scratch/speclab/results/main"
problems=()
for f in config.json summary.csv sequences.csv steps.csv by_depth.csv by_rank.csv; do
  [ -s "$out/$f" ] || problems+=("$f missing or empty")
done
ls "$out"/plots/*.png >/dev/null 2>&1 || problems+=("no plots/*.png")
if [ -f "$scratch/shared/models/stories260K.bin" ]; then
  for d in ngram recycling aded draft-model medusa hydra eagle del; do
    cut -d, -f3 "$out/summary.csv" | grep -qx "$d" || problems+=("summary.csv has no $d rows")
  done
  grep -q 'adapters=results/heads/stories260K-exit' "$out/summary.csv" || problems+=("summary.csv has no del:adapters rows")
fi
if [ ${#problems[@]} -gt 0 ]; then
  printf 'fresh-clone: FAILED: %s\n' "${problems[@]}" >&2
  tail -n 40 "$scratch/main.log" >&2
  exit 1
fi
echo "fresh-clone: main job OK in $((SECONDS - t0)) s: $(($(wc -l <"$out/summary.csv") - 1)) summary rows, $(ls "$out"/plots/*.png | wc -l) plots" >&2
rm -rf "$scratch"
