// The sample every molm stage consumes: one molecule and one piece of text about it.
//
// Stage 1 and 2 read (molecule, description); stage 3 reads (molecule, instruction, answer). The
// molecule travels as SMILES: its conformer and Uni-Mol features come from the conformer cache
// (data/conformer_cache.hpp), keyed by canonical SMILES, so a sample stays small and printable.
#pragma once

#include <optional>
#include <string>

namespace molm::data {

struct MoleculeText {
  std::string id;           ///< "NCI-123", "CID 2244", a row index: stable across runs
  std::string smiles;       ///< the molecule (canonical isomeric SMILES where the source allows)
  std::string task;         ///< "Caption", "Description", or a property name as in reference-model.md §6.1
  std::string instruction;  ///< the question for QA samples; "" for captions
  std::string text;         ///< the description or the answer
  std::optional<double> value;  ///< the number in `text` for computed-property answers
  bool derived = false;     ///< text made by molm from templates and RDKit values, not written by a person
};

}  // namespace molm::data
