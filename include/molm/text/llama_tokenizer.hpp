// The Llama tokenizer as 3D-MoLM configures it (§5.2), on Debian's libsentencepiece: equal to
// Transformers 4.35's slow `LlamaTokenizer(legacy=True)` after the reference's add_special_tokens.
//
//   auto tok = text::LlamaTokenizer::from_file("llama2/tokenizer.model");          // 3D-MoLM
//   tok.encode(prompt)            // 2, ..., 29871, 32001 x 8, 869, ...   (§12.1)
//   tok.tokenize("a <mol>.")      // ▁a ▁ <mol> ▁.
//   tok.decode(ids)               // special tokens dropped
//   auto plain = text::LlamaTokenizer::from_file(path, text::LlamaConvention::plain);  // §7.2 metrics
//
// "Legacy" splitting: the text is cut at the added-token strings and every other chunk is encoded
// by SentencePiece on its own, each with the model's dummy `▁` prefix — so a space before `<mol>`
// becomes a lone `▁` and the text after it starts with `▁`. The model file's `<unk>` (0), `<s>` (1)
// and `</s>` (2) stay added tokens even after the reference re-points bos/eos/unk to `</s>`: a
// literal "<s>" in the text is still id 1, but it no longer counts as special, so decoding keeps it.
#pragma once

#include "molm/core/error.hpp"
#include "molm/text/added_tokens.hpp"
#include "molm/text/encoding.hpp"

#include <sentencepiece_processor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace molm::text {

enum class LlamaConvention {
  reference,  ///< 3D-MoLM (§5.2): + `[PAD]`=32000, `<mol>`=32001; bos = eos = unk = `</s>` = 2
  plain,      ///< the model file as freshly loaded (§7.2's metric pieces): bos `<s>`=1, eos `</s>`=2, unk `<unk>`=0
};

class LlamaTokenizer {
 public:
  static LlamaTokenizer from_file(const std::filesystem::path& model_path,
                                  LlamaConvention convention = LlamaConvention::reference) {
    return LlamaTokenizer(model_path, convention);
  }

