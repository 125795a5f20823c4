// `molm eval --task caption|property-qa|retrieval`: 3D-MoLM's evaluation numbers (reference-model.md
// §7) from predictions or score matrices, as a markdown table on stdout (or the JSON with --json)
// and as JSON in --out.
//
//   molm eval --task caption --predictions P.jsonl --tokenizer scibert --vocab scibert/vocab.txt
//   molm eval --task property-qa --predictions predictions.txt [--corrected]
//   molm eval --task retrieval --scores sim.npy [--match-scores match.npy]
//
// Prediction files are JSON lines in any of three layouts, recognised line by line:
//   molm:      {"prediction": p, "reference": r [, "task": t] [, "id": ...]}
//   stage 2:   {"prediction": p, "target": r}                       (3D-MoLM's stage-2 predictions.txt)
//   generalist {"prediction": [...], "target": [...], "task_type": [...]}  (one line per GPU rank, §6.6)
// Caption: items without a task form one set; "Caption" and "Description" items are scored as two
// sets (as read_generalist_results.py does); other tasks are skipped. Property QA: the numeric tasks
// (metrics/property_qa.hpp); text items are skipped. Each count of skipped items is reported.
#pragma once

#include "command.hpp"

#include <molm/io/atomic_file.hpp>
#include <molm/io/npy.hpp>
#include <molm/metrics/caption.hpp>
#include <molm/metrics/property_qa.hpp>
#include <molm/metrics/retrieval.hpp>
#include <molm/text/llama_tokenizer.hpp>
#include <molm/text/wordpiece.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace molm::cli {

namespace eval_detail {

using ordered_json = nlohmann::ordered_json;

struct EvalItem {
  std::string task;  ///< "" when the line names none
  std::string prediction, reference;
};

inline std::string string_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  MOLM_CHECK(it != j.end(), "eval", "{}: no \"{}\" field", where, key);
  MOLM_CHECK(it->is_string(), "eval", "{}: \"{}\" is a {}, not a string", where, key, it->type_name());
  return it->get<std::string>();
}

/// Every prediction/reference pair of a JSON-lines file, in file order (blank lines skipped).
inline std::vector<EvalItem> read_predictions(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MOLM_CHECK(in.good(), "eval", "cannot open the predictions file {}", path);
  std::vector<EvalItem> items;
  std::string line;
  for (std::size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    const std::string where = fmt::format("{}, line {}", path, line_no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      MOLM_THROW("eval", "{}: not JSON: {}", where, e.what());
    }
    MOLM_CHECK(j.is_object() && j.contains("prediction"), "eval", "{}: expected an object with a \"prediction\" field",
               where);
    if (j["prediction"].is_array()) {  // the generalist's per-rank parallel lists
      const auto& p = j["prediction"];
      MOLM_CHECK(j.contains("target") && j["target"].is_array() && j.contains("task_type") && j["task_type"].is_array(),
                 "eval", "{}: a list of predictions needs the lists \"target\" and \"task_type\" beside it", where);
      const auto& t = j["target"];
      const auto& k = j["task_type"];
      MOLM_CHECK(p.size() == t.size() && p.size() == k.size(), "eval",
                 "{}: {} predictions, {} targets and {} task types (the lists run in parallel)", where, p.size(),
                 t.size(), k.size());
      for (std::size_t i = 0; i < p.size(); ++i) {
        MOLM_CHECK(p[i].is_string() && t[i].is_string() && k[i].is_string(), "eval", "{}: item {} is not three strings",
                   where, i);
        items.push_back({k[i].get<std::string>(), p[i].get<std::string>(), t[i].get<std::string>()});
      }
      continue;
    }
    EvalItem item;
    item.prediction = string_field(j, "prediction", where);
    item.reference = string_field(j, j.contains("reference") ? "reference" : "target", where);
    if (j.contains("task")) item.task = string_field(j, "task", where);
    else if (j.contains("task_type")) item.task = string_field(j, "task_type", where);
    items.push_back(std::move(item));
  }
  MOLM_CHECK(!items.empty(), "eval", "{} holds no predictions", path);
  return items;
}

/// nlohmann writes NaN as null anyway; spelled out because "no valid item" is a real outcome.
inline ordered_json number_or_null(double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr); }

