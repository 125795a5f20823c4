#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), builds molm in build/ (Release, Ninja: the library
# targets, the command line, examples and every test) and runs the whole test suite. The benchmark
# programs are left out (benchmarks/run.sh builds them; MOLM_BUILD_BENCHMARKS=ON here builds them
# too): at -O3 they cost CI minutes and test nothing. The build folder can be changed with MOLM_BUILD_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-packages.sh
python3 scripts/check-layers.py     # the include layer order of docs/architecture.md, before compiling
python3 scripts/check-citations.py  # every § a header cites resolves in docs/

build="${MOLM_BUILD_DIR:-build}"
jobs="$(nproc)"
generator=(-G Ninja)
[[ -f "$build/CMakeCache.txt" ]] && generator=()  # keep the generator an existing build folder has
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMOLM_BUILD_BENCHMARKS="${MOLM_BUILD_BENCHMARKS:-OFF}"
cmake --build "$build" -j"$jobs"
cd "$build"
ctest --output-on-failure -j"$jobs"
