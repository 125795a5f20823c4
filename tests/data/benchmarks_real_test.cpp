// data/benchmarks.hpp on the real files of ../shared/data (ChEBI-20, PubChem properties, QM9
// sample): counts and fields as the data README describes them. Skips (77) without the shared data;
// the reader's own cases, which need none, are benchmarks_test.cpp (kept apart so that a skip here
// never hides a failure there).
#include "support/testing.hpp"

#include <molm/data/benchmarks.hpp>

using namespace molm;
namespace fs = std::filesystem;

namespace {
[[maybe_unused]] const bool have_data =
    (testing::skip_unless_present({testing::shared_data_dir() / "chebi20/validation.txt"}), true);
}  // namespace

TEST_CASE("The real benchmark files read as their README describes") {
  const fs::path dir = testing::shared_data_dir();
  const auto chebi = data::read_chebi20(dir / "chebi20/validation.txt");
  CHECK(chebi.size() == 3301);
  std::size_t repaired = 0;
  for (const auto& r : chebi) {
    repaired += r.smiles_repaired;
    CHECK(r.smiles.find("\\\\") == std::string::npos);
    CHECK(r.description.rfind("The molecule is", 0) == 0);
  }
  CHECK(repaired == 502);  // the README's count of rows with doubled backslashes

  const auto props = data::read_pubchem_properties(dir / "pubchem/properties-validation.tsv.gz");
  REQUIRE(props.size() == chebi.size());
  std::size_t without_logp = 0, same_smiles = 0;
  for (std::size_t i = 0; i < props.size(); ++i) {
    CHECK(props[i].cid == chebi[i].cid);  // same order as ChEBI-20
    without_logp += !props[i].xlogp3.has_value();
    same_smiles += props[i].smiles == chebi[i].smiles;
  }
  CHECK(without_logp == 205);  // README: 205 rows without a PubChem logP
  CHECK(same_smiles == props.size());
  CHECK(props[0].cid == 92470518);
  CHECK(props[0].molecular_weight == Approx(354.4));
  CHECK(props[0].hbond_acceptor == 5);

  const auto qm9 = data::read_qm9(dir / "qm/qm9-sample-train.csv.gz");
  CHECK(qm9.size() == 15934);
  CHECK(qm9[0].mol_id == "gdb_65516");
  CHECK(qm9[0].homo_ev == Approx(-0.2408 * 27.211386245988).epsilon(1e-12));
  for (const auto& q : qm9) CHECK(std::abs(q.gap_ev - (q.lumo_ev - q.homo_ev)) < 1.5e-4 * 27.3);  // README's check
}
