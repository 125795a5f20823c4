#!/usr/bin/env bash
# The readers of untrusted files under AddressSanitizer + UndefinedBehaviorSanitizer, then each
# libFuzzer target for a fixed number of inputs. Builds with clang in build-sanitizers/ (change with
# MOLM_SANITIZER_BUILD_DIR) only what it runs: the io test suites and the fuzz targets.
# MOLM_FUZZ_RUNS sets the inputs per fuzz target (default 20000). Header-only (MOLM_COMPILED=OFF): the io
# suites call few kernels, and compiling all of molm::compiled under the sanitizers would cost more.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-packages.sh
bash scripts/install-packages.sh scripts/debian-packages-sanitizers.txt

build="${MOLM_SANITIZER_BUILD_DIR:-build-sanitizers}"
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DMOLM_TEST_OPTIMIZE=-O1 -DMOLM_WITH_RDKIT=OFF -DMOLM_BUILD_EXAMPLES=OFF -DMOLM_BUILD_BENCHMARKS=OFF \
  -DMOLM_BUILD_FUZZERS=ON -DMOLM_FUZZ_RUNS="${MOLM_FUZZ_RUNS:-20000}" -DMOLM_COMPILED=OFF

# Build exactly what runs: the io suites (test_io, CTest label io) and the fuzz targets (fuzz_*).
mapfile -t targets < <(ninja -C "$build" -t targets all | sed -n -E 's/^(test_io|fuzz_[A-Za-z0-9_]+):.*/\1/p' | sort -u)
((${#targets[@]} > 0)) || { echo "error: no io test or fuzz targets found in $build" >&2; exit 1; }
ninja -C "$build" -j"$(nproc)" "${targets[@]}"
cd "$build"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$(nproc)" -L '^(io|fuzz)$'
