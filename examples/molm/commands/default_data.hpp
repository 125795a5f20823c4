// `molm default-data --out DIR`: build the embedded default data set (data/default_set.hpp) from
// RDKit's NCI molecules and write it as files — molecules with descriptors, scaffold split,
// property QA in 3D-MoLM's instruction format, template descriptions (all marked derived).
// `molm prepare DIR/molecules.jsonl --out CACHE` then makes their conformers.
#pragma once

#include "command.hpp"

#include <molm/data/default_set.hpp>

#include <fmt/format.h>

#include <iostream>
#include <string>
#include <vector>

namespace molm::cli {

inline Command default_data_command() {
  return {"default-data", "build the embedded default data set (RDKit's NCI molecules -> scaffold split, property QA, derived descriptions)",
          [](const std::vector<std::string>& args) {
            po::options_description options("molm default-data options");
            data::DefaultSetOptions set_options;
            std::string smiles;
            options.add_options()("out", po::value<std::string>()->required(), "output folder")(
                "smiles", po::value<std::string>(&smiles),
                "SMILES file to use instead of RDKit's NCI first_5K.smi (\"SMILES name\" per line)")(
                "seed", po::value<std::uint64_t>(&set_options.seed)->default_value(0), "seed of the question templates")(
                "limit", po::value<std::size_t>(&set_options.limit)->default_value(0),
                "use only the first N molecules (0 = all)")(
                "train", po::value<double>(&set_options.train_fraction)->default_value(0.8), "train fraction")(
                "valid", po::value<double>(&set_options.valid_fraction)->default_value(0.1), "valid fraction (test: the rest)")(
                "threads", po::value<int>(), "worker threads (default: all cores)");
            const auto vm = parse_command_line("default-data", args, options, {}, "--out DIR [options]");
            if (!vm) return int(exit_ok);
            apply_threads_option(*vm, "default-data");
            set_options.smiles_file = smiles;
            const auto set = data::build_default_set(set_options);
            const std::string out = (*vm)["out"].as<std::string>();
            data::write_default_set(set, out);
            std::size_t questions = 0;
            for (const auto& m : set.molecules) questions += m.questions.size();
            std::cerr << fmt::format("[default-data] {}: {} molecules ({} train, {} valid, {} test by scaffold), {} "
                                     "could not be read; {} property questions; written to {}\n",
                                     set.source.string(), set.molecules.size(), set.count(data::Split::train),
                                     set.count(data::Split::valid), set.count(data::Split::test), set.failures.size(),
                                     questions, out);
            return int(set.molecules.empty() ? exit_failure : exit_ok);
          }};
}

}  // namespace molm::cli
