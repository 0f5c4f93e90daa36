#!/usr/bin/env bash
# Installs the Debian packages speclab needs, when they are missing.
# As root: runs apt-get. Otherwise: prints the exact apt-get line and fails.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config ccache
      libeigen3-dev libfmt-dev libcxxopts-dev libgtest-dev libgmock-dev libbenchmark-dev
      nlohmann-json3-dev libpcre2-dev gnuplot-nox)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "speclab: installing missing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "speclab: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
