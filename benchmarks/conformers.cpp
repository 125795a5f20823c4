// bench_conformers: molecules per second for the conformer step of `molm prepare` on real NCI
// molecules (RDKit's first_5K.smi): SMILES → add H → ETKDGv3 (seed 42; random-coordinates retry)
// → MMFF94 (200 iterations, when MMFF can type the molecule) → remove H. The peer
// (peers/conformers_rdkit.py) makes the same RDKit calls from Python, in a process pool of the
// same size, as a Python pipeline would run them; both use the same RDKit (Debian's 2022.09).
//
// MOLM_BENCH_CONFORMERS_N molecules (default 400): the first N lines of the file.
// limit: the single-thread molm rate × threads — perfect scaling of molm itself.
#include "support/bench.hpp"

#include <molm/chem/conformer.hpp>
#include <molm/data/default_set.hpp>

#include <cstdlib>
#include <fstream>

using namespace molm;

namespace {

std::vector<std::string> nci_smiles(std::size_t n) {
  std::ifstream in(data::find_nci_smiles());
  std::vector<std::string> out;
  for (std::string line; out.size() < n && std::getline(in, line);) {
    const auto cut = line.find_first_of(" \t");
    if (cut != 0 && !line.empty()) out.push_back(line.substr(0, cut));
  }
  return out;
}

/// Parse and embed every SMILES on `threads` threads; returns how many got a conformer.
std::size_t embed_all(const std::vector<std::string>& smiles, int threads) {
  chem::EmbedOptions options;  // seed 42, ETKDGv3, random-coords retry, MMFF94 200 iterations, no H
  std::size_t ok = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) reduction(+ : ok)
  for (std::size_t i = 0; i < smiles.size(); ++i) {
    const auto m = chem::parse_smiles(smiles[i]);
    if (m.ok()) ok += chem::embed(m, options).ok() ? 1 : 0;
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Peers peers = bench::Peers::from_args(argc, argv);
  const int threads = bench::bench_threads();
  const char* env_n = std::getenv("MOLM_BENCH_CONFORMERS_N");
  const std::size_t n = env_n ? std::strtoul(env_n, nullptr, 10) : 400;
  const auto smiles = nci_smiles(n);
  const std::string shape = fmt::format("nci{}", smiles.size());

  bench::Budget budget;
  budget.warmup = 0;  // RDKit has no caches to warm; a run is seconds long
  budget.min_reps = 3;
  budget.min_time_s = 0;
  std::size_t ok = 0;
  const double single = static_cast<double>(smiles.size()) /
                        bench::median_times({[&] { ok = embed_all(smiles, 1); }}, budget)[0];
  std::fprintf(stderr, "[conformers] %zu of %zu molecules got a conformer\n", ok, smiles.size());
  bench::emit({.bench = "conformers_etkdgv3_mmff94", .shape = shape, .dtype = "f64", .threads = 1, .molm = single,
               .peer = peers.get("conformers_etkdgv3_mmff94", shape, "threads=1"), .peer_name = "python-rdkit",
               .unit = "molecules/s", .limit = single});
  if (threads > 1) {
    const double parallel = static_cast<double>(smiles.size()) /
                            bench::median_times({[&] { embed_all(smiles, threads); }}, budget)[0];
    bench::emit({.bench = "conformers_etkdgv3_mmff94", .shape = shape, .dtype = "f64", .threads = threads,
                 .molm = parallel,
                 .peer = peers.get("conformers_etkdgv3_mmff94", shape, fmt::format("threads={}", threads)),
                 .peer_name = fmt::format("python-rdkit multiprocessing.Pool({})", threads), .unit = "molecules/s",
                 .limit = single * threads});
  }
}
