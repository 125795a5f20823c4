// featurize_unimol(RDKit::ROMol) refuses a molecule without the conformer it is asked for, and reads
// the one it is given. Needs no shared data (featurize_rdkit_test.cpp checks a real conformer).
#include "support/testing.hpp"

#include <molm/chem/featurize_rdkit.hpp>

#include <GraphMol/Conformer.h>
#include <GraphMol/SmilesParse/SmilesParse.h>

#include <memory>

using namespace molm;

TEST_CASE("featurize_unimol(ROMol) needs a conformer", "[chem][unimol]") {
  const auto dict = chem::UnimolDictionary::reference();
  std::unique_ptr<RDKit::RWMol> mol(RDKit::SmilesToMol("CCO"));
  REQUIRE(mol != nullptr);
  CHECK_THROWS_WITH(chem::featurize_unimol(*mol, dict), Catch::Contains("no conformer"));

  // Hand-placed atoms on the x axis at 0, 1.5, 4: the conformer given is the one read.
  auto* conf = new RDKit::Conformer(mol->getNumAtoms());  // owned by the molecule from here
  const double x[] = {0.0, 1.5, 4.0};
  for (unsigned i = 0; i < 3; ++i) conf->setAtomPos(i, RDGeom::Point3D(x[i], 0, 0));
  mol->addConformer(conf, /*assignId=*/true);
  const auto f = chem::featurize_unimol(*mol, dict);
  CHECK(testing::values(f.tokens) == std::vector<double>{1, 4, 4, 6, 2});
  CHECK(f.distances.data<float>()[1 * 5 + 3] == Approx(4.0).epsilon(1e-6));
  CHECK(f.distances.data<float>()[2 * 5 + 3] == Approx(2.5).epsilon(1e-6));
  CHECK(testing::values(chem::featurize_unimol(*mol, dict, static_cast<int>(conf->getId())).coordinates) ==
        testing::values(f.coordinates));
  CHECK_THROWS_WITH(chem::featurize_unimol(*mol, dict, 7), Catch::Contains("no conformer with id 7"));
}
