// `molm generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--max-new-tokens N]
//                [--greedy | --beams K [--length-penalty L] [--repetition-penalty R] [--min-new-tokens M]
//                 | --temperature T --top-k K --top-p P --seed S] [--print-ids] [--dtype f32|bf16]
//                [--activations f32|bf16] [--threads N]`
// Plain text generation with the decoder alone (models/llama/generate.hpp: HF 4.35's greedy and
// beam search, seeded sampling). DIR is a molm Llama directory (molm convert --from llama2c|hf) or
// an HF Llama folder. --prompt needs the folder's tokenizer.model (molm's LlamaTokenizer, in the
// convention config.json names; BOS first, as HF's tokenizer adds it).
// stdout: the generated text (special tokens dropped); with --print-ids only the new ids,
// space-separated, on one line. stderr: a llama.cpp-style summary: load time, prompt and decode
// speed, memory. --dtype int8 quantizes every projection and lm_head at load (blocks of 32 with an
// f32 scale, models/llama quantize_int8); activations stay in --activations (f32 by default; bf16
// halves the memory the load passes through, for 7B models).
#pragma once

#include "command.hpp"

#include <molm/models/llama/checkpoint.hpp>
#include <molm/models/llama/generate.hpp>
#ifdef MOLM_HAVE_TEXT
#include <molm/text/llama_tokenizer.hpp>
#endif

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>

