#!/usr/bin/env bash
# Builds speclab (Release, -O3 -march=native) and runs the whole test suite with ctest; runs the
# main job (scripts/main.sh) on a short run from a fresh clone of the committed tree
# (scripts/fresh_clone_main.sh); then builds again with AddressSanitizer +
# UndefinedBehaviorSanitizer (at -O1) and runs the suites that handle memory and untrusted input
# once more: everything except the statistical suites (*statistics*, pure arithmetic on the
# same code, minutes under ASan), the gradient and exact-law checks (heads/test_eagle_trainer,
# test_head_layers, verifiers/test_exact_law, test_opt_bound: arithmetic on buffers the other
# suites exercise) and the per-drafter behaviour suites, whose drafters the contract suite
# (tests/drafters/test_drafter_contract.cpp) runs end to end under the sanitizers. Each phase
# prints its wall time (CI's budget).
# Usage: scripts/test.sh [--no-sanitize | --full-sanitize]
#   --full-sanitize: the sanitizer pass builds and runs every suite (about twice as long).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
# Paths under the checkout reach ccache relative, so a clone inside it (the fresh-clone run)
# reuses this build's objects.
export CCACHE_BASEDIR="$(pwd)"
phase() { echo "test.sh: $1 done at $((SECONDS / 60)) min $((SECONDS % 60)) s"; }
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
phase "Release build"
ctest --test-dir build --output-on-failure -j"$jobs"
phase "Release tests"
scripts/fresh_clone_main.sh
phase "fresh-clone main job"
if [ "${1:-}" != "--no-sanitize" ]; then
  exclude='statistics|drafters/test_(aded|del|early_exit|exit_adapters|hybrid|hydra|lookahead|medusa|ngram|recycling|sam|suffix|trained_heads)[.]cpp|app/test_train_heads_cli[.]cpp|heads/test_(eagle_trainer|head_layers)[.]cpp|verifiers/test_(exact_law|opt_bound)[.]cpp'
  [ "${1:-}" = "--full-sanitize" ] && exclude=''
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPECLAB_SANITIZE=ON \
    -DSPECLAB_BUILD_BENCH=OFF "-DSPECLAB_TEST_EXCLUDE=$exclude"
  cmake --build build-asan -j"$jobs"
  phase "sanitizer build"
  # alloc_dealloc_mismatch=0: tests/drafters count heap allocations by replacing the global
  # operator new/delete, which ASan would otherwise report as a new/free mismatch.
  ASAN_OPTIONS=detect_leaks=1:alloc_dealloc_mismatch=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"
  phase "sanitizer tests"
fi
