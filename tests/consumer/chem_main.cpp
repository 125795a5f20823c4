// molm::chem from an installed molm: its RDKit targets must compile and link a SMILES parse.
#include <GraphMol/ROMol.h>
#include <GraphMol/SmilesParse/SmilesParse.h>

#include <cstdio>
#include <memory>

int main() {
  std::unique_ptr<RDKit::ROMol> mol(RDKit::SmilesToMol("CCO"));
  const unsigned atoms = mol ? mol->getNumHeavyAtoms() : 0;
  std::printf("molm::chem: RDKit parsed CCO into %u heavy atoms\n", atoms);
  return atoms == 3 ? 0 : 1;
}
