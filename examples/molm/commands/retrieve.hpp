// `molm retrieve --model DIR --molecules M.sdf|M.smi|... --texts T.txt [--top-k K] [--rerank N]
//                [--evaluate] --out R.jsonl`: stage-1 molecule–text retrieval (reference-model.md §7.1)
// with a molm stage-1 directory (molm convert --from 3d-molm).
//
// Molecules → conformers (ETKDGv3 + MMFF94, seeded; an input's own 3D kept) → Uni-Mol in batches of
// --batch (64, as the reference evaluates: the cross-attention quirk makes features depend on the
// batch) → query features. Texts (one per line) → SciBERT WordPiece [CLS] … [SEP], at most 256
// tokens → text features. s(m, t) = max over queries of the cosine; with --rerank N each query's top
// N by s are re-sorted by s + g, g the matching head's positive logit.
//
// R.jsonl: one line per molecule {"molecule": i, "name", "input", "texts": [{"text", "score", "sim",
// "match"?}…]}, then one per text {"text": j, "molecules": […]}; a molecule that failed says why.
// --evaluate: line i of T.txt describes molecule i; prints the reference's eight numbers (in-batch
// of 64 and full set, M2T/T2M accuracy and R@20, with and without rerank over the top 64 — all of
// them when fewer: the reference would fail) as JSON on stdout.
#pragma once

#include "command.hpp"

#include <molm/chem/readers.hpp>
#include <molm/models/qformer/retriever.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace molm::cli {

namespace detail {

inline nlohmann::json hits_json(const std::vector<models::qformer::Hit>& hits, const char* key) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& h : hits) {
    nlohmann::json j = {{key, h.index}, {"score", h.score}, {"sim", h.sim}};
    if (h.reranked) j["match"] = h.match;
    a.push_back(j);
  }
  return a;
}

inline nlohmann::json scores_json(const metrics::RetrievalScores& s) {
  return {{"m2t_acc", s.m2t_acc}, {"m2t_r20", s.m2t_r20}, {"t2m_acc", s.t2m_acc}, {"t2m_r20", s.t2m_r20}};
}

}  // namespace detail

