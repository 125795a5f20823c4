// `molm convert --from unimol IN OUT_DIR`: a released Uni-Mol checkpoint → a molm checkpoint
// directory (config.json + model.safetensors).
// `molm convert --from 3d-molm stage1.ckpt --unimol mol_pre_no_h_220816.pt [--vocab vocab.txt] OUT_DIR`:
// 3D-MoLM's stage-1 checkpoint (stage1.ckpt or stage1-ft.ckpt) and its Uni-Mol encoder → a molm
// stage-1 directory that `molm retrieve` loads (the vocabulary, SciBERT's vocab.txt, copied beside).
// The configuration is read off the weights; the strict loading report is printed: what was
// loaded, converted, skipped (Uni-Mol's pretraining heads) and why.
// `molm convert --from llama2c IN.bin [--tokenizer TOK.model] OUT_DIR` and
// `molm convert --from hf HF_DIR OUT_DIR [--tokenizer-convention plain|reference]`: a llama2.c file
// or an HF Llama folder (safetensors, sharded, or pytorch_model .bin shards) → a molm Llama
// directory (HF-loadable: config.json, model.safetensors, tokenizer.model) in --dtype f32|bf16.
// More sources (stage 2/3) join as their models land.
#pragma once

#include "command.hpp"

#include <molm/models/llama/checkpoint.hpp>
#include <molm/models/qformer/checkpoint.hpp>
#include <molm/models/unimol/checkpoint.hpp>

#include <fmt/format.h>

#include <iostream>
#include <string>

namespace molm::cli {

inline Command convert_command() {
  return {"convert", "released checkpoints (Uni-Mol .pt, ...) -> a molm checkpoint directory",
          [](const std::vector<std::string>& args) {
            po::options_description options("molm convert options");
            std::string from, input, output, unimol, vocab, tokenizer, convention = "plain", dtype_name = "f32";
            options.add_options()("from", po::value<std::string>(&from)->required(),
                                  "source: unimol (a Uni-Mol .pt), 3d-molm (a stage-1 .ckpt), llama2c (a llama2.c .bin) "
                                  "or hf (an HF Llama folder)")(
                "input", po::value<std::string>(&input)->required(), "the original checkpoint")(
                "output", po::value<std::string>(&output)->required(), "the molm checkpoint directory to write")(
                "unimol", po::value<std::string>(&unimol), "3d-molm: the Uni-Mol checkpoint (mol_pre_no_h_220816.pt)")(
                "vocab", po::value<std::string>(&vocab), "3d-molm: the WordPiece vocab.txt to keep beside the model")(
                "heads", po::value<std::int64_t>(), "3d-molm: Q-Former attention heads (default: hidden size / 64)")(
                "tokenizer", po::value<std::string>(&tokenizer), "llama2c: the SentencePiece model to keep beside it")(
                "tokenizer-convention", po::value<std::string>(&convention),
                "llama2c/hf: plain (the model file's own special tokens) or reference (3D-MoLM's, §5.2)")(
                "dtype", po::value<std::string>(&dtype_name), "llama2c/hf: f32 (default) or bf16");
            po::positional_options_description positional;
            positional.add("input", 1).add("output", 1);
            const auto vm = parse_command_line("convert", args, options, positional,
                                               "--from unimol IN OUT_DIR | --from 3d-molm STAGE1.ckpt --unimol UNIMOL.pt "
                                               "[--vocab vocab.txt] OUT_DIR | --from llama2c IN.bin [--tokenizer TOK.model] "
                                               "OUT_DIR | --from hf HF_DIR OUT_DIR");
            if (!vm) return int(exit_ok);
            if (from != "unimol" && from != "3d-molm" && from != "llama2c" && from != "hf")
              throw usage_error(
                  fmt::format("molm convert: cannot convert from '{}' (supported: unimol, 3d-molm, llama2c, hf)", from));
            if (from == "llama2c" || from == "hf") {
              if (dtype_name != "f32" && dtype_name != "bf16")
                throw usage_error(fmt::format("molm convert: --dtype must be f32 or bf16, got '{}'", dtype_name));
              if (convention != "plain" && convention != "reference")
                throw usage_error(fmt::format("molm convert: --tokenizer-convention must be plain or reference, got '{}'",
                                              convention));
              const DType dtype = dtype_name == "bf16" ? DType::bf16 : DType::f32;
              namespace llama = models::llama;
              const llama::ConvertReport r =
                  from == "llama2c" ? llama::convert_llama2c(input, tokenizer, output, dtype, convention)
                                    : llama::convert_hf(input, output, dtype, convention, tokenizer);
              if (from == "hf")
                std::cout << fmt::format("read {} tensors ({}){}\n", r.read.tensors, r.read.format,
                                         r.read.skipped.empty() ? "" : fmt::format("; skipped {} rotary_emb.inv_freq "
                                                                                   "buffers (recomputed)", r.read.skipped.size()));
              const auto& c = r.config;
              std::cout << fmt::format("Llama: {} layers, {} wide, {} heads ({} key/value), FFN {}, vocabulary {}, "
                                       "rms_norm_eps {}, rope_theta {}, {} embeddings; {} parameters in {}\n",
                                       c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads,
                                       c.intermediate_size, c.vocab_size, c.rms_norm_eps, c.rope_theta,
                                       c.tie_word_embeddings ? "tied" : "untied", c.parameter_count(), dtype_name);
              const std::filesystem::path& tok = r.tokenizer;
              std::cout << (tok.empty() ? "no tokenizer: molm generate will need --prompt-ids and --print-ids\n"
                                        : fmt::format("tokenizer {} ({} convention) copied\n", tok.string(), convention));
              std::cout << "wrote " << output << "\n";
              return int(exit_ok);
            }
            if (from == "3d-molm") {
              if (unimol.empty()) throw usage_error("molm convert --from 3d-molm: give the Uni-Mol checkpoint with --unimol");
              std::optional<std::int64_t> heads;
              if (vm->count("heads")) heads = (*vm)["heads"].as<std::int64_t>();
              const auto r = models::qformer::convert_released_stage1(input, unimol, output, vocab, heads);
              const auto& q = r.stage1.config;
              std::cout << fmt::format("stage-1 Q-Former: {} layers, {} wide, {} heads, FFN {}, vocabulary {}, {} queries, "
                                       "cross-attention every {} layers reading {}-wide rows, contrastive dim {}\n",
                                       q.num_hidden_layers, q.hidden_size, q.num_attention_heads, q.intermediate_size,
                                       q.vocab_size, q.num_query_tokens, q.cross_attention_freq, q.encoder_width,
                                       q.embed_dim);
              std::cout << fmt::format("loaded {} tensors strictly (missing 0, unexpected 0, mis-shaped 0); {} converted "
                                       "to f32\n", r.stage1.tensors, r.stage1.load.converted.size());
              const auto& u = r.unimol.config;
              std::cout << fmt::format("Uni-Mol encoder: {} layers, {} wide, {} heads; {} tensors loaded, {} pretraining-head "
                                       "tensors skipped\n", u.layers, u.embed_dim, u.heads, r.unimol.loaded,
                                       r.unimol.skipped.size());
              if (vocab.empty()) std::cout << "no --vocab: molm retrieve will need --vocab\n";
              std::cout << "wrote " << output << "\n";
              return int(exit_ok);
            }

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
