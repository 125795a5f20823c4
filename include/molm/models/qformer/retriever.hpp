// Stage-1 retrieval for a program that holds molecules and sentences, not tensors: a molm stage-1
// directory (molm convert --from 3d-molm) with the steps before the model — conformers, Uni-Mol
// batches, WordPiece. Needs molm::chem (RDKit) and molm::text.
//
//   auto r = qformer::Retriever::load("stage1-molm/");
//   auto mols = r.encode_molecules({chem::from_smiles("CCO"), chem::from_smiles("c1ccccc1O")});
//   auto txts = r.encode_texts({"A primary alcohol.", "An aromatic alcohol."});
//   Tensor s = qformer::similarity(mols.features, txts.features);   // [2, 2]: max over queries of the cosine
//   auto best = qformer::top_k(s, 1);                                // per molecule: the best text
//
// Molecules go through Uni-Mol in batches of `batch_size` (64, as the reference evaluates: the
// cross-attention quirk makes a molecule's features depend on its batch, §3.4). Texts become
// `[CLS] … [SEP]`, at most 256 WordPiece tokens (the reference's length).
#pragma once

#include "molm/data/collate_unimol.hpp"
#include "molm/models/qformer/checkpoint.hpp"
#include "molm/models/qformer/retrieval.hpp"
#include "molm/models/unimol/molecule_encoder.hpp"
#include "molm/text/wordpiece.hpp"

#include <span>
#include <string>
#include <vector>

namespace molm::models::qformer {

class Retriever {
 public:
  Retriever(Stage1Checkpoint checkpoint, text::WordPieceTokenizer tokenizer, chem::EmbedOptions embed_options = {},
            std::int64_t batch_size = 64, std::size_t max_tokens = 256)
      : ck_(std::move(checkpoint)), tokenizer_(std::move(tokenizer)), embed_options_(std::move(embed_options)),
        batch_size_(batch_size), max_tokens_(max_tokens) {
    MOLM_CHECK(ck_.encoder && ck_.model, "qformer::Retriever", "needs a Uni-Mol encoder and a stage-1 model");
    MOLM_CHECK(batch_size_ >= 1 && max_tokens_ >= 3, "qformer::Retriever", "batch size >= 1 and max tokens >= 3");
    const Config& c = ck_.model->config();
    MOLM_CHECK(static_cast<std::int64_t>(tokenizer_.size()) == c.vocab_size && tokenizer_.pad_id() == c.pad_token_id,
               "qformer::Retriever", "the tokenizer ({} tokens with [DEC], [PAD] = {}) does not fit the model ({} "
               "tokens, [PAD] = {})", tokenizer_.size(), tokenizer_.pad_id(), c.vocab_size, c.pad_token_id);
    MOLM_CHECK(ck_.encoder->config().embed_dim == c.encoder_width, "qformer::Retriever",
               "the Uni-Mol encoder is {} wide but the Q-Former reads rows of {}", ck_.encoder->config().embed_dim,
               c.encoder_width);
  }

  /// A molm stage-1 directory; the vocabulary is its vocab.txt unless `vocab` is given. [DEC] is added.
  static Retriever load(const std::filesystem::path& dir, const std::filesystem::path& vocab = {},
                        chem::EmbedOptions embed_options = {}, std::int64_t batch_size = 64,
                        std::size_t max_tokens = 256) {
    Stage1Checkpoint ck = load_stage1(dir);
    const std::filesystem::path v = vocab.empty() ? ck.vocab : vocab;
    MOLM_CHECK(!v.empty(), "qformer::Retriever", "{} holds no vocab.txt: give the WordPiece vocabulary", dir.string());
    auto tokenizer = text::WordPieceTokenizer::from_file(v);
    tokenizer.add_special_token("[DEC]");
    return Retriever(std::move(ck), std::move(tokenizer), std::move(embed_options), batch_size, max_tokens);
  }

  /// Conformers (chem::embed's output, each ok()) → features, in order.
  EncodedMolecules encode_conformers(std::span<const chem::Conformer> conformers) const {
    const auto dictionary = chem::UnimolDictionary::reference();
    EncodedMolecules out;
    for (std::size_t begin = 0; begin < conformers.size(); begin += static_cast<std::size_t>(batch_size_)) {
      const std::size_t end = std::min(conformers.size(), begin + static_cast<std::size_t>(batch_size_));
      const data::UnimolBatch b =
          data::collate_unimol(unimol::featurize_conformers(conformers.subspan(begin, end - begin), dictionary));
      no_grad guard;
      const auto o = ck_.encoder->forward(b.tokens, b.distances, b.edge_types);
      out.append(encode_molecule_batch(*ck_.model, o.atoms, o.padding));
    }
    return out;
  }

  /// Molecules → conformers (the embed options; an input's own 3D kept) → features. Throws for a
  /// molecule without a conformer, naming it: filter with chem::embed(...).ok() to skip such.
  EncodedMolecules encode_molecules(std::span<const chem::Molecule> molecules) const {
    std::vector<chem::Conformer> conformers;
    for (const auto& m : molecules) conformers.push_back(chem::embed(m, embed_options_));
    return encode_conformers(conformers);
  }
  EncodedMolecules encode_molecules(std::initializer_list<chem::Molecule> molecules) const {
    return encode_molecules(std::span<const chem::Molecule>(molecules.begin(), molecules.size()));
  }

  /// Sentences → `[CLS] … [SEP]` ids (truncated to max_tokens) → features, in order.
  EncodedTexts encode_texts(std::span<const std::string> texts) const {
    EncodedTexts out;
    for (std::size_t begin = 0; begin < texts.size(); begin += static_cast<std::size_t>(batch_size_)) {
      const std::size_t end = std::min(texts.size(), begin + static_cast<std::size_t>(batch_size_));
      std::vector<std::vector<std::int64_t>> ids;
      std::size_t L = 0;
      for (std::size_t i = begin; i < end; ++i) {
        ids.push_back(tokenizer_.encode(texts[i], {.max_length = max_tokens_}).ids);
        L = std::max(L, ids.back().size());
      }
      const auto n = static_cast<std::int64_t>(ids.size()), width = static_cast<std::int64_t>(L);
      Tensor t = zeros({n, width}, DType::i64), mask = zeros({n, width}, DType::i64);
      for (std::int64_t r = 0; r < n; ++r)
        for (std::size_t c = 0; c < ids[static_cast<std::size_t>(r)].size(); ++c) {
          t.data<std::int64_t>()[r * width + static_cast<std::int64_t>(c)] = ids[static_cast<std::size_t>(r)][c];
          mask.data<std::int64_t>()[r * width + static_cast<std::int64_t>(c)] = 1;
        }
      out.append(encode_text_batch(*ck_.model, t, mask));
    }
    return out;
  }
  EncodedTexts encode_texts(std::initializer_list<std::string> texts) const {
    return encode_texts(std::span<const std::string>(texts.begin(), texts.size()));
  }

  const Stage1& model() const { return *ck_.model; }
  const unimol::Encoder& encoder() const { return *ck_.encoder; }
  const text::WordPieceTokenizer& tokenizer() const { return tokenizer_; }
  const chem::EmbedOptions& embed_options() const { return embed_options_; }

 private:
  Stage1Checkpoint ck_;
  text::WordPieceTokenizer tokenizer_;
  chem::EmbedOptions embed_options_;
  std::int64_t batch_size_;
  std::size_t max_tokens_;
};

}  // namespace molm::models::qformer
