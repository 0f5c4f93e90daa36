#!/usr/bin/env bash
# Builds speclab (Release, -O3 -march=native) and runs the whole test suite with ctest; runs the
# main job (scripts/main.sh) on a short run from a fresh clone of the committed tree
# (scripts/fresh_clone_main.sh); then builds again with AddressSanitizer +
# UndefinedBehaviorSanitizer and runs the suite once more.
# Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
# Paths under the checkout reach ccache relative, so a clone inside it (the fresh-clone run)
# reuses this build's objects.
export CCACHE_BASEDIR="$(pwd)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
scripts/fresh_clone_main.sh
if [ "${1:-}" != "--no-sanitize" ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPECLAB_SANITIZE=ON \
    -DSPECLAB_BUILD_BENCH=OFF
  cmake --build build-asan -j"$jobs"
  # alloc_dealloc_mismatch=0: tests/drafters count heap allocations by replacing the global
  # operator new/delete, which ASan would otherwise report as a new/free mismatch.
  ASAN_OPTIONS=detect_leaks=1:alloc_dealloc_mismatch=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
