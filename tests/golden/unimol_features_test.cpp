// Uni-Mol featurization (chem/featurize.hpp) and batching (data/collate_unimol.hpp) against the
// reference code path (gen_unimol_features.py: unimol-tools' coords2unimol with 3D-MoLM's
// dictionary, cross-checked against D3Dataset), plus the
// rules the golden molecules do not reach: hydrogen-only molecules, cropping, limits, bad input.
#include "support/testing.hpp"

#include <molm/chem/featurize.hpp>
#include <molm/data/collate_unimol.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

using namespace molm;
using molm::testing::golden_dir;
using molm::testing::require_close;
using molm::testing::values;

namespace {

const std::filesystem::path kDir = golden_dir() / "unimol_features";

// The shared dict.txt's bytes (30 lines, no final newline).
const char* const kDictTxt =
    "[PAD]\n[CLS]\n[SEP]\n[UNK]\nC\nN\nO\nS\nH\nCl\nF\nBr\nI\nSi\nP\nB\nNa\nK\nAl\nCa\nSn\nAs\nHg\nFe\nZn\nCr\nSe\nGd\nAu\nLi";

nlohmann::json index_json() {
  std::ifstream in(kDir / "molecules.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

std::vector<std::string> symbols_of(const nlohmann::json& mol) { return mol.at("symbols").get<std::vector<std::string>>(); }

chem::UnimolFeatures featurize_golden(const nlohmann::json& mol, const chem::UnimolDictionary& dict) {
  const Tensor xyz = load_npy(kDir / (mol.at("name").get<std::string>() + "_xyz.npy"));
  REQUIRE(xyz.dtype() == DType::f64);
  return chem::featurize_unimol(symbols_of(mol), xyz, dict);
}

void require_equal(const Tensor& got, const Tensor& want) {
  INFO("shape " << got.shape().str() << " vs " << want.shape().str());
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(values(got) == values(want));
}

/// Coordinates of `n` atoms spread over a ~20 Å box, from a fixed seed.
std::vector<double> random_xyz(std::int64_t n, std::uint64_t seed) {
  return values(molm::testing::random({n, 3}, seed, DType::f64, -10.0, 10.0));
}

}  // namespace

TEST_CASE("dictionary: Uni-Core semantics plus [MASK]", "[unimol][features]") {
  const auto dict = chem::UnimolDictionary::parse(kDictTxt);
  REQUIRE(dict.size() == 31);
  CHECK(dict.pad() == 0);
  CHECK(dict.bos() == 1);
  CHECK(dict.eos() == 2);
  CHECK(dict.unk() == 3);
  CHECK(dict.mask() == 30);
  CHECK(dict.index("C") == 4);
  CHECK(dict.index("H") == 8);
  CHECK(dict.index("Li") == 29);
  CHECK(dict.symbol(9) == "Cl");
  // Unknown and differently-cased symbols are [UNK]: matching is exact, as in Python's dict.
  CHECK(dict.index("Mg") == 3);
  CHECK(dict.index("CL") == 3);
  CHECK(dict.index("c") == 3);
  CHECK(dict.index("*") == 3);
  CHECK(dict == chem::UnimolDictionary::reference());
  CHECK_THROWS_AS(dict.symbol(31), molm::error);

  // The shared file, when present, is the same table.
  const auto shared = molm::testing::shared_data_dir() / "unimol" / "dict.txt";
  if (std::filesystem::exists(shared)) CHECK(chem::UnimolDictionary::load(shared) == dict);

  SECTION("count fields, CRLF, repeated symbols, an explicit [MASK]") {
    const auto d = chem::UnimolDictionary::parse("[PAD] 5\r\n[CLS] 1\n[SEP] 1\n[UNK] 1\nC 100\nC 3\n[MASK] 1\nN\n");
    REQUIRE(d.size() == 7);  // the repeated C keeps id 4; [MASK] is not appended twice
    CHECK(d.index("C") == 4);
    CHECK(d.mask() == 5);
    CHECK(d.index("N") == 6);
  }
  SECTION("malformed files") {
    CHECK_THROWS_AS(chem::UnimolDictionary::parse("[PAD]\n[CLS]\n[SEP]\nC\n"), molm::error);  // no [UNK]
    CHECK_THROWS_AS(chem::UnimolDictionary::parse("[PAD]\n[CLS]\n[SEP]\n[UNK]\nC many\n"), molm::error);
    CHECK_THROWS_AS(chem::UnimolDictionary::load(kDir / "no_such_dict.txt"), molm::error);
  }
}

TEST_CASE("golden: molecules featurized as the reference does", "[unimol][features][golden]") {
  const auto dict = chem::UnimolDictionary::reference();
  const auto idx = index_json();
  REQUIRE(idx.at("molecules").size() >= 8);
  for (const auto& mol : idx.at("molecules")) {
    const auto name = mol.at("name").get<std::string>();
    INFO("molecule " << name);
    const auto f = featurize_golden(mol, dict);
    require_equal(f.tokens, load_npy(kDir / (name + "_tokens.npy")));
    require_equal(f.edge_types, load_npy(kDir / (name + "_edge_type.npy")));
    // Same operations in the same order as NumPy/SciPy: the values agree to the last bit.
    require_equal(f.coordinates, load_npy(kDir / (name + "_coord.npy")));
    require_equal(f.distances, load_npy(kDir / (name + "_distance.npy")));

    // atom_index names the heavy atoms of the input, in input order (no crop here).
    const auto symbols = symbols_of(mol);
    REQUIRE(static_cast<std::int64_t>(f.atom_index.size()) == f.num_tokens() - 2);
    std::int64_t heavy = 0;
    for (std::size_t i = 0; i < symbols.size(); ++i)
      if (symbols[i] != "H") REQUIRE(f.atom_index[static_cast<std::size_t>(heavy++)] == static_cast<std::int64_t>(i));
    REQUIRE(heavy == static_cast<std::int64_t>(f.atom_index.size()));
  }
}

TEST_CASE("golden: batches padded as D3Collater pads them", "[unimol][features][golden]") {
  const auto dict = chem::UnimolDictionary::reference();
  const auto idx = index_json();
  std::map<std::string, chem::UnimolFeatures> by_name;
  for (const auto& mol : idx.at("molecules")) by_name[mol.at("name").get<std::string>()] = featurize_golden(mol, dict);
  for (const auto& item : idx.at("batches").items()) {
    const std::string bname = item.key();
    const auto& names = item.value();
    INFO("batch " << bname);
    std::vector<chem::UnimolFeatures> mols;
    for (const auto& n : names) mols.push_back(by_name.at(n.get<std::string>()));
    const auto batch = data::collate_unimol(mols);
    const std::string p = "batch_" + bname + "_";
    require_equal(batch.tokens, load_npy(kDir / (p + "tokens.npy")));
    require_equal(batch.edge_types, load_npy(kDir / (p + "edge_type.npy")));
    require_equal(batch.coordinates, load_npy(kDir / (p + "coord.npy")));
    require_equal(batch.distances, load_npy(kDir / (p + "distance.npy")));
    REQUIRE(batch.tokens.size(1) % 8 == 0);
  }
}

TEST_CASE("features: special tokens, centring, unknown elements, hydrogens", "[unimol][features]") {
  const auto dict = chem::UnimolDictionary::reference();
  const std::vector<std::string> atoms = {"C", "H", "Mg", "O", "H"};
  const std::vector<double> xyz = {1, 2, 3, 9, 9, 9, 4, 0, -3, 1, -2, 0, -9, -9, -9};
  const auto f = chem::featurize_unimol(atoms, xyz, dict);

  REQUIRE(f.num_tokens() == 5);  // [CLS] C Mg O [SEP]
  CHECK(values(f.tokens) == std::vector<double>{1, 4, 3, 6, 2});
  CHECK(f.atom_index == std::vector<std::int64_t>{0, 2, 3});
  // Centred on the heavy atoms' mean (2, 0, 0); the special tokens sit at the centroid.
  CHECK(values(f.coordinates) == std::vector<double>{0, 0, 0, -1, 2, 3, 2, 0, -3, -1, -2, 0, 0, 0, 0});
  const auto d = values(f.distances), e = values(f.edge_types);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      CHECK(d[static_cast<std::size_t>(i * 5 + j)] == d[static_cast<std::size_t>(j * 5 + i)]);
      CHECK(e[static_cast<std::size_t>(i * 5 + j)] == values(f.tokens)[i] * 31 + values(f.tokens)[j]);
    }
  CHECK(d[0] == 0.0);
  CHECK(d[1] == Approx(std::sqrt(14.0)).epsilon(1e-7));
  CHECK(d[2 * 5 + 3] == Approx(std::sqrt(9.0 + 4.0 + 9.0)).epsilon(1e-7));

  SECTION("hydrogens kept on request") {
    const auto g = chem::featurize_unimol(atoms, xyz, dict, {.remove_hydrogens = false});
    CHECK(values(g.tokens) == std::vector<double>{1, 4, 8, 3, 6, 8, 2});
  }
  SECTION("a molecule of hydrogens only keeps them (the reference's fallback)") {
    const std::vector<std::string> h2 = {"H", "H"};
    const auto g = chem::featurize_unimol(h2, std::vector<double>{0, 0, 0.37, 0, 0, -0.37}, dict);
    CHECK(values(g.tokens) == std::vector<double>{1, 8, 8, 2});
    CHECK(g.distances.data<float>()[1 * 4 + 2] == Approx(0.74).epsilon(1e-6));
  }
  SECTION("the tensor overload reads any floating dtype") {
    const auto g = chem::featurize_unimol(atoms, from_vector(xyz, {5, 3}).to(DType::f32), dict);
    require_equal(g.distances, f.distances);
  }
}

TEST_CASE("features: bad input is refused with a reason", "[unimol][features]") {
  const auto dict = chem::UnimolDictionary::reference();
  const std::vector<std::string> two = {"C", "O"};
  CHECK_THROWS_WITH(chem::featurize_unimol(two, std::vector<double>{0, 0, 0, 1, 1}, dict),
                    Catch::Contains("2 atoms need 6 coordinates"));
  CHECK_THROWS_WITH(chem::featurize_unimol(std::vector<std::string>{}, std::vector<double>{}, dict),
                    Catch::Contains("no atoms"));
  CHECK_THROWS_WITH(chem::featurize_unimol(two, std::vector<double>{0, 0, 0, 1, NAN, 1}, dict),
                    Catch::Contains("not finite"));
  CHECK_THROWS_AS(chem::featurize_unimol(two, zeros({2, 2}, DType::f64), dict), molm::error);
  CHECK_THROWS_AS(chem::featurize_unimol(two, zeros({2, 3}, DType::i64), dict), molm::error);
  CHECK_THROWS_AS(chem::featurize_unimol(two, zeros({3, 3}, DType::f64), dict), molm::error);
  // Without cropping, more atoms than Uni-Mol's limit are an error rather than a silent cut.
  const std::vector<std::string> big(513, "C");
  CHECK_THROWS_WITH(chem::featurize_unimol(big, random_xyz(513, 1), dict, {.max_atoms = 0}),
                    Catch::Contains("at most 512"));
  CHECK(chem::featurize_unimol(std::vector<std::string>(512, "C"), random_xyz(512, 1), dict, {.max_atoms = 0})
            .num_tokens() == 514);
}

TEST_CASE("features: molecules above max_atoms are cropped to a random subset", "[unimol][features]") {
  const auto dict = chem::UnimolDictionary::reference();
  std::vector<std::string> atoms;
  for (int i = 0; i < 300; ++i) atoms.push_back(i % 3 == 0 ? "N" : (i % 7 == 0 ? "H" : "C"));
  const auto xyz = random_xyz(300, 7);
  const auto heavy = std::count_if(atoms.begin(), atoms.end(), [](const std::string& s) { return s != "H"; });
  REQUIRE(heavy > 256);

  Generator gen(123);
  const auto f = chem::featurize_unimol(atoms, xyz, dict, {}, &gen);
  REQUIRE(f.num_tokens() == 258);
  const std::set<std::int64_t> distinct(f.atom_index.begin(), f.atom_index.end());
  REQUIRE(distinct.size() == 256);
  CHECK(!std::is_sorted(f.atom_index.begin(), f.atom_index.end()));  // a permutation, not a prefix
  const auto tok = values(f.tokens);
  std::vector<double> kept_xyz;
  for (std::size_t k = 0; k < 256; ++k) {
    const auto a = static_cast<std::size_t>(f.atom_index[k]);
    REQUIRE(atoms[a] != "H");
    REQUIRE(tok[k + 1] == static_cast<double>(dict.index(atoms[a])));
    for (int c = 0; c < 3; ++c) kept_xyz.push_back(xyz[3 * a + static_cast<std::size_t>(c)]);
  }
  // The crop is taken before centring: the result is the featurization of the kept atoms alone.
  std::vector<std::string> kept_atoms;
  for (auto a : f.atom_index) kept_atoms.push_back(atoms[static_cast<std::size_t>(a)]);
  const auto g = chem::featurize_unimol(kept_atoms, kept_xyz, dict);
  require_equal(g.distances, f.distances);
  require_equal(g.coordinates, f.coordinates);

  Generator same(123), other(124);
  CHECK(chem::featurize_unimol(atoms, xyz, dict, {}, &same).atom_index == f.atom_index);
  CHECK(chem::featurize_unimol(atoms, xyz, dict, {}, &other).atom_index != f.atom_index);
  CHECK(chem::featurize_unimol(atoms, xyz, dict, {.max_atoms = 0}).num_tokens() == heavy + 2);
  CHECK(chem::featurize_unimol(atoms, xyz, dict, {.max_atoms = 10}).num_tokens() == 12);
}

TEST_CASE("collate: right padding to a multiple of 8 with zeros", "[unimol][features]") {
  const auto dict = chem::UnimolDictionary::reference();
  const std::vector<std::string> a = {"C", "O"}, b = {"N", "C", "C", "Cl", "S", "F", "O"};
  const std::vector<chem::UnimolFeatures> mols = {chem::featurize_unimol(a, random_xyz(2, 1), dict),
                                                  chem::featurize_unimol(b, random_xyz(7, 2), dict)};
  const auto batch = data::collate_unimol(mols);
  REQUIRE(batch.tokens.shape() == Shape({2, 16}));  // longest 9 tokens -> 16
  REQUIRE(batch.distances.shape() == Shape({2, 16, 16}));
  REQUIRE(batch.edge_types.dtype() == DType::i64);
  REQUIRE(batch.distances.dtype() == DType::f32);
  REQUIRE(batch.coordinates.shape() == Shape({2, 16, 3}));
  const auto tok = values(batch.tokens), e = values(batch.edge_types), d = values(batch.distances);
  for (int j = 4; j < 16; ++j) CHECK(tok[static_cast<std::size_t>(j)] == 0);
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      if (i >= 4 || j >= 4) {  // every pair touching a padding slot of molecule 0
        CHECK(e[static_cast<std::size_t>(i * 16 + j)] == 0);
        CHECK(d[static_cast<std::size_t>(i * 16 + j)] == 0);
      }
  require_equal(batch.edge_types.select(0, 1).slice(0, 0, 9).slice(1, 0, 9).contiguous(), mols[1].edge_types);

  CHECK(data::collate_unimol(mols, {.pad_to_multiple = 1}).tokens.size(1) == 9);
  CHECK(values(data::collate_unimol(mols, {.pad_token = 7}).tokens)[5] == 7);
  CHECK_THROWS_AS(data::collate_unimol(std::vector<chem::UnimolFeatures>{}), molm::error);
  auto broken = mols;
  broken[1].distances = zeros({3, 3});
  CHECK_THROWS_WITH(data::collate_unimol(broken), Catch::Contains("molecule 1"));
}
