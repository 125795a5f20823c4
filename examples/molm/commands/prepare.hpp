// `molm prepare INPUT... --out CACHE`: molecules (SMILES, SDF/MOL, MOL2, PDB, CSV/TSV, JSONL, XYZ files,
// plain or .gz) → conformers with provenance (chem/conformer.hpp) → the LMDB conformer cache
// (data/conformer_cache.hpp).
//
// All cores (OpenMP over molecules), a progress line on a terminal (rate, ETA; a plain line every
// 10 s otherwise), and a JSONL report: one provenance record per molecule, then a summary line.
// Resumable: molecules already in the cache with the same settings are not embedded again (they are
// reported as "cached"), and results are committed in batches, so a killed run keeps every batch
// it finished. Failures are cached too (reported again with their reason and "cached": true), so
// a rerun does not repeat a minute of ETKDG on a molecule it cannot embed; --retry-failed retries. Exit status 0 when at least one molecule has a conformer; every failure is listed.
#pragma once

#include "command.hpp"

#include <molm/chem/conformer.hpp>
#include <molm/chem/readers.hpp>
#include <molm/core/threads.hpp>
#include <molm/data/conformer_cache.hpp>
#include <molm/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace molm::cli {

namespace detail {

/// What the cached conformers depend on: a change here makes a new cache key, never a stale hit.
inline nlohmann::json prepare_settings(const chem::EmbedOptions& o) {
  return {{"record_format", data::ConformerCache::kVersion},
          {"method", "ETKDGv3"},
          {"seed", o.seed},
          {"random_coords_retry", o.random_coords_retry},
          {"mmff", o.mmff ? o.mmff_variant : "none"},
          {"mmff_max_iterations", o.mmff_max_iterations},
          {"use_input_3d", o.use_input_3d},
          {"allow_2d", o.allow_2d},
          {"keep_hydrogens", o.keep_hydrogens},
          {"max_atoms", o.max_atoms},
          {"crop", o.crop}};
}

/// A progress line: rewritten in place on a terminal, printed every 10 s otherwise.
class Progress {
 public:
  explicit Progress(std::size_t total) : total_(total), tty_(::isatty(STDERR_FILENO) != 0), start_(now()) {}
  void update(std::size_t done, bool final = false) {
    const double t = now() - start_;
    if (!final && !tty_ && t - last_ < 10.0) return;
    if (final && !tty_ && done == last_done_) return;  // already printed
    last_ = t;
    last_done_ = done;
    const double rate = t > 0 ? static_cast<double>(done) / t : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
    const std::string line = fmt::format("[prepare] {}/{} molecules  {:.1f}/s  elapsed {:.0f}s  ETA {:.0f}s", done,
                                         total_, rate, t, eta);
    if (tty_) std::cerr << "\r" << line << (final ? "\n" : "") << std::flush;
    else std::cerr << line << "\n";
  }

 private:
  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  std::size_t total_;
  bool tty_;
  double start_, last_ = -1e9;
  std::size_t last_done_ = static_cast<std::size_t>(-1);
};

}  // namespace detail