  LlamaTokenizer(const std::filesystem::path& model_path, LlamaConvention convention)
      : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), convention_(convention) {
    const auto status = sp_->Load(model_path.string());
    MOLM_CHECK(status.ok(), "llama_tokenizer", "cannot load the SentencePiece model {}: {}", model_path.string(),
               status.ToString());
    // LlamaTokenizer.__init__ registers its unk, bos and eos strings as special added tokens.
    for (const char* content : {"<unk>", "<s>", "</s>"}) {
      const int id = sp_->PieceToId(content);
      MOLM_CHECK(sp_->IdToPiece(id) == content, "llama_tokenizer", "{} has no piece {}", model_path.string(), content);
      added_.add({.content = content, .id = id, .special = true});
    }
    bos_ = eos_ = piece_id("</s>");
    if (convention == LlamaConvention::plain) {
      bos_ = piece_id("<s>");
      unk_ = piece_id("<unk>");
      return;
    }
    unk_ = eos_;
    // add_special_tokens({'pad_token': '[PAD]'}) then {'additional_special_tokens': ['<mol>']}:
    // new ids after the model's pieces. Re-pointing bos/eos/unk to `</s>` leaves `<s>` and
    // `<unk>` added, but no longer special.
    pad_ = static_cast<std::int64_t>(sp_->GetPieceSize());
    added_.add({.content = "[PAD]", .id = *pad_, .special = true});
    added_.add({.content = "<mol>", .id = *pad_ + 1, .special = true});
    for (const char* demoted : {"<unk>", "<s>"}) {
      AddedToken t = *added_.find(std::string_view(demoted));
      t.special = false;
      added_.add(t);
    }
  }

  /// Pieces of `text` (no bos), `▁` marking spaces, as `LlamaTokenizer.tokenize`.
  std::vector<std::string> tokenize(std::string_view text) const {
    std::vector<std::string> pieces;
    for (const auto& part : added_.split(text)) {
      if (part.token) {
        pieces.push_back(part.text);
        continue;
      }
      std::vector<std::string> chunk;
      const auto status = sp_->Encode(part.text, &chunk);
      MOLM_CHECK(status.ok(), "llama_tokenizer", "SentencePiece could not encode a chunk of {} bytes: {}",
                 part.text.size(), status.ToString());
      pieces.insert(pieces.end(), std::make_move_iterator(chunk.begin()), std::make_move_iterator(chunk.end()));
    }
    return pieces;
  }

  /// Ids of `text`, with bos first unless add_special_tokens is off (no eos: add_eos_token false).
  std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens = true) const {
    return encode(text, EncodeOptions{.add_special_tokens = add_special_tokens}).ids;
  }

  /// Ids and attention mask with truncation and padding (pad id `[PAD]`; the plain convention has none).
  Encoding encode(std::string_view text, const EncodeOptions& options) const {
    std::vector<std::int64_t> body;
    for (const auto& piece : tokenize(text)) body.push_back(token_to_id(piece));
    return finish_encoding(std::move(body), {bos_}, {}, options, pad_);
  }

  /// `decode(ids, skip_special_tokens)` of Transformers 4.35: added tokens that are not special
  /// (and `<mol>`) are written as their strings joined by spaces to the decoded runs between them.
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens = true) const {
    std::vector<std::string> sub_texts, run;
    auto flush = [&](bool keep_empty) {
      if (run.empty()) return;
      std::string s = tokens_to_string(run);
      if (keep_empty || !s.empty()) sub_texts.push_back(std::move(s));
      run.clear();
    };
    for (std::int64_t id : ids) {
      const AddedToken* added = added_.find(id);
      if (skip_special_tokens && added && added->special) continue;
      const std::string token = id_to_token(id);
      // The "legacy added tokens": added but not special, plus additional specials past the vocabulary.
      const bool legacy_added = added && (!added->special || (added->content == "<mol>" && id >= vocab_size()));
      if (legacy_added) {
        flush(false);
        sub_texts.push_back(token);
      } else {
        run.push_back(token);
      }
    }
    flush(true);
    std::string out;
    for (std::size_t i = 0; i < sub_texts.size(); ++i) {
      if (i) out += ' ';
      out += sub_texts[i];
    }
    return out;
  }

  std::int64_t token_to_id(std::string_view piece) const {
    if (const AddedToken* t = added_.find(piece)) return t->id;
    return sp_->PieceToId(piece);
  }

  std::string id_to_token(std::int64_t id) const {
    if (const AddedToken* t = added_.find(id)) return t->content;
    MOLM_CHECK(id >= 0 && id < vocab_size(), "llama_tokenizer", "token id {} is outside 0..{}", id, size() - 1);
    return sp_->IdToPiece(static_cast<int>(id));
  }

  std::int64_t vocab_size() const { return sp_->GetPieceSize(); }  ///< the model's pieces (32,000)
  std::int64_t size() const { return vocab_size() + (pad_ ? 2 : 0); }  ///< `len(tokenizer)`
  std::int64_t bos_id() const { return bos_; }
  std::int64_t eos_id() const { return eos_; }
  std::int64_t unk_id() const { return unk_; }
  std::optional<std::int64_t> pad_id() const { return pad_; }
  std::optional<std::int64_t> mol_id() const {
    if (const AddedToken* t = added_.find(std::string_view("<mol>"))) return t->id;
    return std::nullopt;
  }
  LlamaConvention convention() const { return convention_; }
  const AddedTokens& added_tokens() const { return added_; }
  const sentencepiece::SentencePieceProcessor& processor() const { return *sp_; }

 private:
  std::int64_t piece_id(const char* piece) const { return sp_->PieceToId(piece); }

  bool is_special(const std::string& token) const {
    const AddedToken* t = added_.find(std::string_view(token));
    return t && t->special;
  }

  /// LlamaTokenizer.convert_tokens_to_string (legacy): the first piece loses its `▁`, special
  /// tokens are copied with a space before them (unless following another) and the rest decoded.
  std::string tokens_to_string(std::vector<std::string> tokens) const {
    if (!tokens.empty() && tokens[0].rfind("\xE2\x96\x81", 0) == 0) tokens[0].erase(0, 3);
    std::string out;
    std::vector<std::string> run;
    bool previous_special = false;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (is_special(tokens[i])) {
        if (!previous_special && i != 0) out += " ";
        out += sp_decode(run) + tokens[i];
        previous_special = true;
        run.clear();
      } else {
        run.push_back(tokens[i]);
        previous_special = false;
      }
    }
    return out + sp_decode(run);
  }

  std::string sp_decode(const std::vector<std::string>& pieces) const {
    std::string text;
    const auto status = sp_->Decode(pieces, &text);
    MOLM_CHECK(status.ok(), "llama_tokenizer", "SentencePiece could not decode {} pieces: {}", pieces.size(),
               status.ToString());
    return text;
  }

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  LlamaConvention convention_;
  AddedTokens added_;
  std::int64_t bos_ = 1, eos_ = 2, unk_ = 0;
  std::optional<std::int64_t> pad_{};
};

}  // namespace molm::text
