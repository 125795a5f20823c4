#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), builds molm in build/ (Release, Ninja, every target)
# and runs the whole test suite. The build folder can be changed with MOLM_BUILD_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-packages.sh

build="${MOLM_BUILD_DIR:-build}"
jobs="$(nproc)"
generator=(-G Ninja)
[[ -f "$build/CMakeCache.txt" ]] && generator=()  # keep the generator an existing build folder has
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$jobs"
cd "$build"
ctest --output-on-failure -j"$jobs"
