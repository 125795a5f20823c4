// `molm encode --model DIR (--smiles S ... | --input FILE ...) --out OUT.npy|OUT.jsonl [--atoms]`:
// molecules → conformers (ETKDGv3 + MMFF94, seeded; an input's own 3D coordinates are kept) → the
// Uni-Mol encoder of a molm checkpoint directory → vectors.
//
//   OUT.npy    float32 [n, C]: the [CLS] vector of each encoded molecule, in input order; with --atoms
//              [total atoms, C]: every molecule's heavy-atom rows, one molecule after the other.
//              Beside it OUT.npy.provenance.jsonl: one line per input molecule — its conformer's
//              provenance, and "row" (or "rows": [first, count] with --atoms), or why it failed.
//   OUT.jsonl  one line per input molecule: the provenance and "embedding" (or "atoms" with their
//              "symbols"), or the failure.
// Exit 0 when at least one molecule was encoded; every failure is listed.
#pragma once

#include "command.hpp"

#include <molm/chem/readers.hpp>
#include <molm/io/npy.hpp>
#include <molm/models/unimol/checkpoint.hpp>
#include <molm/models/unimol/molecule_encoder.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace molm::cli {

namespace detail {
inline std::vector<float> row_values(const Tensor& t) {
  const Tensor c = t.to(DType::f32).contiguous();
  return {c.data<float>(), c.data<float>() + c.numel()};
}
}  // namespace detail

inline Command encode_command() {
  return {"encode", "molecules -> conformers -> Uni-Mol vectors ([CLS] or per atom) as .npy or .jsonl",
          [](const std::vector<std::string>& args) {
            po::options_description options("molm encode options");
            chem::EmbedOptions embed;
            chem::ReadOptions read;
            std::string model, out;
            bool atoms = false;
            std::int64_t batch = 32;
            options.add_options()("model", po::value<std::string>(&model)->required(),
                                  "a molm Uni-Mol checkpoint directory (molm convert --from unimol)")(
                "smiles", po::value<std::vector<std::string>>(), "SMILES to encode (repeatable)")(
                "input", po::value<std::vector<std::string>>(), "molecule files (as molm prepare reads them)")(
                "out", po::value<std::string>(&out)->required(), "OUT.npy or OUT.jsonl")(
                "atoms", po::bool_switch(&atoms), "per-atom vectors instead of the [CLS] vector")(
                "batch", po::value<std::int64_t>(&batch)->default_value(32), "molecules per encoder batch")(
                "threads", po::value<int>(), "worker threads (default: MOLM_NUM_THREADS, else all cores)")(
                "seed", po::value<int>(&embed.seed)->default_value(42), "ETKDGv3 seed")(
                "allow-2d", po::bool_switch(&embed.allow_2d), "when embedding fails, use 2D coordinates (marked)")(
                "smiles-column", po::value<std::string>(&read.smiles_column)->default_value("smiles"),
                "CSV/TSV column (JSONL field) holding the SMILES");
            po::positional_options_description positional;
            positional.add("input", -1);
            const auto vm = parse_command_line("encode", args, options, positional,
                                               "--model DIR (--smiles S | INPUT...) --out OUT.npy|OUT.jsonl [--atoms]");
            if (!vm) return int(exit_ok);
            apply_threads_option(*vm, "encode");
            const bool npy = out.size() > 4 && out.substr(out.size() - 4) == ".npy";
            const bool jsonl = out.size() > 6 && out.substr(out.size() - 6) == ".jsonl";
            if (!npy && !jsonl) throw usage_error("molm encode: --out must end in .npy or .jsonl");
            if (!vm->count("smiles") && !vm->count("input"))
              throw usage_error("molm encode: give molecules with --smiles or input files");

            std::vector<chem::Molecule> molecules;
            if (vm->count("smiles"))
              for (const auto& s : (*vm)["smiles"].as<std::vector<std::string>>()) molecules.push_back(chem::parse_smiles(s));
            if (vm->count("input"))
              for (const auto& f : (*vm)["input"].as<std::vector<std::string>>())
                chem::for_each_molecule(f, [&](chem::Molecule&& m) { molecules.push_back(std::move(m)); }, read);

            const models::unimol::MoleculeEncoder encoder(models::unimol::load_encoder(model),
                                                          chem::UnimolDictionary::reference(), embed, batch);
            std::vector<chem::Conformer> conformers(molecules.size());
#pragma omp parallel for schedule(dynamic, 1)
            for (std::size_t i = 0; i < molecules.size(); ++i) conformers[i] = chem::embed(molecules[i], embed);

            std::vector<chem::Conformer> good;
            for (const auto& c : conformers)
              if (c.ok()) good.push_back(c);
            const auto encodings = encoder.encode(good);

            const std::int64_t C = encoder.encoder().config().embed_dim;
            std::vector<float> matrix;
            std::ofstream side(npy ? out + ".provenance.jsonl" : out, std::ios::trunc);
            if (!side) MOLM_THROW("encode", "cannot write {}", npy ? out + ".provenance.jsonl" : out);
            std::size_t next = 0, row = 0, failed = 0;
            for (const auto& c : conformers) {
              nlohmann::json line = c.provenance;
              if (!c.ok()) {
                ++failed;
              } else {
                const auto& e = encodings[next++];
                const Tensor v = atoms ? e.atoms : e.cls;
                const auto values = detail::row_values(v);
                const std::size_t rows = atoms ? static_cast<std::size_t>(e.atoms.shape()[0]) : 1;
                if (npy) {
                  matrix.insert(matrix.end(), values.begin(), values.end());
                  if (atoms) line["rows"] = {row, rows};
                  else line["row"] = row;
                } else if (atoms) {
                  nlohmann::json a = nlohmann::json::array();
                  for (std::size_t r = 0; r < rows; ++r)
                    a.push_back(std::vector<float>(values.begin() + static_cast<std::ptrdiff_t>(r * C),
                                                   values.begin() + static_cast<std::ptrdiff_t>((r + 1) * C)));
                  line["atoms"] = a;
                  line["symbols"] = e.symbols;
                } else {
                  line["embedding"] = values;
                }
                row += rows;
              }
              side << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            }
            if (npy) {
              Tensor t = Tensor::empty({static_cast<std::int64_t>(row), C}, DType::f32);
              std::copy(matrix.begin(), matrix.end(), t.data<float>());
              save_npy(out, t);
            }
            std::cerr << fmt::format("[encode] {} molecules: {} encoded, {} failed{} -> {}\n", molecules.size(),
                                     encodings.size(), failed,
                                     failed ? fmt::format(" (reasons in {})", npy ? out + ".provenance.jsonl" : out) : "",
                                     out);
            return int(encodings.empty() ? exit_failure : exit_ok);
          }};
}

}  // namespace molm::cli