inline std::string window_text(const metrics::PropertyWindow& w) {
  return fmt::format("{} {} x < {}", w.low, w.low_inclusive ? "<=" : "<", w.high);
}

// ---- caption ---------------------------------------------------------------------------------

inline metrics::CaptionTokenizer make_caption_tokenizer(const std::string& kind, const std::string& vocab) {
  if (kind == "split") return metrics::python_split;
  if (kind != "scibert" && kind != "llama")
    throw usage_error("molm eval: --tokenizer must be scibert, llama or split, not '" + kind + "'");
  if (vocab.empty()) throw usage_error("molm eval: --tokenizer " + kind + " needs --vocab FILE");
  if (kind == "scibert") {  // 3D-MoLM's stage-2 metric tokenizer: uncased BertTokenizer + [DEC]
    auto t = std::make_shared<text::WordPieceTokenizer>(text::WordPieceTokenizer::from_file(vocab));
    t->add_special_token("[DEC]");
    return [t](std::string_view s) { return t->tokenize(s); };
  }
  // llama: read_generalist_results.py's tokenizer, the plain tokenizer.model without added tokens
  auto t = std::make_shared<text::LlamaTokenizer>(text::LlamaTokenizer::from_file(vocab, text::LlamaConvention::plain));
  return [t](std::string_view s) { return t->tokenize(s); };
}

inline ordered_json caption_json(const metrics::CaptionScores& s) {
  return {{"bleu2", s.bleu2}, {"bleu4", s.bleu4}, {"rouge1", s.rouge1}, {"rouge2", s.rouge2},
          {"rougeL", s.rougeL}, {"meteor", s.meteor}, {"n", s.n}};
}

inline ordered_json eval_caption(const std::vector<EvalItem>& items, const metrics::CaptionTokenizer& tokenize,
                                 std::string& table) {
  // Sets in a fixed order: untasked items, then Caption, then Description.
  std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> sets;
  std::size_t skipped = 0;
  for (const auto& it : items) {
    if (!it.task.empty() && !metrics::is_text_task(it.task)) {
      ++skipped;
      continue;
    }
    auto& [refs, preds] = sets[it.task];
    refs.push_back(it.reference), preds.push_back(it.prediction);
  }
  MOLM_CHECK(!sets.empty(), "eval", "no caption items among {} (only non-text tasks)", items.size());
  table = "| set | n | BLEU-2 | BLEU-4 | ROUGE-1 | ROUGE-2 | ROUGE-L | METEOR |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  // The plain case (no task named) is one flat object; otherwise one object per set.
  const bool flat = sets.size() == 1 && sets.count("");
  ordered_json out = ordered_json::object();
  for (const char* name : {"", "Caption", "Description"}) {
    const auto found = sets.find(name);
    if (found == sets.end()) continue;
    const auto s = metrics::caption_scores(found->second.first, found->second.second, tokenize);
    table += fmt::format("| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} |\n",
                         *name ? name : "captions", s.n, s.bleu2, s.bleu4, s.rouge1, s.rouge2, s.rougeL, s.meteor);
    if (flat) out = caption_json(s);
    else out[*name ? name : "captions"] = caption_json(s);
  }
  if (skipped) table += fmt::format("\n{} items of non-text tasks skipped\n", skipped);
  return out;
}

// ---- property QA -----------------------------------------------------------------------------

inline ordered_json property_tasks_json(const std::vector<metrics::PropertyTaskScore>& scores) {
  ordered_json tasks = ordered_json::object();
  for (const auto& s : scores) {
    ordered_json t = {{"mae", number_or_null(s.mae)}, {"valid", s.valid_ratio()}, {"n_valid", s.valid},
                      {"n", s.n}, {"window", window_text(s.window)}};
    if (!s.reference_task) t["molm_addition"] = true;
    tasks[s.task] = std::move(t);
  }
  return tasks;
}

