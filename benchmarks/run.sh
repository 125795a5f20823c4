#!/usr/bin/env bash
# Run benchmark areas and print their JSON Lines on stdout (one line per figure; see
# benchmarks/support/bench.hpp for the fields).
#
#   benchmarks/run.sh NAME     one area (bench_NAME; e.g. gemm)
#   benchmarks/run.sh all      every area (every benchmarks/*.cpp)
#
# MOLM_BUILD_DIR   build directory (default: build/ in the repository); configured in Release with
#                  benchmarks on and built if it lacks the program. Build output goes to stderr.
# MOLM_NUM_THREADS threads for molm, oneDNN and the PyTorch peer (default: all cores).
# PYTHON           interpreter for the PyTorch peers (peers/AREA_torch.py; default python3); without torch,
#                  peer is null.
# MOLM_BENCH_REPS, MOLM_BENCH_WARMUP  timed and untimed repetitions per figure, on both sides, for the
#                  areas whose figure is a step seconds long (qformer; defaults 3 and 1).
# RDKIT_PYTHON     interpreter for the RDKit peers (peers/AREA_rdkit.py; default: PYTHON if it imports
#                  rdkit, else /usr/bin/python3, Debian's python3-rdkit); without rdkit, peer is null.
# LLAMA_CPP_PYTHON interpreter for the llama.cpp peers (peers/AREA_llamacpp.py; default: PYTHON); run only
#                  when it imports llama_cpp (llama-cpp-python) and gguf.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${MOLM_BUILD_DIR:-$root/build}"
python="${PYTHON:-python3}"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 NAME|all" >&2
  exit 2
fi
if [[ "$1" == all ]]; then
  areas=()
  for src in "$here"/*.cpp; do areas+=("$(basename "$src" .cpp)"); done
else
  [[ -f "$here/$1.cpp" ]] || { echo "$0: no benchmark area '$1' (no benchmarks/$1.cpp)" >&2; exit 2; }
  areas=("$1")
fi

export MOLM_NUM_THREADS="${MOLM_NUM_THREADS:-$(nproc)}"

# Configure (Release) when the build directory is new or was configured without benchmarks.
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMOLM_BUILD_BENCHMARKS=ON -DMOLM_BUILD_TESTS=OFF \
    -DMOLM_BUILD_EXAMPLES=OFF >&2
elif ! grep -q '^MOLM_BUILD_BENCHMARKS:BOOL=ON' "$build/CMakeCache.txt"; then
  cmake -S "$root" -B "$build" -DMOLM_BUILD_BENCHMARKS=ON >&2
fi

have_torch=0
if "$python" -c 'import torch' >/dev/null 2>&1; then have_torch=1; fi
rdkit_python="${RDKIT_PYTHON:-}"
if [[ -z "$rdkit_python" ]]; then
  for candidate in "$python" /usr/bin/python3; do
    if "$candidate" -c 'import rdkit' >/dev/null 2>&1; then rdkit_python="$candidate"; break; fi
  done
fi

llamacpp_python="${LLAMA_CPP_PYTHON:-$python}"
have_llamacpp=0
if "$llamacpp_python" -c 'import llama_cpp, gguf' >/dev/null 2>&1; then have_llamacpp=1; fi

peer_file="$(mktemp)"
trap 'rm -f "$peer_file"' EXIT
for area in "${areas[@]}"; do
  cmake --build "$build" --target "bench_$area" >&2
  : >"$peer_file"
  if [[ $have_torch == 1 && -f "$here/peers/${area}_torch.py" ]]; then
    "$python" "$here/peers/${area}_torch.py" >"$peer_file"
  fi
  if [[ -n "$rdkit_python" && -f "$here/peers/${area}_rdkit.py" ]]; then
    "$rdkit_python" "$here/peers/${area}_rdkit.py" >>"$peer_file"
  fi
  if [[ $have_llamacpp == 1 && -f "$here/peers/${area}_llamacpp.py" ]]; then
    "$llamacpp_python" "$here/peers/${area}_llamacpp.py" >>"$peer_file"
  fi
  "$build/bin/bench_$area" --peers "$peer_file"
done