namespace molm::cli {

namespace detail {

/// "1,2,3" (commas and/or spaces) → ids.
inline std::vector<std::int64_t> parse_ids(const std::string& text) {
  std::vector<std::int64_t> ids;
  std::string token;
  std::istringstream in(text);
  while (std::getline(in, token, ',')) {
    std::istringstream words(token);
    std::string w;
    while (words >> w) {
      std::size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(w, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != w.size() || v < 0) throw usage_error(fmt::format("molm generate: --prompt-ids: '{}' is not a token id", w));
      ids.push_back(v);
    }
  }
  if (ids.empty()) throw usage_error("molm generate: --prompt-ids is empty");
  return ids;
}

inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

}  // namespace detail

inline Command generate_command() {
  return {"generate", "text generation with a Llama decoder (greedy, beam search, sampling)",
          [](const std::vector<std::string>& args) {
            namespace llama = models::llama;
            po::options_description options("molm generate options");
            std::string model_dir, prompt, prompt_ids, dtype_name = "f32", activations = "f32";
            llama::GenerationConfig g;
            g.max_new_tokens = 64;
            options.add_options()("model", po::value<std::string>(&model_dir)->required(),
                                  "molm Llama directory or HF Llama folder")(
                "prompt", po::value<std::string>(&prompt), "prompt text (needs the folder's tokenizer.model)")(
                "prompt-ids", po::value<std::string>(&prompt_ids), "prompt token ids, e.g. 1,2,3 (BOS included if wanted)")(
                "max-new-tokens", po::value<std::int64_t>(&g.max_new_tokens)->default_value(64), "most new tokens")(
                "min-new-tokens", po::value<std::int64_t>(&g.min_new_tokens)->default_value(0), "EOS forbidden before this many")(
                "greedy", "greedy decoding (the default)")(
                "beams", po::value<int>(), "beam search with K beams (HF 4.35 semantics)")(
                "length-penalty", po::value<double>(&g.length_penalty)->default_value(1.0), "beam score = logprob / length^L")(
                "repetition-penalty", po::value<double>(&g.repetition_penalty)->default_value(1.0), "HF's repetition penalty")(
                "temperature", po::value<double>(), "sample with this temperature")(
                "top-k", po::value<std::int64_t>(), "sampling: keep the K most likely (default 50, 0 = all)")(
                "top-p", po::value<double>(), "sampling: nucleus mass (default 1 = off)")(
                "seed", po::value<std::uint64_t>(), "sampling seed (default 0)")(
                "no-eos", "never stop on EOS (run to --max-new-tokens)")(
                "print-ids", "print only the new token ids, space-separated, on one line")(
                "dtype", po::value<std::string>(&dtype_name)->default_value("f32"), "weights in f32, bf16 or int8")(
                "activations", po::value<std::string>(&activations)->default_value("f32"),
                "with --dtype int8: f32 or bf16 activations (and the floating weights loaded before quantizing)")(
                "threads", po::value<int>(), "CPU threads");
            const auto vm = parse_command_line(
                "generate", args, options, {},
                "--model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--max-new-tokens N] [--greedy | --beams K "
                "[--length-penalty L] [--repetition-penalty R] | --temperature T --top-k K --top-p P --seed S] "
                "[--print-ids] [--dtype f32|bf16|int8 [--activations f32|bf16]] [--threads N]");
            if (!vm) return int(exit_ok);
            apply_threads_option(*vm, "generate");
            if (vm->count("prompt") == vm->count("prompt-ids"))
              throw usage_error("molm generate: give exactly one of --prompt and --prompt-ids");
            const bool sampling = vm->count("temperature") || vm->count("top-k") || vm->count("top-p") || vm->count("seed");
            if (int(vm->count("greedy")) + int(vm->count("beams") > 0) + int(sampling) > 1)
              throw usage_error("molm generate: --greedy, --beams and sampling (--temperature/--top-k/--top-p/--seed) "
                                "exclude each other");
            if (vm->count("beams")) g.num_beams = (*vm)["beams"].as<int>();
            if (sampling) {
              g.do_sample = true;
              if (vm->count("temperature")) g.temperature = (*vm)["temperature"].as<double>();
              if (vm->count("top-k")) g.top_k = (*vm)["top-k"].as<std::int64_t>();
              if (vm->count("top-p")) g.top_p = (*vm)["top-p"].as<double>();
              if (vm->count("seed")) g.seed = (*vm)["seed"].as<std::uint64_t>();
            }
            if (vm->count("no-eos")) g.eos_enabled = false;
            DType dtype = DType::f32;
            if (dtype_name == "bf16") dtype = DType::bf16;
            else if (dtype_name == "int8" && activations == "bf16") dtype = DType::bf16;
            else if (dtype_name != "f32" && dtype_name != "int8")
              throw usage_error(fmt::format("molm generate: --dtype must be f32, bf16 or int8, got '{}'", dtype_name));
            if (activations != "f32" && activations != "bf16")
              throw usage_error(fmt::format("molm generate: --activations must be f32 or bf16, got '{}'", activations));
            try {
              g.validate();
            } catch (const error& e) {
              throw usage_error(fmt::format("molm generate: {}", e.what()));
            }

            const auto t0 = std::chrono::steady_clock::now();
            llama::LoadReport report;
            const auto lm = llama::load(model_dir, dtype, &report);
            const std::uint64_t int8_bytes = dtype_name == "int8" ? llama::quantize_int8(*lm) : 0;
            const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

#ifdef MOLM_HAVE_TEXT
            std::optional<text::LlamaTokenizer> tokenizer;
            const auto tokenizer_path = std::filesystem::path(model_dir) / "tokenizer.model";
            if (std::filesystem::is_regular_file(tokenizer_path)) {
              std::string convention = "plain";
              if (report.molm.is_object() && report.molm.contains("tokenizer"))
                convention = report.molm["tokenizer"].value("convention", "plain");
              tokenizer.emplace(tokenizer_path, convention == "reference" ? text::LlamaConvention::reference
                                                                           : text::LlamaConvention::plain);
            }
#endif
            std::vector<std::int64_t> ids;
            if (vm->count("prompt-ids")) {
              ids = detail::parse_ids(prompt_ids);
            } else {
#ifdef MOLM_HAVE_TEXT
              if (!tokenizer)
                MOLM_THROW("generate", "{} has no tokenizer.model: use --prompt-ids", model_dir);
              ids = tokenizer->encode(prompt);
#else
              MOLM_THROW("generate", "this molm was built without molm::text (SentencePiece): use --prompt-ids");
#endif
            }
            const auto r = llama::generate_ids(*lm, ids, g);

            if (vm->count("print-ids")) {
              std::string line;
              for (auto id : r.tokens) line += (line.empty() ? "" : " ") + std::to_string(id);
              std::cout << line << "\n";
            } else {
#ifdef MOLM_HAVE_TEXT
              if (!tokenizer)
                MOLM_THROW("generate", "{} has no tokenizer.model to decode with: use --print-ids", model_dir);
              std::cout << tokenizer->decode(r.tokens) << "\n";
#else
              MOLM_THROW("generate", "this molm was built without molm::text (SentencePiece): use --print-ids");
#endif
            }
            std::uint64_t weight_bytes = int8_bytes;  // + the floating parameters (released int8 ones hold none)
            for (auto& p : lm->parameters()) weight_bytes += static_cast<std::uint64_t>(p.numel()) * itemsize(p.dtype());
            const llama::Config& c = lm->config();
            const double kv_mib = static_cast<double>(r.kv_cache_bytes) / (1 << 20);
            const auto rate = [](double n, double s) { return s > 0 ? n / s : 0.0; };
            std::cerr << fmt::format("molm generate: {} ({} layers, {} wide, vocab {}, {}, {:.1f} MiB of weights), {}\n",
                                     model_dir, c.num_hidden_layers, c.hidden_size, c.vocab_size, dtype_name,
                                     weight_bytes / 1048576.0,
                                     g.do_sample ? "sampling" : g.num_beams > 1 ? fmt::format("{} beams", g.num_beams) : "greedy");
            std::cerr << fmt::format("load time   = {:10.2f} ms\n", load_ms);
            std::cerr << fmt::format("prompt eval = {:10.2f} ms / {:5d} tokens ({:8.2f} tok/s)\n", r.prompt_seconds * 1e3,
                                     r.prompt_positions, rate(double(r.prompt_positions), r.prompt_seconds));
            std::cerr << fmt::format("decode      = {:10.2f} ms / {:5d} steps  ({:8.2f} tok/s{})\n", r.decode_seconds * 1e3,
                                     r.decode_steps, rate(double(r.decode_steps), r.decode_seconds),
                                     g.num_beams > 1 ? fmt::format(", {} beams a step", g.num_beams) : "");
            std::cerr << fmt::format("new tokens  = {}{}\n", r.tokens.size(), r.stopped_on_eos ? " (stopped on EOS)" : "");
            std::cerr << fmt::format("memory      = {:.1f} MiB KV cache, {:.1f} MiB peak resident\n", kv_mib,
                                     detail::peak_rss_mib());
            return int(exit_ok);
          }};
}

}  // namespace molm::cli
