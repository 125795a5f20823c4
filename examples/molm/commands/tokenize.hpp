// `molm tokenize --tokenizer VOCAB.txt|TOKENIZER.model`: text lines on stdin -> one line of
// space-separated token ids (or pieces) per input line, as Transformers' slow BertTokenizer or
// LlamaTokenizer gives them (text/wordpiece.hpp, text/llama_tokenizer.hpp).
//
//   echo "The molecule is a member of phenols." | molm tokenize --tokenizer scibert/vocab.txt
//   molm tokenize --tokenizer llama2/tokenizer.model --added-tokens 3d-molm < prompts.txt
#pragma once

#include "command.hpp"

#include <molm/text/llama_tokenizer.hpp>
#include <molm/text/wordpiece.hpp>

#include <filesystem>
#include <iostream>
#include <string>
#include <variant>
#include <vector>

namespace molm::cli {

inline Command tokenize_command() {
  return {"tokenize", "text lines on stdin -> token ids (or pieces) per line (BERT WordPiece vocab.txt, Llama tokenizer.model)",
          [](const std::vector<std::string>& args) {
            po::options_description options("molm tokenize options");
            std::string added_tokens = "none";
            options.add_options()("tokenizer", po::value<std::string>()->required(),
                                  "a WordPiece vocab.txt (BERT) or a SentencePiece .model (Llama)")(
                "cased", "WordPiece: keep case and accents (default: lower-case and strip accents, as uncased SciBERT)")(
                "added-tokens", po::value<std::string>(&added_tokens)->default_value("none"),
                "none: the tokenizer as its file defines it; 3d-molm: as 3D-MoLM configures it (WordPiece: + [DEC]; "
                "Llama: + [PAD]=32000, <mol>=32001, bos=eos=unk=</s>)")(
                "no-special", "no [CLS]/[SEP] (WordPiece) or bos (Llama) around each line")(
                "pieces", "print the token strings instead of ids");
            const auto vm = parse_command_line("tokenize", args, options, {}, "--tokenizer PATH [options] < lines");
            if (!vm) return int(exit_ok);
            if (added_tokens != "none" && added_tokens != "3d-molm")
              throw usage_error("molm tokenize: --added-tokens must be 'none' or '3d-molm', not '" + added_tokens + "'");
            const std::filesystem::path path = (*vm)["tokenizer"].as<std::string>();
            const bool reference = added_tokens == "3d-molm", special = !vm->count("no-special"),
                       pieces = vm->count("pieces") > 0;

            std::variant<text::WordPieceTokenizer, text::LlamaTokenizer> tokenizer = [&]()
                -> std::variant<text::WordPieceTokenizer, text::LlamaTokenizer> {
              if (path.extension() == ".model") {
                if (vm->count("cased")) throw usage_error("molm tokenize: --cased applies to WordPiece vocabularies only");
                return text::LlamaTokenizer::from_file(
                    path, reference ? text::LlamaConvention::reference : text::LlamaConvention::plain);
              }
              auto wordpiece = text::WordPieceTokenizer::from_file(
                  path, {.lower_case = vm->count("cased") == 0});
              if (reference) wordpiece.add_special_token("[DEC]");
              return wordpiece;
            }();

            std::string line, out;
            while (std::getline(std::cin, line)) {
              if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF input
              out.clear();
              std::visit(
                  [&](const auto& tok) {
                    const auto ids = tok.encode(line, special);
                    for (std::size_t i = 0; i < ids.size(); ++i) {
                      if (i) out += ' ';
                      out += pieces ? tok.id_to_token(ids[i]) : std::to_string(ids[i]);
                    }
                  },
                  tokenizer);
              out += '\n';
              std::cout << out;
            }
            std::cout.flush();
            return int(exit_ok);
          }};
}

}  // namespace molm::cli
