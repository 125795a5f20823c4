// The embedded default data set (data/default_set.hpp) on RDKit's real NCI molecules.
#include "support/testing.hpp"

#include <molm/data/default_set.hpp>

#include <nlohmann/json.hpp>
#include <omp.h>

#include <regex>
#include <set>

using namespace molm;
namespace fs = std::filesystem;

namespace {

[[maybe_unused]] const bool have_nci = [] {
  try {
    data::find_nci_smiles();
    return true;
  } catch (const molm::error& e) {
    std::fprintf(stderr, "SKIP: %s\n", e.what());
    std::exit(77);
  }
}();

// Built once: 600 molecules are enough for every property below and keep the test quick.
const data::DefaultSet& small_set() {
  static const data::DefaultSet set = data::build_default_set({.seed = 5, .limit = 600});
  return set;
}

}  // namespace

TEST_CASE("property answers and questions use the reference's templates and number formats") {
  CHECK(data::property_answer("Molecular Weight", 180.159) == "The Molecular Weight for the input molecule is 180.16 g/mol.");
  CHECK(data::property_answer("Topological Polar Surface Area", 63.6) ==
        "The Topological Polar Surface Area for the input molecule is 63.60 \u00c5\u00b2.");
  CHECK(data::property_answer("LogP", -0.5) == "The LogP for the input molecule is -0.50.");
  CHECK(data::property_answer("Ring Count", 2) == "The Ring Count for the input molecule is 2.00.");
  CHECK(data::property_instruction(data::property_question_templates()[7], "LogP") ==
        "Please provide me with the LogP value of this molecule. Determine the LogP value of this molecule. "
        "If uncertain, provide an estimate. Respond with the numerical value only.");
}

TEST_CASE("template descriptions state RDKit's facts about aspirin") {
  const auto m = chem::from_smiles("CC(=O)Oc1ccccc1C(=O)O");
  const auto d = chem::describe(m);
  const auto text = data::template_description(d, chem::functional_groups(*m.mol), chem::murcko_scaffold(*m.mol),
                                               chem::canonical_smiles(*m.mol));
  INFO(text);
  CHECK_THAT(text, Catch::StartsWith("The molecule has the formula C9H8O4 and a molecular weight of 180.16 g/mol, "
                                     "with 13 heavy atoms."));
  CHECK_THAT(text, Catch::Contains("It contains one ring, which is aromatic; its Bemis-Murcko scaffold is c1ccccc1."));
  CHECK_THAT(text, Catch::Contains("a carboxylic acid"));
  CHECK_THAT(text, Catch::Contains("an ester"));
  CHECK_THAT(text, Catch::Contains("a benzene ring"));
  CHECK_THAT(text, Catch::Contains("one hydrogen-bond donor"));
  CHECK_THAT(text, !Catch::Contains("formal charge"));

  const auto salt = chem::from_smiles("[Na+].CC(=O)[O-]");
  const auto ds = chem::describe(salt);
  const auto salt_text = data::template_description(ds, chem::functional_groups(*salt.mol), "",
                                                    chem::canonical_smiles(*salt.mol));
  CHECK_THAT(salt_text, Catch::Contains("two separate components"));
  CHECK_THAT(salt_text, Catch::Contains("It is acyclic."));
}

TEST_CASE("scaffold split: whole scaffold groups, largest first into train, deterministic") {
  // 10 molecules: scaffold A ×5, B ×2, C ×1, D ×1, "" (acyclic) ×1
  const std::vector<std::string> scaffolds = {"A", "B", "A", "C", "A", "", "B", "A", "D", "A"};
  const auto s = data::scaffold_split(scaffolds, 0.6, 0.2);
  // A (5) fits in train (6); B (2) would make 7 > 6 and fits valid (8); C then fills train to 6;
  // D: train full, valid 2+... (5+1+2+1 = 9 > 8) → test; "" (size 1, first index 5) → test
  CHECK(s[0] == data::Split::train);
  CHECK(s[1] == data::Split::valid);
  CHECK(s[6] == data::Split::valid);
  CHECK(s[3] == data::Split::train);
  CHECK(s[8] == data::Split::test);
  CHECK(s[5] == data::Split::test);
  CHECK_THROWS_WITH(data::scaffold_split(scaffolds, 0.9, 0.2), Catch::Contains("fractions"));
}