inline std::string property_table(const std::vector<metrics::PropertyTaskScore>& scores) {
  // The reference prints MAE with 3 and the valid ratio with 4 decimals.
  std::string t = "| task | MAE | valid | n | window |\n|---|---:|---:|---:|---|\n";
  bool additions = false;
  for (const auto& s : scores) {
    additions |= !s.reference_task;
    t += fmt::format("| {}{} | {} | {:.4f} | {} | {} |\n", s.task, s.reference_task ? "" : " †",
                     std::isfinite(s.mae) ? fmt::format("{:.3f}", s.mae) : "-", s.valid_ratio(), s.n,
                     window_text(s.window));
  }
  if (additions) t += "\n† not scored by 3D-MoLM's read_generalist_results.py; molm's window\n";
  return t;
}

inline ordered_json eval_property_qa(const std::vector<EvalItem>& items, bool corrected, std::string& table) {
  std::vector<metrics::PropertyItem> numeric;
  std::size_t skipped = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    MOLM_CHECK(!items[i].task.empty(), "eval", "item {} has no task (\"task\" or \"task_type\")", i);
    if (metrics::is_text_task(items[i].task)) {
      ++skipped;
      continue;
    }
    numeric.push_back({items[i].task, items[i].prediction, items[i].reference});
  }
  MOLM_CHECK(!numeric.empty(), "eval", "no computed-property items among {} (only Caption/Description)", items.size());
  const auto reference = metrics::property_qa_scores(numeric);
  ordered_json out = {{"syntax", "-?\\d+\\.\\d+, first match (3D-MoLM's read_generalist_results.py)"},
                      {"tasks", property_tasks_json(reference)},
                      {"skipped_text_items", skipped}};
  table = property_table(reference);
  if (corrected) {
    const auto c = metrics::property_qa_scores(numeric, metrics::NumberSyntax::corrected);
    out["corrected"] = {{"syntax", "-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?, first match; SCF Energy in eV"},
                        {"note", "molm's correction (integers and scientific notation read whole), not the "
                                 "reference's numbers"},
                        {"tasks", property_tasks_json(c)}};
    table += "\nCorrected parsing (molm; integers and scientific notation read whole, SCF Energy in eV; "
             "NOT the reference's numbers):\n\n" + property_table(c);
  }
  if (skipped) table += fmt::format("\n{} Caption/Description items skipped (use --task caption)\n", skipped);
  return out;
}

// ---- retrieval -------------------------------------------------------------------------------

inline std::vector<double> square_matrix(const std::string& path, std::size_t& n) {
  const Tensor t = load_npy(path);
  std::string shape;
  for (const auto d : t.shape()) shape += (shape.empty() ? "" : "x") + std::to_string(d);
  MOLM_CHECK(t.dim() == 2 && t.shape()[0] == t.shape()[1] && t.shape()[0] > 0, "eval",
             "{}: expected a square molecules x texts score matrix, got shape [{}]", path, shape);
  n = static_cast<std::size_t>(t.shape()[0]);
  const Tensor d = t.to(DType::f64).contiguous();
  return {d.data<double>(), d.data<double>() + d.numel()};
}

inline ordered_json retrieval_json(const metrics::RetrievalScores& s) {
  return {{"m2t_acc", s.m2t_acc}, {"m2t_r20", s.m2t_r20}, {"t2m_acc", s.t2m_acc}, {"t2m_r20", s.t2m_r20}};
}

inline ordered_json eval_retrieval(const std::string& scores_path, const std::string& match_path, std::size_t batch,
                                   std::size_t candidates, std::string& table) {
  std::size_t n = 0, n_match = 0;
  const std::vector<double> sim_values = square_matrix(scores_path, n);
  const metrics::ScoreMatrix sim{sim_values.data(), n};
  std::vector<double> match_values;
  if (!match_path.empty()) {
    match_values = square_matrix(match_path, n_match);
    MOLM_CHECK(n_match == n, "eval", "{} is {}x{} but {} is {}x{}", match_path, n_match, n_match, scores_path, n, n);
  }
  const metrics::MatchScore match = [&](std::size_t m, std::size_t t) { return match_values[m * n + t]; };
  std::vector<std::pair<std::string, metrics::RetrievalScores>> rows = {
      {"inbatch", metrics::retrieval_inbatch(sim, batch)}, {"full", metrics::retrieval_full(sim)}};
  if (!match_values.empty()) {
    MOLM_CHECK(candidates <= n, "eval",
               "--rerank-candidates {} exceeds the {} items (the reference's torch.topk fails too); lower it",
               candidates, n);
    rows.push_back({"inbatch_rerank", metrics::retrieval_inbatch(sim, batch, match)});
    rows.push_back({"full_rerank", metrics::retrieval_full_rerank(sim, match, candidates)});
  }
  ordered_json out = {{"n", n}, {"batch_size", batch}};
  if (!match_values.empty()) out["rerank_candidates"] = candidates;
  table = "| variant | M2T Acc | M2T R@20 | T2M Acc | T2M R@20 |\n|---|---:|---:|---:|---:|\n";
  for (const auto& [name, s] : rows) {
    out[name] = retrieval_json(s);
    table += fmt::format("| {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} |\n", name, s.m2t_acc, s.m2t_r20, s.t2m_acc,
                         s.t2m_r20);
  }
  return out;
}

