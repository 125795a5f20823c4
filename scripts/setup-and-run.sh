#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), builds the main job and runs it. Today the main job
# is examples/autograd_tour.cpp (tensors, autograd, a small network trained on CPU); it becomes
# `molm demo` when the models and training stages exist. The build folder can be changed with MOLM_BUILD_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-packages.sh

build="${MOLM_BUILD_DIR:-build}"
generator=(-G Ninja)
[[ -f "$build/CMakeCache.txt" ]] && generator=()  # keep the generator an existing build folder has
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)" --target example_autograd_tour
"$build/bin/example_autograd_tour"
