#include "support/testing.hpp"

#include <molm/data/benchmarks.hpp>

#include <fstream>

using namespace molm;
namespace fs = std::filesystem;

namespace {

fs::path scratch_file(const std::string& name, const std::string& content) {
  const auto p = testing::scratch_root() / name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

}  // namespace

TEST_CASE("delimited tables: header lookup, CRLF, gzip, and errors that name file and line") {
  const auto ok = scratch_file("ok.tsv", "a\tb\r\n1\t2\r\n\r\n3\t4\n");
  const auto t = data::read_delimited(ok, '\t');
  CHECK(t.header == std::vector<std::string>{"a", "b"});
  REQUIRE(t.rows.size() == 2);
  CHECK(t.rows[1].fields == std::vector<std::string>{"3", "4"});
  CHECK(t.rows[1].line == 4);
  CHECK(t.column("b") == 1);
  CHECK_THROWS_WITH(t.column("smiles"), Catch::Contains("no column 'smiles' (columns: a, b)"));

  CHECK_THROWS_WITH(data::read_delimited(scratch_file("short.tsv", "a\tb\n1\n"), '\t'),
                    Catch::Contains("short.tsv:2: 1 fields, the header has 2"));
  CHECK_THROWS_WITH(data::read_delimited(scratch_file("latin1.tsv", "a\tb\n\xe9\t1\n"), '\t'),
                    Catch::Contains("not UTF-8"));
  CHECK_THROWS_WITH(data::read_delimited(scratch_file("quoted.csv", "a,b\n\"x,y\",1\n"), ','),
                    Catch::Contains("quoted fields are not supported"));
  CHECK_THROWS_WITH(data::read_delimited(scratch_file("empty.tsv", ""), '\t'), Catch::Contains("is empty"));
  CHECK_THROWS_WITH(data::read_delimited(fs::path("/nonexistent/x.tsv"), '\t'), Catch::Contains("cannot open"));

  CHECK_THROWS_WITH(data::read_qm9(scratch_file("qm9.csv", "mol_id,smiles\ngdb_1,C\n")), Catch::Contains("no column 'homo'"));
  CHECK_THROWS_WITH(data::read_chebi20(scratch_file("chebi.txt", "CID\tSMILES\tdescription\nx\tC\tThe molecule is.\n")),
                    Catch::Contains("chebi.txt:2: column 'CID' = 'x' is not an integer"));
}

TEST_CASE("ChEBI-20's doubled backslashes are undone") {
  std::string s = "C/C=C\\\\C";  // as published: C/C=C\\C
  CHECK(data::undo_doubled_backslashes(s));
  CHECK(s == "C/C=C\\C");
  std::string clean = "C/C=C\\C";
  CHECK_FALSE(data::undo_doubled_backslashes(clean));
  CHECK(clean == "C/C=C\\C");
}