inline void write_text_file(const std::string& path, const std::string& text) {
  io::AtomicFile out(path, "eval");
  out.write(text.data(), text.size());
  out.commit();
}

}  // namespace eval_detail

inline Command eval_command() {
  return {"eval", "3D-MoLM's evaluation numbers: caption metrics, property-QA MAE, retrieval accuracy",
          [](const std::vector<std::string>& args) {
            using namespace eval_detail;
            po::options_description options("molm eval options");
            std::string task, predictions, tokenizer, vocab, scores, match_scores, out;
            std::size_t batch = 64, candidates = 64;
            options.add_options()("task", po::value<std::string>(&task)->required(),
                                  "caption, property-qa or retrieval")(
                "predictions", po::value<std::string>(&predictions),
                "JSON lines: {prediction, reference[, task]}, 3D-MoLM's stage-2 {prediction, target} or its "
                "generalist {prediction: [...], target: [...], task_type: [...]}")(
                "tokenizer", po::value<std::string>(&tokenizer),
                "caption: scibert (WordPiece vocab.txt + [DEC], stage 2), llama (plain tokenizer.model, the "
                "generalist) or split (Python's str.split())")(
                "vocab", po::value<std::string>(&vocab), "caption: the tokenizer's vocab.txt or tokenizer.model")(
                "corrected", "property-qa: also report molm's corrected parsing (integers, 1.2e+05 read whole)")(
                "scores", po::value<std::string>(&scores), "retrieval: N x N .npy, s(molecule i, text j)")(
                "match-scores", po::value<std::string>(&match_scores),
                "retrieval: N x N .npy of the matching head's positive logits (adds the rerank variants)")(
                "batch-size", po::value<std::size_t>(&batch)->default_value(64), "retrieval: in-batch group size")(
                "rerank-candidates", po::value<std::size_t>(&candidates)->default_value(64),
                "retrieval: full-set candidates re-sorted with the matching logits")(
                "out", po::value<std::string>(&out), "write the numbers as JSON here")(
                "json", "print the JSON instead of the markdown table");
            const auto vm = parse_command_line("eval", args, options, {},
                                               "--task caption|property-qa|retrieval [options]");
            if (!vm) return int(exit_ok);
            auto require = [&](const std::string& value, const char* option) {
              if (value.empty()) throw usage_error("molm eval: --task " + task + " needs --" + option);
            };

            std::string table;
            ordered_json result;
            if (task == "caption") {
              require(predictions, "predictions");
              require(tokenizer, "tokenizer");
              const auto tokenize = make_caption_tokenizer(tokenizer, vocab);
              result = eval_caption(read_predictions(predictions), tokenize, table);
            } else if (task == "property-qa") {
              require(predictions, "predictions");
              result = eval_property_qa(read_predictions(predictions), vm->count("corrected") > 0, table);
            } else if (task == "retrieval") {
              require(scores, "scores");
              if (batch == 0) throw usage_error("molm eval: --batch-size must be at least 1");
              result = eval_retrieval(scores, match_scores, batch, candidates, table);
            } else {
              throw usage_error("molm eval: --task must be caption, property-qa or retrieval, not '" + task + "'");
            }
            const std::string json_text = result.dump(2) + "\n";
            if (!out.empty()) write_text_file(out, json_text);
            std::cout << (vm->count("json") ? json_text : table);
            std::cout.flush();
            return int(exit_ok);
          }};
}

}  // namespace molm::cli
