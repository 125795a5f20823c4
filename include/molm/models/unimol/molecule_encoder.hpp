// Molecules in, Uni-Mol vectors out: the encoder with the steps before it (conformer, featurization,
// batching) for a program that holds molecules, not tensors. Needs molm::chem (RDKit).
//
//   auto enc = unimol::MoleculeEncoder(unimol::load_encoder("unimol-paper/"));
//   auto e = enc.encode(chem::from_smiles("CC(=O)Oc1ccccc1C(=O)O"));   // ETKDGv3 + MMFF94, seed 42
//   e.cls      [512]       the [CLS] row: one vector for the molecule
//   e.atoms    [13, 512]   one row per heavy atom, in e.symbols / e.atom_indices order
//   e.conformer.provenance how the coordinates were made
//   auto many = enc.encode(conformers);                                 // batched, any number
//
// A molecule read with its own 3D coordinates (SDF, MOL2, an RDKit molecule with a 3D conformer)
// is encoded as it is, not re-embedded (EmbedOptions::use_input_3d).
#pragma once

#include "molm/chem/conformer.hpp"
#include "molm/chem/featurize.hpp"
#include "molm/data/collate_unimol.hpp"
#include "molm/models/unimol/encoder.hpp"

#include <span>
#include <vector>

namespace molm::models::unimol {

struct MoleculeEncoding {
  Tensor cls;    ///< [C]
  Tensor atoms;  ///< [n, C]: the atoms that reached the encoder (hydrogens removed, crop applied)
  std::vector<std::string> symbols;        ///< n element symbols
  std::vector<std::int64_t> atom_indices;  ///< each row's atom index in conformer.mol
  chem::Conformer conformer;               ///< the coordinates used, with their provenance
};

/// Uni-Mol features of conformers (each must be ok(): throws naming the one that is not).
inline std::vector<chem::UnimolFeatures> featurize_conformers(std::span<const chem::Conformer> conformers,
                                                             const chem::UnimolDictionary& dictionary) {
  std::vector<chem::UnimolFeatures> features;
  features.reserve(conformers.size());
  for (const chem::Conformer& c : conformers) {
    c.require_ok();
    std::vector<double> xyz;
    for (const auto& p : c.positions) xyz.insert(xyz.end(), {double(p[0]), double(p[1]), double(p[2])});
    features.push_back(chem::featurize_unimol(c.symbols, xyz, dictionary));
  }
  return features;
}

class MoleculeEncoder {
 public:
  explicit MoleculeEncoder(std::shared_ptr<const Encoder> encoder,
                           chem::UnimolDictionary dictionary = chem::UnimolDictionary::reference(),
                           chem::EmbedOptions embed_options = {}, std::int64_t batch_size = 32)
      : encoder_(std::move(encoder)), dictionary_(std::move(dictionary)), embed_options_(std::move(embed_options)),
        batch_size_(batch_size) {
    MOLM_CHECK(encoder_ != nullptr, "unimol", "MoleculeEncoder needs an encoder");
    MOLM_CHECK(dictionary_.size() == encoder_->config().vocab_size, "unimol",
               "the dictionary has {} symbols but the encoder's vocabulary is {}", dictionary_.size(),
               encoder_->config().vocab_size);
    MOLM_CHECK(batch_size_ >= 1, "unimol", "batch size must be at least 1");
  }

  /// Conformers (chem::embed's output) → one encoding each, in order. Throws for a conformer that
  /// is not ok(), naming it and its provenance error: filter with Conformer::ok() first.
  std::vector<MoleculeEncoding> encode(std::span<const chem::Conformer> conformers) const {
    std::vector<MoleculeEncoding> out;
    out.reserve(conformers.size());
    no_grad ng;
    for (std::size_t begin = 0; begin < conformers.size(); begin += static_cast<std::size_t>(batch_size_)) {
      const std::size_t end = std::min(conformers.size(), begin + static_cast<std::size_t>(batch_size_));
      const std::vector<chem::UnimolFeatures> features =
          featurize_conformers(conformers.subspan(begin, end - begin), dictionary_);
      const data::UnimolBatch batch = data::collate_unimol(features);
      const EncoderOutput o = encoder_->forward(batch.tokens, batch.distances, batch.edge_types);
      for (std::size_t i = begin; i < end; ++i) {
        const auto& f = features[i - begin];
        const Tensor row = o.atoms.select(0, static_cast<std::int64_t>(i - begin));
        const std::int64_t n = f.num_tokens() - 2;  // without [CLS] and [SEP]
        MoleculeEncoding e;
        e.cls = row.select(0, 0).clone();
        e.atoms = row.narrow(0, 1, n).clone();
        for (const std::int64_t k : f.atom_index) {  // index into the conformer's kept atoms
          e.symbols.push_back(conformers[i].symbols[static_cast<std::size_t>(k)]);
          e.atom_indices.push_back(conformers[i].atom_indices[static_cast<std::size_t>(k)]);
        }
        e.conformer = conformers[i];
        out.push_back(std::move(e));
      }
    }
    return out;
  }

  /// One molecule: a conformer by the embed options (or its own 3D coordinates), then encoded.
  MoleculeEncoding encode(const chem::Molecule& molecule) const {
    const chem::Conformer c = chem::embed(molecule, embed_options_);
    c.require_ok();
    return std::move(encode(std::span<const chem::Conformer>(&c, 1)).front());
  }
  MoleculeEncoding encode(const RDKit::ROMol& mol) const { return encode(chem::from_rdkit(mol)); }

  const Encoder& encoder() const { return *encoder_; }
  const chem::EmbedOptions& embed_options() const { return embed_options_; }

 private:
  std::shared_ptr<const Encoder> encoder_;
  chem::UnimolDictionary dictionary_;
  chem::EmbedOptions embed_options_;
  std::int64_t batch_size_;
};

}  // namespace molm::models::unimol