inline Command prepare_command() {
  return {"prepare",
          "molecules (SMILES/SDF/MOL2/PDB/CSV/TSV/JSONL/XYZ[.gz]) -> conformers with provenance -> LMDB cache + report",
          [](const std::vector<std::string>& args) {
            po::options_description options("molm prepare options");
            chem::EmbedOptions embed;
            chem::ReadOptions read;
            std::size_t batch = 256;
            bool retry_failed = false;
            options.add_options()("input", po::value<std::vector<std::string>>()->required(),
                                  "molecule files (.smi .sdf .mol .mol2 .pdb .csv .tsv .jsonl .xyz, each also .gz)")(
                "out", po::value<std::string>()->required(), "the LMDB conformer cache (a file; created if missing)")(
                "report", po::value<std::string>(), "JSONL report: one provenance record per molecule, then a summary")(
                "threads", po::value<int>(), "worker threads (default: MOLM_NUM_THREADS, else all cores)")(
                "seed", po::value<int>(&embed.seed)->default_value(42), "ETKDGv3 seed (also seeds --crop)")(
                "allow-2d", po::bool_switch(&embed.allow_2d), "when embedding fails, keep 2D coordinates (marked)")(
                "max-atoms", po::value<std::size_t>(&embed.max_atoms)->default_value(256),
                "largest molecule (heavy atoms) accepted")(
                "crop", po::bool_switch(&embed.crop), "crop larger molecules to --max-atoms (seeded) instead of failing")(
                "timeout", po::value<double>(&embed.timeout_seconds)->default_value(60), "seconds per molecule")(
                "format", po::value<std::string>(&read.format),
                "input format when the extension does not say (smi sdf mol2 pdb csv tsv jsonl xyz)")(
                "smiles-column", po::value<std::string>(&read.smiles_column)->default_value("smiles"),
                "CSV/TSV column (JSONL field) holding the SMILES")(
                "batch", po::value<std::size_t>(&batch)->default_value(256), "molecules per committed batch")(
                "retry-failed", po::bool_switch(&retry_failed), "embed again the molecules the cache records as failed");
            po::positional_options_description positional;
            positional.add("input", -1);
            const auto vm = parse_command_line("prepare", args, options, positional,
                                               "INPUT... --out CACHE [--report R.jsonl] [options]");
            if (!vm) return int(exit_ok);
            apply_threads_option(*vm, "prepare");
            if (batch == 0) throw usage_error("molm prepare: --batch must be at least 1");

            // Read every input first: a missing file or column stops here, before any work.
            std::vector<chem::Molecule> molecules;
            for (const auto& input : (*vm)["input"].as<std::vector<std::string>>())
              chem::for_each_molecule(input, [&](chem::Molecule&& m) { molecules.push_back(std::move(m)); }, read);

            const data::ConformerCache cache((*vm)["out"].as<std::string>());
            const std::uint64_t settings = data::settings_hash(detail::prepare_settings(embed));
            std::ofstream report;
            if (vm->count("report")) {
              report.open((*vm)["report"].as<std::string>(), std::ios::trunc);
              if (!report) MOLM_THROW("prepare", "cannot write the report {}", (*vm)["report"].as<std::string>());
            }

            std::map<std::string, std::size_t> by_status, by_method;
            std::size_t ok = 0, cached = 0, failed = 0, cached_failures = 0;
            detail::Progress progress(molecules.size());
            for (std::size_t begin = 0; begin < molecules.size(); begin += batch) {
              const std::size_t end = std::min(molecules.size(), begin + batch);
              std::vector<chem::Conformer> results(end - begin);
              std::vector<std::optional<data::CachedConformer>> hits(end - begin);
#pragma omp parallel for schedule(dynamic, 1)
              for (std::size_t i = begin; i < end; ++i) {
                const chem::Molecule& m = molecules[i];
                if (m.mol) {
                  auto hit = cache.get(chem::canonical_smiles(*m.mol), settings);
                  if (hit && (hit->ok() || !retry_failed)) {
                    hits[i - begin] = std::move(hit);
                    continue;
                  }
                }
                results[i - begin] = chem::embed(m, embed);
              }
              auto writer = cache.writer();
              for (std::size_t i = begin; i < end; ++i) {
                const chem::Conformer& c = results[i - begin];
                const auto& hit = hits[i - begin];
                const chem::Molecule& m = molecules[i];
                nlohmann::json record;
                if (hit && hit->ok()) {
                  record = {{"input", m.input}, {"file", m.file}, {"record", m.record},
                            {"canonical_smiles", hit->smiles}, {"status", "cached"}};
                  ++cached;
                  ++by_status["cached"];
                } else if (hit) {  // a failure recorded by an earlier run: reported again, not retried
                  record = hit->provenance;
                  record["input"] = m.input;
                  record["file"] = m.file;
                  record["record"] = m.record;
                  record["cached"] = true;
                  ++failed;
                  ++cached_failures;
                  ++by_status[record.value("status", "?")];
                } else {
                  record = c.provenance;
                  ++by_status[record.value("status", "?")];
                  data::CachedConformer entry;
                  entry.smiles = c.provenance.canonical_smiles;
                  entry.settings = settings;
                  entry.provenance = record;
                  if (c.ok()) {
                    ++ok;
                    ++by_method[record.value("method", "?")];
                    entry.elements = c.symbols;
                    for (const auto& p : c.positions) entry.coordinates.insert(entry.coordinates.end(), p.begin(), p.end());
                  } else {
                    ++failed;
                  }
                  if (!entry.smiles.empty()) writer.put(entry);  // unparsable input has no key
                }
                if (report) report << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
              }
              writer.commit();  // this batch is now safe from a kill
              report.flush();
              progress.update(end);
            }
            progress.update(molecules.size(), true);

            const nlohmann::json summary = {{"summary",
                                             {{"molecules", molecules.size()}, {"ok", ok}, {"cached", cached},
                                              {"failed", failed}, {"failed_from_cache", cached_failures},
                                              {"by_status", by_status}, {"by_method", by_method},
                                              {"cache", cache.path().string()}, {"cache_records", cache.size()},
                                              {"settings", detail::prepare_settings(embed)},
                                              {"molm_version", molm::version()}}}};
            if (report) report << summary.dump() << "\n";
            std::cerr << fmt::format("[prepare] {} molecules: {} new conformers, {} from the cache, {} failed", molecules.size(),
                                     ok, cached, failed);
            for (const auto& [status, n] : by_status)
              if (status != "ok" && status != "cached") std::cerr << fmt::format("; {} {}", n, status);
            if (cached_failures)
              std::cerr << fmt::format(" ({} known from the cache; --retry-failed embeds them again)", cached_failures);
            std::cerr << "\n";
            if (failed && !report) std::cerr << "[prepare] pass --report FILE to list every failure with its reason\n";
            return int(ok + cached > 0 ? exit_ok : exit_failure);
          }};
}

}  // namespace molm::cli
