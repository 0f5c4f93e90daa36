#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang with ASan + UBSan) in build-fuzz and runs each
# target for SECONDS (default 300), one after the other, on build-fuzz/corpus/<target>/: seed
# files regenerated from the test fixtures on every run (fuzz/make_corpus.cpp, seed-*) plus what
# the fuzzer added in earlier runs (kept there, never committed). Crashing inputs go to
# build-fuzz/crashes/<target>/, logs to build-fuzz/logs/<target>.log. A target stops at its
# first crash; reproduce one with build-fuzz/fuzz/fuzz_<target> FILE (SPECLAB_FUZZ_VERBOSE=1
# prints the speclab::Error an input ends in).
# Prints a summary table and exits 1 when any target found a crash (2 for a setup failure).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets without the fuzz_ prefix; default: all)
# As root, installs clang, libFuzzer (libclang-rt-14-dev) and libomp when missing; otherwise
# prints the apt-get line and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-300}
[ $# -gt 0 ] && shift
case "$seconds" in
  ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

scripts/deps.sh
pkgs=(clang libclang-rt-14-dev libomp-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "speclab: installing missing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    echo "speclab: missing Debian packages for fuzzing. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

export CCACHE_BASEDIR="$root"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPECLAB_FUZZ=ON -DSPECLAB_BUILD_TESTS=OFF -DSPECLAB_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_all

out="$root/build-fuzz"
"$out/fuzz/make_corpus" "$out" >/dev/null

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for src in fuzz/fuzz_*.cpp; do
    t=$(basename "$src" .cpp)
    targets+=("${t#fuzz_}")
  done
fi

# Dictionaries: fuzz/json.dict for the JSON inputs, plus fuzz/<target>.dict and the generated
# build-fuzz/dict-gen/<target>.dict when present, merged into build-fuzz/dict/<target>.dict.
json_targets=" hf_config hf_dir hf_tokenizer spec prompts heads safetensors eagle_config "
mkdir -p "$out/dict" "$out/logs"
# The harnesses fork nothing and use one thread; leaked test allocations are not findings here.
export OMP_NUM_THREADS=1
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

rows=()
found=0
for t in "${targets[@]}"; do
  bin="$out/fuzz/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz.sh: unknown target '$t' (no $bin)" >&2
    exit 2
  fi
  corpus="$out/corpus/$t"
  crashes="$out/crashes/$t"
  work="$out/work/$t"
  log="$out/logs/$t.log"
  mkdir -p "$corpus" "$crashes"
  rm -rf "$work" && mkdir -p "$work"
  dict="$out/dict/$t.dict"
  : > "$dict"
  case "$json_targets" in *" $t "*) cat fuzz/json.dict >> "$dict" ;; esac
  [ -f "fuzz/$t.dict" ] && cat "fuzz/$t.dict" >> "$dict"
  [ -f "$out/dict-gen/$t.dict" ] && cat "$out/dict-gen/$t.dict" >> "$dict"
  dict_arg=()
  [ -s "$dict" ] && dict_arg=(-dict="$dict")
  before=$(ls "$crashes" | wc -l)
  echo "== fuzz_$t: ${seconds}s (log: build-fuzz/logs/$t.log)" >&2
  rc=0
  # Empty working directory: paths named by fuzzed specs resolve to nothing.
  (cd "$work" && "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
     -print_final_stats=1 -artifact_prefix="$crashes/" "${dict_arg[@]}" "$corpus") >"$log" 2>&1 || rc=$?
  n_crash=$(( $(ls "$crashes" | wc -l) - before ))
  [ "$rc" -ne 0 ] && [ "$n_crash" -eq 0 ] && n_crash="rc=$rc"
  [ "$n_crash" != "0" ] && found=1
  # libFuzzer's last status line ("#N DONE cov: C ft: F corp: K/..b exec/s: E") and final stats.
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -z "$execs" ] && execs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  [ -z "$eps" ] && eps=$(echo "$last" | sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p')
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(ls "$corpus" | wc -l)
  rows+=("$(printf '%-18s %12s %8s %7s %7s %8s %8s' "$t" "${execs:--}" "${eps:--}" "${cov:--}" "${ft:--}" "$corp" "$n_crash")")
done

printf '\n%-18s %12s %8s %7s %7s %8s %8s\n' target executions exec/s cov ft corpus crashes
for r in "${rows[@]}"; do echo "$r"; done
if [ "$found" -ne 0 ]; then
  echo "fuzz.sh: crashes found: inputs in build-fuzz/crashes/<target>/, details in build-fuzz/logs/" >&2
  exit 1
fi