inline Command retrieve_command() {
  return {"retrieve", "stage-1 molecule-text retrieval: rank texts for molecules and molecules for texts",
          [](const std::vector<std::string>& args) {
            namespace qf = models::qformer;
            po::options_description options("molm retrieve options");
            chem::EmbedOptions embed;
            chem::ReadOptions read;
            std::string model_dir, texts_path, out, vocab;
            std::vector<std::string> molecule_files;
            std::int64_t top_k = 5, rerank = 0, batch = 64, max_tokens = 256;
            bool evaluate = false;
            options.add_options()("model", po::value<std::string>(&model_dir)->required(),
                                  "a molm stage-1 directory (molm convert --from 3d-molm)")(
                "molecules", po::value<std::vector<std::string>>(&molecule_files)->required(),
                "molecule files (SMILES, SDF, CSV, ... as molm prepare reads them)")(
                "texts", po::value<std::string>(&texts_path)->required(), "a text file, one description per line")(
                "out", po::value<std::string>(&out)->required(), "R.jsonl")(
                "top-k", po::value<std::int64_t>(&top_k)->default_value(5), "candidates listed per query")(
                "rerank", po::value<std::int64_t>(&rerank)->default_value(0),
                "re-sort each query's top N by similarity + matching logit (the reference uses 64; 0: off)")(
                "evaluate", po::bool_switch(&evaluate),
                "line i of the texts describes molecule i: print the reference's retrieval numbers")(
                "batch", po::value<std::int64_t>(&batch)->default_value(64), "molecules per Uni-Mol batch")(
                "max-tokens", po::value<std::int64_t>(&max_tokens)->default_value(256), "WordPiece tokens per text")(
                "vocab", po::value<std::string>(&vocab), "WordPiece vocab.txt (default: the model directory's)")(
                "threads", po::value<int>(), "worker threads (default: MOLM_NUM_THREADS, else all cores)")(
                "seed", po::value<int>(&embed.seed)->default_value(42), "ETKDGv3 seed")(
                "smiles-column", po::value<std::string>(&read.smiles_column)->default_value("smiles"),
                "CSV/TSV column (JSONL field) holding the SMILES");
            const auto vm = parse_command_line("retrieve", args, options, {},
                                               "--model DIR --molecules FILE --texts T.txt --out R.jsonl "
                                               "[--top-k K] [--rerank N] [--evaluate]");
            if (!vm) return int(exit_ok);
            apply_threads_option(*vm, "retrieve");
            if (top_k < 1 || batch < 1 || rerank < 0 || max_tokens < 3)
              throw usage_error("molm retrieve: --top-k and --batch must be >= 1, --rerank >= 0, --max-tokens >= 3");

            if (vocab.empty() && std::filesystem::is_directory(model_dir) &&
                !std::filesystem::is_regular_file(std::filesystem::path(model_dir) / "vocab.txt"))
              throw usage_error(fmt::format("molm retrieve: {} holds no vocab.txt; pass --vocab", model_dir));
            const auto retriever =
                qf::Retriever::load(model_dir, vocab, embed, batch, static_cast<std::size_t>(max_tokens));

            // Molecules → conformers (all cores) → Uni-Mol batches → query features.
            std::vector<chem::Molecule> molecules;
            for (const auto& f : molecule_files)
              chem::for_each_molecule(f, [&](chem::Molecule&& m) { molecules.push_back(std::move(m)); }, read);
            std::vector<chem::Conformer> conformers(molecules.size());
#pragma omp parallel for schedule(dynamic, 1)
            for (std::size_t i = 0; i < molecules.size(); ++i) conformers[i] = chem::embed(molecules[i], embed);
            std::vector<std::size_t> encoded;  // input index of each encoded molecule
            std::vector<chem::Conformer> good;
            for (std::size_t i = 0; i < conformers.size(); ++i)
              if (conformers[i].ok()) {
                encoded.push_back(i);
                good.push_back(conformers[i]);
              }
            const qf::EncodedMolecules mols = retriever.encode_conformers(good);

            // Texts, one per line → WordPiece → [CLS] features.
            std::ifstream tin(texts_path);
            if (!tin) MOLM_THROW("retrieve", "cannot read {}", texts_path);
            std::vector<std::string> texts;
            for (std::string line; std::getline(tin, line);)
              if (!line.empty() && line.find_first_not_of(" \t\r") != std::string::npos) texts.push_back(line);
            if (texts.empty()) MOLM_THROW("retrieve", "{} holds no text", texts_path);
            const qf::EncodedTexts txts = retriever.encode_texts(texts);
            const qf::Stage1& model = retriever.model();

            if (mols.size() == 0) MOLM_THROW("retrieve", "no molecule could be encoded (see the failures above)");
            const Tensor sim = qf::similarity(mols.features, txts.features);  // [M, T]
            const Tensor sim_t = sim.transpose(0, 1).contiguous();
            const std::int64_t list = std::max(top_k, rerank);
            auto by_molecule = qf::top_k(sim, list);
            auto by_text = qf::top_k(sim_t, list);
            if (rerank > 0) {
              qf::rerank(by_molecule, [&](std::int64_t m, const std::vector<std::int64_t>& c) {
                return qf::match_logits(model, mols, m, txts, c);
              });
              qf::rerank(by_text, [&](std::int64_t t, const std::vector<std::int64_t>& c) {
                return qf::match_logits_for_text(model, mols, c, txts, t);
              });
            }

            std::ofstream os(out, std::ios::trunc);
            if (!os) MOLM_THROW("retrieve", "cannot write {}", out);
            const auto dump = [&](const nlohmann::json& j) {
              os << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            };
            std::size_t next = 0, failed = 0;
            for (std::size_t i = 0; i < molecules.size(); ++i) {
              nlohmann::json j = {{"molecule", i}, {"name", molecules[i].name}, {"input", molecules[i].input}};
              if (!conformers[i].ok()) {
                j["error"] = molecules[i].ok() ? nlohmann::json(conformers[i].provenance) : nlohmann::json(molecules[i].error);
                ++failed;
              } else {
                auto& hits = by_molecule[next++];
                hits.resize(std::min<std::size_t>(hits.size(), static_cast<std::size_t>(top_k)));
                j["texts"] = detail::hits_json(hits, "text");
              }
              dump(j);
            }
            for (std::size_t t = 0; t < texts.size(); ++t) {
              auto& hits = by_text[t];
              hits.resize(std::min<std::size_t>(hits.size(), static_cast<std::size_t>(top_k)));
              for (auto& h : hits) h.index = static_cast<std::int64_t>(encoded[static_cast<std::size_t>(h.index)]);
              dump({{"text", t}, {"molecules", detail::hits_json(hits, "molecule")}});
            }
            std::cerr << fmt::format("[retrieve] {} molecules ({} encoded, {} failed), {} texts -> {}\n",
                                     molecules.size(), mols.size(), failed, texts.size(), out);

            if (evaluate) {
              if (failed != 0 || texts.size() != molecules.size())
                throw usage_error(fmt::format("molm retrieve --evaluate: needs one text per molecule and every "
                                              "molecule encoded ({} molecules, {} encoded, {} texts)",
                                              molecules.size(), mols.size(), texts.size()));
              const auto r = qf::evaluate_retrieval(model, mols, txts, 64, 64);
              nlohmann::json j = {{"n", r.n},
                                  {"inbatch", detail::scores_json(r.inbatch)},
                                  {"inbatch_rerank", detail::scores_json(r.inbatch_rerank)},
                                  {"full", detail::scores_json(r.full)},
                                  {"full_rerank", detail::scores_json(r.full_rerank)}};
              std::cout << j.dump(2) << "\n";
            }
            return int(exit_ok);
          }};
}

}  // namespace molm::cli
