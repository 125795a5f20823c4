#!/usr/bin/env bash
# The compile-time figures of issue #14, as JSON Lines (seconds, wall clock, this machine):
#   baseline        a file that includes <Eigen/Dense> and <dnnl.hpp> and uses both (g++ -O2)
#   header_only     a file that includes <molm/molm.hpp> and runs one matmul, header-only (g++ -O2),
#                   with the flags a consumer gets from molm's CMake target or molm.pc: spdlog and fmt
#                   as the compiled libraries Debian ships (pkg-config --cflags spdlog fmt)
#   compiled        the same file against molm::compiled (-DMOLM_COMPILED: no kernel compiled)
#   model_edit      a one-line change in models/unimol/encoder.hpp: rebuild and relink its tests
#                   (needs a configured build folder, MOLM_BUILD_DIR, default build/)
# Each figure is the median of MOLM_COMPILE_RUNS runs (default 3). Run it on an idle machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${MOLM_COMPILE_RUNS:-3}"
build="${MOLM_BUILD_DIR:-build}"
work="$(mktemp -d)"
header=include/molm/models/unimol/encoder.hpp
cp "$header" "$work/encoder.hpp"
trap 'cp "$work/encoder.hpp" "$header"; rm -rf "$work"' EXIT
cxx="${CXX:-g++}"
flags=(-std=c++20 -O2 -fopenmp -I include -I /usr/include/eigen3)
# What molm::molm (spdlog::spdlog, fmt::fmt) and molm.pc (Requires: spdlog fmt) add to a consumer.
read -r -a consumer_flags <<< "$(pkg-config --cflags spdlog fmt)"

cat > "$work/baseline.cpp" <<'CPP'
#include <Eigen/Dense>
#include <oneapi/dnnl/dnnl.hpp>
int main() {
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(64, 64), b = a * a;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::memory::desc md({64, 64}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
  dnnl::memory m(md, eng, b.data());
  return m.get_desc().get_size() > 0 ? 0 : 1;
}
CPP
cat > "$work/consumer.cpp" <<'CPP'
#include <molm/molm.hpp>
int main() {
  molm::Tensor a = molm::ones({1, 64}), b = molm::ones({64, 1});
  return molm::matmul(a, b).item<float>() == 64.0f ? 0 : 1;
}
CPP

# median of the wall times of running "$@" $runs times
median() {
  local times=()
  for ((i = 0; i < runs; ++i)); do
    local s e
    s=$(date +%s.%N)
    "$@" > /dev/null
    e=$(date +%s.%N)
    times+=("$(echo "$e - $s" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'
}

base=$(median "$cxx" "${flags[@]}" -c "$work/baseline.cpp" -o "$work/b.o")
echo "{\"figure\": \"baseline\", \"seconds\": $base}"
ho=$(median "$cxx" "${flags[@]}" "${consumer_flags[@]}" -c "$work/consumer.cpp" -o "$work/h.o")
# The consumer links and runs (its matmul gives 64): the figure is for a working program.
read -r -a consumer_libs <<< "$(pkg-config --libs spdlog fmt)"
"$cxx" -fopenmp "$work/h.o" -o "$work/h" "${consumer_libs[@]}" -ldnnl
runs_ok=false
"$work/h" && runs_ok=true
echo "{\"figure\": \"header_only\", \"seconds\": $ho, \"times_baseline\": $(echo "scale=1; $ho / $base" | bc), \"runs\": $runs_ok}"
co=$(median "$cxx" "${flags[@]}" "${consumer_flags[@]}" -DMOLM_COMPILED -c "$work/consumer.cpp" -o "$work/c.o")
echo "{\"figure\": \"compiled\", \"seconds\": $co, \"times_baseline\": $(echo "scale=1; $co / $base" | bc)}"

if [[ -f "$build/build.ninja" ]]; then
  ninja -C "$build" test_models_unimol > /dev/null
  edit() { echo "// compile-times.sh $(date +%s%N)" >> "$header"; ninja -C "$build" test_models_unimol; }
  me=$(median edit)
  cp "$work/encoder.hpp" "$header"
  ninja -C "$build" test_models_unimol > /dev/null
  echo "{\"figure\": \"model_edit\", \"seconds\": $me, \"target\": \"test_models_unimol\"}"
else
  echo "{\"figure\": \"model_edit\", \"seconds\": null, \"why\": \"no configured Ninja build in $build\"}"
fi