TEST_CASE("the default set on NCI molecules: split, answers, determinism") {
  const auto& set = small_set();
  REQUIRE(set.molecules.size() + set.failures.size() == 600);
  CHECK(set.molecules.size() > 590);
  for (const auto& f : set.failures) CHECK(!f.error.empty());

  // scaffold split: ~80/10/10 and no scaffold in two splits
  const auto n = static_cast<double>(set.molecules.size());
  CHECK(set.count(data::Split::train) <= 0.8 * n);
  CHECK(set.count(data::Split::train) > 0.7 * n);
  CHECK(set.count(data::Split::valid) > 0.05 * n);
  CHECK(set.count(data::Split::test) > 0.05 * n);
  std::map<std::string, data::Split> split_of;
  for (const auto& m : set.molecules) {
    const auto [it, fresh] = split_of.emplace(m.scaffold, m.split);
    if (!fresh) CHECK(it->second == m.split);
  }

  // answers: the reference's regex (first match of -?\d+\.\d+) reads back the value to 2 decimals
  const std::regex number(R"(-?\d+\.\d+)");
  const auto& templates = data::property_question_templates();
  std::set<std::string> templates_used;
  for (const auto& m : set.molecules) {
    REQUIRE(m.questions.size() == data::default_property_tasks().size());
    CHECK(m.id.rfind("NCI-", 0) == 0);
    CHECK(!m.description.empty());
    for (const auto& q : m.questions) {
      std::smatch match;
      REQUIRE(std::regex_search(q.answer, match, number));
      CHECK(std::abs(std::stod(match.str()) - q.value) <= 0.005 + 1e-12);  // two decimals, rounded
      CHECK_THAT(q.instruction, Catch::EndsWith(std::string(data::kPropertyQuestionSuffix)));
      CHECK_THAT(q.instruction, Catch::Contains(q.task));
      for (std::size_t t = 0; t < templates.size(); ++t)
        if (q.instruction == data::property_instruction(templates[t], q.task)) templates_used.insert(templates[t]);
    }
  }
  CHECK(templates_used.size() == templates.size());  // every template is drawn

  // same options, same set, whatever the thread count
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto again = data::build_default_set({.seed = 5, .limit = 600});
  omp_set_num_threads(threads);
  REQUIRE(again.molecules.size() == set.molecules.size());
  for (std::size_t i = 0; i < set.molecules.size(); ++i) {
    CHECK(data::to_json(again.molecules[i]) == data::to_json(set.molecules[i]));
    CHECK(again.molecules[i].questions[2].instruction == set.molecules[i].questions[2].instruction);
  }
  // another seed draws other templates, nothing else changes
  const auto reseeded = data::build_default_set({.seed = 6, .limit = 50});
  int differ = 0;
  for (std::size_t i = 0; i < reseeded.molecules.size(); ++i) {
    CHECK(reseeded.molecules[i].description == set.molecules[i].description);
    differ += reseeded.molecules[i].questions[0].instruction != set.molecules[i].questions[0].instruction;
  }
  CHECK(differ > 10);
}

TEST_CASE("datasets and files of the default set") {
  const auto& set = small_set();
  const auto qa = set.property_qa(data::Split::valid);
  CHECK(qa.size() == set.count(data::Split::valid) * data::default_property_tasks().size());
  const auto sample = qa.get(0);
  CHECK(sample.derived);
  CHECK(sample.value.has_value());
  const auto captions = set.captions(data::Split::test);
  CHECK(captions.size() == set.count(data::Split::test));
  CHECK(captions.get(0).task == "Caption");
  CHECK(captions.name() == "default-nci/test/captions");

  const auto dir = testing::scratch_dir("default_set");
  data::write_default_set(set, dir);
  const auto qa_json = nlohmann::json::parse(testing::read_file(dir / "valid" / "property_qa.json"));
  REQUIRE(qa_json.is_array());
  CHECK(qa_json.size() == qa.size());
  CHECK(qa_json[0]["output"] == sample.text);
  CHECK(qa_json[0]["input"] == sample.id);
  CHECK(qa_json[0]["task"] == sample.task);
  CHECK(qa_json[0]["instruction"] == sample.instruction);
  std::size_t lines = 0;
  std::istringstream molecules(testing::read_file(dir / "molecules.jsonl"));
  for (std::string line; std::getline(molecules, line); ++lines) CHECK(nlohmann::json::parse(line)["derived"] == true);
  CHECK(lines == set.molecules.size());
  const auto summary = nlohmann::json::parse(testing::read_file(dir / "summary.json"));
  CHECK(summary["molecules"] == set.molecules.size());
  CHECK(summary["test"] == set.count(data::Split::test));
}
