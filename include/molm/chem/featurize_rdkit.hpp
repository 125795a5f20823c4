// Uni-Mol features straight from an RDKit molecule: its atoms' symbols and one conformer.
//
//   auto f = chem::featurize_unimol(romol, dict);          // default conformer (id -1)
//
// The symbols are RDKit's (deuterium is "H", so it is removed like any hydrogen); hydrogens may be
// implicit or explicit, only explicit atoms reach the encoder's input (and "H" ones are dropped).
#pragma once

#include "molm/chem/featurize.hpp"

#include <GraphMol/Conformer.h>
#include <GraphMol/ROMol.h>

namespace molm::chem {

inline UnimolFeatures featurize_unimol(const RDKit::ROMol& mol, const UnimolDictionary& dict, int conformer_id = -1,
                                       const UnimolFeatureOptions& options = {}, Generator* gen = nullptr) {
  MOLM_CHECK(mol.getNumConformers() > 0, "featurize_unimol", "the molecule has no conformer (embed it first)");
  const RDKit::Conformer* conf = nullptr;
  try {
    conf = &mol.getConformer(conformer_id);
  } catch (const std::exception&) {
    MOLM_THROW("featurize_unimol", "the molecule has no conformer with id {}", conformer_id);
  }
  std::vector<std::string> symbols;
  std::vector<double> xyz;
  symbols.reserve(mol.getNumAtoms());
  xyz.reserve(3 * mol.getNumAtoms());
  for (const RDKit::Atom* atom : mol.atoms()) {
    symbols.push_back(atom->getSymbol());
    const RDGeom::Point3D& p = conf->getAtomPos(atom->getIdx());
    xyz.insert(xyz.end(), {p.x, p.y, p.z});
  }
  return featurize_unimol(symbols, xyz, dict, options, gen);
}

}  // namespace molm::chem
