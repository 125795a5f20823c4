// chem::embed: seeded ETKDGv3 + MMFF94 conformers with provenance; every kind of bad molecule gets
// its own status and message, nothing throws, and no zero coordinates appear.
#include "support/testing.hpp"
#include "fixtures.hpp"

#include <molm/chem/conformer.hpp>

#include <GraphMol/Conformer.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

using namespace molm;

namespace {

double distance(const std::array<float, 3>& a, const std::array<float, 3>& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

bool has_warning(const chem::Provenance& p, const std::string& text) {
  for (const auto& w : p.warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

chem::Conformer embed_smiles(const std::string& smiles, const chem::EmbedOptions& options = {}) {
  return chem::embed(chem::parse_smiles(smiles), options);
}

}  // namespace

TEST_CASE("embed makes a seeded ETKDGv3 + MMFF94 conformer of the heavy atoms", "[chem][embed]") {
  const chem::Conformer c = chem::embed(chem::from_smiles("CCO"), {.seed = 42});
  REQUIRE(c.ok());
  CHECK_NOTHROW(c.require_ok());
  CHECK(c.symbols == std::vector<std::string>{"C", "C", "O"});
  CHECK(c.atomic_numbers == std::vector<int>{6, 6, 8});
  CHECK(c.atom_indices == std::vector<unsigned>{0, 1, 2});
  CHECK(c.positions.size() == 3);
  CHECK(distance(c.positions[0], c.positions[1]) == Approx(1.51).margin(0.05));  // C-C
  CHECK(distance(c.positions[1], c.positions[2]) == Approx(1.42).margin(0.05));  // C-O
  REQUIRE(c.mol);
  CHECK(c.mol->getNumAtoms() == 9);  // hydrogens were added for the embedding and stay in mol
  CHECK(c.mol->getNumConformers() == 1);

  const chem::Provenance& p = c.provenance;
  CHECK(p.status == chem::Status::ok);
  CHECK(p.method == chem::ConformerMethod::etkdg_v3);
  CHECK(p.seed == 42);
  CHECK(p.attempts == 1);
  CHECK(p.mmff == chem::MmffStatus::converged);
  CHECK(std::isfinite(p.mmff_energy));
  CHECK(p.canonical_smiles == "CCO");
  CHECK(p.heavy_atoms == 3);
  CHECK(p.atoms == 3);
  CHECK(p.fragments == 1);
  CHECK_FALSE(p.cropped);
  CHECK(p.wall_seconds > 0);
  CHECK(p.error.empty());
}

TEST_CASE("the same seed gives the same coordinates, another seed others", "[chem][embed]") {
  const std::string smiles = "CC(=O)Oc1ccccc1C(=O)O";
  const chem::Conformer a = embed_smiles(smiles, {.seed = 7});
  const chem::Conformer b = embed_smiles(smiles, {.seed = 7});
  const chem::Conformer c = embed_smiles(smiles, {.seed = 8});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(a.positions == b.positions);  // bit for bit
  CHECK(a.provenance.mmff_energy == b.provenance.mmff_energy);
  CHECK(a.positions != c.positions);
}

TEST_CASE("keep_hydrogens keeps them; a molecule of hydrogens only keeps all atoms", "[chem][embed]") {
  const chem::Conformer h = embed_smiles("CCO", {.keep_hydrogens = true});
  REQUIRE(h.ok());
  CHECK(h.size() == 9);
  const chem::Conformer h2 = embed_smiles("[H][H]");
  REQUIRE(h2.ok());
  CHECK(h2.symbols == std::vector<std::string>{"H", "H"});
  CHECK(distance(h2.positions[0], h2.positions[1]) == Approx(0.74).margin(0.1));
}

TEST_CASE("an input's own 3D conformer is kept as it is", "[chem][embed]") {
  const std::string& block = testing::kEthanol3D;
  const chem::Molecule m = chem::parse_molblock(block, "ethanol.mol");
  const chem::Conformer c = chem::embed(m);
  REQUIRE(c.ok());
  CHECK(c.provenance.method == chem::ConformerMethod::user_3d);
  CHECK(c.provenance.mmff == chem::MmffStatus::not_run);
  CHECK(c.provenance.seed == -1);
  CHECK(c.provenance.attempts == 0);
  CHECK(c.positions[2] == std::array<float, 3>{1.32f, 0.76f, 0.02f});

  const chem::Conformer fresh = chem::embed(m, {.use_input_3d = false});
  REQUIRE(fresh.ok());
  CHECK(fresh.provenance.method == chem::ConformerMethod::etkdg_v3);
  CHECK(fresh.positions[2] != c.positions[2]);
}

TEST_CASE("bad molecules: each gets its own status and message, nothing throws", "[chem][embed]") {
  SECTION("invalid and empty input pass their reason through") {
    const chem::Conformer bad = embed_smiles("C1CC");
    CHECK_FALSE(bad.ok());
    CHECK(bad.provenance.status == chem::Status::invalid_input);
    CHECK(bad.provenance.method == chem::ConformerMethod::none);
    CHECK(bad.provenance.error.find("invalid SMILES 'C1CC'") == 0);
    CHECK(bad.symbols.empty());
    CHECK(bad.positions.empty());
    CHECK(bad.mol == nullptr);
    CHECK_THROWS_WITH(bad.require_ok(), Catch::Contains("invalid SMILES 'C1CC'"));
    CHECK(embed_smiles("").provenance.status == chem::Status::empty_input);
  }
  SECTION("a lone atom is placed at the origin, and says so") {
    const chem::Conformer na = embed_smiles("[Na+]");
    REQUIRE(na.ok());
    CHECK(na.size() == 1);
    CHECK(has_warning(na.provenance, "a single atom: placed at the origin"));
  }
  SECTION("salts and ions keep every fragment") {
    const chem::Conformer salt = embed_smiles("CC(=O)[O-].[Na+]");
    REQUIRE(salt.ok());
    CHECK(salt.provenance.fragments == 2);
    CHECK(salt.size() == 5);
    CHECK(salt.provenance.mmff == chem::MmffStatus::converged);
  }
  SECTION("boron has no MMFF94 parameters: ETKDG coordinates kept, and the record says why") {
    const chem::Conformer b = embed_smiles("OB(O)c1ccccc1");
    REQUIRE(b.ok());
    CHECK(b.provenance.method == chem::ConformerMethod::etkdg_v3);
    CHECK(b.provenance.mmff == chem::MmffStatus::missing_parameters);
    CHECK(std::isnan(b.provenance.mmff_energy));
    CHECK(has_warning(b.provenance, "MMFF94 has no parameters for element(s) B; ETKDG coordinates kept unoptimised"));
  }
  SECTION("metals: no MMFF94 parameters for tin; platinum embedded or refused with a reason") {
    const chem::Conformer sn = embed_smiles("C[Sn](C)(C)C");
    REQUIRE(sn.ok());
    CHECK(sn.provenance.mmff == chem::MmffStatus::missing_parameters);
    CHECK(has_warning(sn.provenance, "MMFF94 has no parameters for element(s) Sn"));
    CHECK(sn.symbols[1] == "Sn");
    const chem::Conformer pt = embed_smiles("N[Pt](N)(Cl)Cl");  // cisplatin
    INFO(nlohmann::json(pt.provenance).dump());
    if (pt.ok()) {
      CHECK(pt.provenance.mmff == chem::MmffStatus::missing_parameters);
    } else {
      CHECK((pt.provenance.status == chem::Status::embed_failed || pt.provenance.status == chem::Status::timed_out));
      CHECK_FALSE(pt.provenance.error.empty());
    }
  }
  SECTION("a radical is embedded, with a warning that the force fields treat it as closed-shell") {
    const chem::Conformer r = embed_smiles("C[CH2]");
    REQUIRE(r.ok());
    CHECK(r.provenance.method == chem::ConformerMethod::etkdg_v3);
    CHECK(has_warning(r.provenance, "1 atom(s) with radical electrons"));
  }
  SECTION("600 heavy atoms: too large by default, before any embedding") {
    const chem::Conformer big = embed_smiles(std::string(600, 'C'));
    CHECK(big.provenance.status == chem::Status::too_large);
    CHECK(big.provenance.error == "600 heavy atoms, more than max_atoms = 256 (raise max_atoms or set crop)");
    CHECK(big.provenance.heavy_atoms == 600);
    CHECK(big.provenance.attempts == 0);
    const chem::Conformer huge = embed_smiles(std::string(600, 'C'), {.max_atoms = 1000});
    CHECK(huge.provenance.status == chem::Status::too_large);  // 1802 atoms with H: above embed_atom_limit
    CHECK(huge.provenance.error.find("embed_atom_limit = 1500") != std::string::npos);
  }
  SECTION("a spent time budget stops the embedding: timed_out, no coordinates") {
    const chem::Conformer t = embed_smiles("CCCCCCCCCCCCCCCCCCCC", {.timeout_seconds = 1e-9});
    CHECK(t.provenance.status == chem::Status::timed_out);
    CHECK(t.provenance.attempts == 1);  // no retry once the budget is gone
    CHECK(t.provenance.error.find("budget") != std::string::npos);
    CHECK(t.positions.empty());
  }
}

TEST_CASE("an embedding that fails for every seed: embed_failed, or 2D coordinates only when asked",
          "[chem][embed]") {
  // Bicyclo[1.1.0]butane with trans ring fusion: the stereo tags ask for a geometry that does not
  // exist, so ETKDGv3 fails for every seed, with and without random starting coordinates.
  const std::string hard = "[C@H]12C[C@@H]1C2";
  chem::EmbedOptions options{};
  int failures = 0;
  for (int seed = 0; seed < 5; ++seed) {
    options.seed = seed;
    const chem::Conformer c = embed_smiles(hard, options);
    if (c.ok()) continue;
    ++failures;
    CHECK(c.provenance.status == chem::Status::embed_failed);
    CHECK(c.provenance.attempts == 2);  // ETKDGv3, then the random-coordinates retry
    CHECK(c.provenance.error.find("ETKDGv3 found no conformer in 2 attempt(s)") == 0);
    CHECK(c.positions.empty());

    chem::EmbedOptions flat = options;
    flat.allow_2d = true;
    const chem::Conformer f = embed_smiles(hard, flat);
    REQUIRE(f.ok());
    CHECK(f.provenance.method == chem::ConformerMethod::coords_2d);
    CHECK(f.provenance.mmff == chem::MmffStatus::not_run);
    for (const auto& x : f.positions) CHECK(x[2] == 0.0f);
    bool nonzero = false;
    for (const auto& x : f.positions) nonzero = nonzero || x[0] != 0 || x[1] != 0;
    CHECK(nonzero);
    CHECK(has_warning(f.provenance, "using 2D depiction coordinates (z = 0)"));
  }
  CHECK(failures == 5);
}

TEST_CASE("the random-coordinates retry rescues a failed first attempt", "[chem][embed]") {
  // With a one-iteration budget the first ETKDGv3 attempt on cyclododecane fails for some seeds;
  // the retry from random coordinates then succeeds, and the record says which method made it.
  int rescued = 0;
  for (int seed = 0; seed < 10; ++seed) {
    const chem::Conformer c = embed_smiles("C1CCCCCCCCCCC1", {.seed = seed, .max_iterations = 1});
    if (c.provenance.method != chem::ConformerMethod::random_coords) continue;
    ++rescued;
    CHECK(c.ok());
    CHECK(c.provenance.attempts == 2);
    CHECK(nlohmann::json(c.provenance).at("method") == "etkdg_v3_random_coords");
    const chem::Conformer no_retry =
        embed_smiles("C1CCCCCCCCCCC1", {.seed = seed, .max_iterations = 1, .random_coords_retry = false});
    CHECK(no_retry.provenance.status == chem::Status::embed_failed);
    CHECK(no_retry.provenance.attempts == 1);
  }
  CHECK(rescued > 0);
}

TEST_CASE("crop: a seeded, deterministic subset of max_atoms atoms", "[chem][embed]") {
  const std::string chain = "CCCCCCCCCCCC";  // 12 carbons
  const chem::Conformer a = embed_smiles(chain, {.seed = 3, .max_atoms = 5, .crop = true});
  const chem::Conformer b = embed_smiles(chain, {.seed = 3, .max_atoms = 5, .crop = true});
  const chem::Conformer c = embed_smiles(chain, {.seed = 4, .max_atoms = 5, .crop = true});
  REQUIRE(a.ok());
  CHECK(a.size() == 5);
  CHECK(a.provenance.cropped);
  CHECK(a.provenance.heavy_atoms == 12);
  CHECK(a.atom_indices == b.atom_indices);
  CHECK(a.positions == b.positions);
  CHECK(std::is_sorted(a.atom_indices.begin(), a.atom_indices.end()));
  CHECK(a.atom_indices != c.atom_indices);  // another seed, another subset (of C(12,5) = 792)

  const auto subset = chem::detail::seeded_subset(10, 4, 1);
  CHECK(subset.size() == 4);
  CHECK(subset == chem::detail::seeded_subset(10, 4, 1));
  CHECK(chem::detail::seeded_subset(3, 5, 1) == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("options are checked", "[chem][embed]") {
  const chem::Molecule m = chem::from_smiles("CCO");
  CHECK_THROWS_WITH(chem::embed(m, {.seed = -1}), Catch::Contains("seed must be >= 0"));
  CHECK_THROWS_WITH(chem::embed(m, {.mmff_variant = "UFF"}), Catch::Contains("MMFF94 or MMFF94s"));
  CHECK(chem::embed(m, {.mmff_variant = "MMFF94s"}).ok());
  const chem::Conformer no_ff = chem::embed(m, {.mmff = false});
  CHECK(no_ff.provenance.mmff == chem::MmffStatus::not_run);
}

TEST_CASE("provenance goes to JSON for the JSONL report", "[chem][embed]") {
  const chem::Conformer ok = embed_smiles("c1ccccc1O");
  const nlohmann::json j = ok.provenance;
  CHECK(j.at("input") == "c1ccccc1O");
  CHECK(j.at("source") == "smiles");
  CHECK(j.at("canonical_smiles") == "Oc1ccccc1");
  CHECK(j.at("status") == "ok");
  CHECK(j.at("method") == "etkdg_v3");
  CHECK(j.at("seed") == 42);
  CHECK(j.at("attempts") == 1);
  CHECK(j.at("mmff").at("status") == "converged");
  CHECK(j.at("mmff").at("energy").is_number());
  CHECK(j.at("atoms") == 7);
  CHECK_FALSE(j.contains("error"));

  const chem::Conformer bad = embed_smiles("CC\xff");
  const nlohmann::json jb = bad.provenance;
  CHECK(jb.at("status") == "invalid_input");
  CHECK(jb.at("method") == "none");
  CHECK(jb.at("mmff").at("energy").is_null());
  CHECK(jb.at("input") == "CC\\xFF");
  CHECK_NOTHROW(jb.dump());  // valid UTF-8 throughout

  chem::Provenance raw;  // strings filled by hand are escaped on the way out too
  raw.name = "caf\xe9";
  CHECK(nlohmann::json(raw).at("name") == "caf\\xE9");
}

TEST_CASE("embedding on several threads gives what one thread gives", "[chem][embed]") {
  // The time budget and the RDKit log capture are per thread, so molecules can be embedded in
  // parallel; each result must not depend on what the other threads do.
  const std::vector<std::string> smiles = {"CC(=O)Oc1ccccc1C(=O)O", "C1CC", "OB(O)c1ccccc1", "CCN(CC)CCOC(=O)c1ccccc1",
                                           "[Na+].[Cl-]", "c1ccc2ccccc2c1"};
  std::vector<chem::Conformer> serial, parallel(smiles.size());
  for (const auto& s : smiles) serial.push_back(embed_smiles(s));
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < smiles.size(); i += 2) parallel[i] = embed_smiles(smiles[i]);
    });
  for (auto& th : threads) th.join();
  for (std::size_t i = 0; i < smiles.size(); ++i) {
    INFO(smiles[i]);
    CHECK(parallel[i].provenance.status == serial[i].provenance.status);
    CHECK(parallel[i].provenance.error == serial[i].provenance.error);
    CHECK(parallel[i].positions == serial[i].positions);
  }
}
