// `molm convert --from unimol IN OUT_DIR`: a released checkpoint → a molm checkpoint directory
// (config.json + model.safetensors). The configuration is read off the weights; the strict loading
// report is printed: what was loaded, what was skipped (pretraining heads) and why.
// More sources (3D-MoLM stages, HF Llama, llama2.c) join as their models land.
#pragma once

#include "command.hpp"

#include <molm/models/unimol/checkpoint.hpp>

#include <fmt/format.h>

#include <iostream>
#include <string>

namespace molm::cli {

inline Command convert_command() {
  return {"convert", "released checkpoints (Uni-Mol .pt, ...) -> a molm checkpoint directory",
          [](const std::vector<std::string>& args) {
            po::options_description options("molm convert options");
            std::string from, input, output;
            options.add_options()("from", po::value<std::string>(&from)->required(), "source model: unimol")(
                "input", po::value<std::string>(&input)->required(), "the original checkpoint")(
                "output", po::value<std::string>(&output)->required(), "the molm checkpoint directory to write");
            po::positional_options_description positional;
            positional.add("input", 1).add("output", 1);
            const auto vm = parse_command_line("convert", args, options, positional, "--from unimol IN OUT_DIR");
            if (!vm) return int(exit_ok);
            if (from != "unimol")
              throw usage_error(fmt::format("molm convert: cannot convert from '{}' (supported: unimol)", from));

            const auto report = models::unimol::convert_checkpoint(input, output);
            const auto& c = report.config;
            std::cout << fmt::format("Uni-Mol encoder: {} layers, {} wide, {} heads, FFN {}, {} Gaussian kernels, "
                                     "vocabulary {}\n",
                                     c.layers, c.embed_dim, c.heads, c.ffn_dim, c.gaussian_kernels, c.vocab_size);
            std::cout << fmt::format("loaded {} tensors strictly (missing 0, unexpected 0, mis-shaped 0)",
                                     report.loaded);
            if (!report.load.converted.empty())
              std::cout << fmt::format("; {} converted to the model's dtype", report.load.converted.size());
            std::cout << "\n";
            if (!report.skipped.empty()) {
              std::cout << fmt::format("skipped {} tensors of the pretraining heads, which 3D-MoLM does not use:",
                                       report.skipped.size());
              for (const auto& name : report.skipped) std::cout << " " << name;
              std::cout << "\n";
            }
            std::cout << "wrote " << output << "\n";
            return int(exit_ok);
          }};
}

}  // namespace molm::cli
