#include "support/testing.hpp"

#include <molm/data/collate.hpp>
#include <molm/data/dataset.hpp>
#include <molm/data/sampler.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <set>

using namespace molm;

namespace {

std::vector<std::int64_t> row_of(const Tensor& t, std::int64_t b) {
  const auto T = t.shape()[1];
  const std::int64_t* p = t.data<std::int64_t>() + b * T;
  return {p, p + T};
}

}  // namespace

TEST_CASE("datasets: in memory, subsets and concatenation with range-checked access") {
  data::VectorDataset<std::string> a({"a0", "a1", "a2"}, "a");
  data::VectorDataset<std::string> b({"b0", "b1"}, "b");
  CHECK(a.size() == 3);
  CHECK(a.get(2) == "a2");
  CHECK_THROWS_WITH(a.get(3), Catch::Contains("a: index 3 is out of range (size 3)"));

  data::Subset<std::string> sub(a, {2, 0}, "a/odd");
  CHECK(sub.size() == 2);
  CHECK(sub.get(0) == "a2");
  CHECK(sub.get(1) == "a0");
  CHECK_THROWS_WITH(data::Subset<std::string>(a, {0, 7}), Catch::Contains("index 7 is out of range"));

  data::Concat<std::string> both({&a, &b});
  REQUIRE(both.size() == 5);
  std::vector<std::string> all;
  for (std::size_t i = 0; i < both.size(); ++i) all.push_back(both.get(i));
  CHECK(all == std::vector<std::string>{"a0", "a1", "a2", "b0", "b1"});
  CHECK(both.locate(3) == std::pair<std::size_t, std::size_t>{1, 0});
  CHECK_THROWS_WITH(both.get(5), Catch::Contains("index 5 is out of range (size 5)"));

  data::VectorDataset<std::string> empty({}, "empty");
  data::Concat<std::string> with_empty({&empty, &b});
  CHECK(with_empty.get(0) == "b0");
}

TEST_CASE("sharded sampler: PyTorch DistributedSampler order without shuffle, padded by wrapping") {
  // torch.utils.data.DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False)
  const std::vector<std::vector<std::size_t>> torch_order = {{0, 3, 6, 9}, {1, 4, 7, 0}, {2, 5, 8, 1}};
  for (std::size_t r = 0; r < 3; ++r) {
    data::ShardedSampler s(10, {.rank = r, .world = 3});
    CHECK(s.per_rank() == 4);
    CHECK(s.indices() == torch_order[r]);
  }
  // drop_last: the tail that does not divide evenly is dropped, ranks stay disjoint
  std::set<std::size_t> seen;
  for (std::size_t r = 0; r < 3; ++r) {
    const auto idx = data::ShardedSampler(10, {.rank = r, .world = 3, .drop_last = true}).indices();
    CHECK(idx.size() == 3);
    for (auto i : idx) CHECK(seen.insert(i).second);
  }
  CHECK(seen.size() == 9);
  CHECK_THROWS_WITH(data::ShardedSampler(10, {.rank = 3, .world = 3}), Catch::Contains("rank 3 is not below world size 3"));
  CHECK(data::ShardedSampler(0, {.world = 2}).indices().empty());
}

TEST_CASE("sharded sampler: seeded shuffles are permutations, reproducible, new each epoch, split across ranks") {
  const std::size_t n = 101;
  data::ShardedSampler one(n, {.shuffle = true, .seed = 42});
  const auto e0 = one.indices(0), e0_again = one.indices(0), e1 = one.indices(1);
  CHECK(e0 == e0_again);
  CHECK(e0 != e1);
  auto sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::size_t> iota(n);
  std::iota(iota.begin(), iota.end(), 0);
  CHECK(sorted == iota);
  CHECK(e0 != iota);
  CHECK(data::ShardedSampler(n, {.shuffle = true, .seed = 43}).indices(0) != e0);

  // Four ranks: each gets ceil(101/4) = 26 rows; together they cover the epoch's order (3 rows twice).
  std::multiset<std::size_t> union_of_ranks;
  for (std::size_t r = 0; r < 4; ++r) {
    const auto idx = data::ShardedSampler(n, {.shuffle = true, .seed = 42, .rank = r, .world = 4}).indices(1);
    CHECK(idx.size() == 26);
    CHECK(idx.front() == e1[r]);  // rank r takes positions r, r+4, … of the same shuffled order
    union_of_ranks.insert(idx.begin(), idx.end());
  }
  CHECK(union_of_ranks.size() == 104);
  for (std::size_t i = 0; i < n; ++i) CHECK(union_of_ranks.count(i) >= 1);
}

TEST_CASE("batches: last batch smaller unless dropped") {
  const std::vector<std::size_t> order = {5, 4, 3, 2, 1};
  const auto b = data::batches(order, 2);
  REQUIRE(b.size() == 3);
  CHECK(b[2] == std::vector<std::size_t>{1});
  CHECK(data::batches(order, 2, true).size() == 2);
  CHECK_THROWS(data::batches(order, 0));
}

TEST_CASE("mixture sampler: the fourth-root rule, deterministic draws, empty parts never drawn") {
  const std::vector<std::size_t> sizes = {10000, 100, 0, 1};
  data::MixtureSampler mix(sizes, {.seed = 3});
  const auto& p = mix.probabilities();
  const double z = 10.0 + std::pow(100.0, 0.25) + 1.0;
  CHECK(p[0] == Approx(10.0 / z).epsilon(1e-12));
  CHECK(p[1] == Approx(std::pow(100.0, 0.25) / z).epsilon(1e-12));
  CHECK(p[2] == 0.0);
  CHECK(p[3] == Approx(1.0 / z).epsilon(1e-12));
  CHECK(mix.epoch_length() == 10101);

  const std::size_t draws = 200000;
  std::vector<double> count(4, 0);
  std::set<std::size_t> rows_of_part1;
  for (std::uint64_t k = 0; k < draws; ++k) {
    const auto [part, row] = mix.draw(k);
    REQUIRE(part < 4);
    REQUIRE(row < sizes[part]);
    count[part] += 1;
    if (part == 1) rows_of_part1.insert(row);
  }
  CHECK(count[2] == 0);
  for (std::size_t i : {0, 1, 3}) {
    const double sd = std::sqrt(p[i] * (1 - p[i]) / draws);
    CHECK(std::abs(count[i] / draws - p[i]) < 5 * sd);  // a 5-sigma band: fails only if the rule is wrong
  }
  CHECK(rows_of_part1.size() == 100);  // uniform rows: every row of a 100-row part shows up
  CHECK(mix.draw(12345) == data::MixtureSampler(sizes, {.seed = 3}).draw(12345));
  CHECK_THROWS_WITH(data::MixtureSampler({0, 0}), Catch::Contains("every part is empty"));
}

TEST_CASE("pad_sequences: left and right, longest or fixed length, labels alongside") {
  const std::vector<std::vector<std::int64_t>> rows = {{5, 6, 7}, {8}};
  const std::vector<std::vector<std::int64_t>> labels = {{-100, 6, 7}, {8}};
  auto right = data::pad_sequences(rows, {.pad_id = 0});
  CHECK(right.ids.shape() == Shape{2, 3});
  CHECK(row_of(right.ids, 1) == std::vector<std::int64_t>{8, 0, 0});
  CHECK(row_of(right.attention_mask, 1) == std::vector<std::int64_t>{1, 0, 0});
  auto left = data::pad_sequences(rows, {.pad_id = 32000, .side = data::PadSide::left, .length = 4}, labels);
  CHECK(left.ids.shape() == Shape{2, 4});
  CHECK(row_of(left.ids, 0) == std::vector<std::int64_t>{32000, 5, 6, 7});
  CHECK(row_of(left.ids, 1) == std::vector<std::int64_t>{32000, 32000, 32000, 8});
  CHECK(row_of(left.attention_mask, 1) == std::vector<std::int64_t>{0, 0, 0, 1});
  CHECK(row_of(left.labels, 0) == std::vector<std::int64_t>{-100, -100, 6, 7});
  CHECK_THROWS_WITH(data::pad_sequences(rows, {.length = 2}), Catch::Contains("more than the padded length 2"));
  const std::vector<std::vector<std::int64_t>> bad_labels = {{1}, {8}};
  CHECK_THROWS_WITH(data::pad_sequences(rows, {}, bad_labels), Catch::Contains("row 0 has 3 ids but 1 labels"));
}

TEST_CASE("encode_pair equals transformers 4.35 LlamaTokenizer.prepare_for_model as the reference configures it") {
  const auto path = testing::golden_dir() / "collate" / "pairs.jsonl";
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    const auto c = nlohmann::json::parse(line);
    const auto prompt = c["prompt"].get<std::vector<std::int64_t>>();
    const auto target = c["target"].get<std::vector<std::int64_t>>();
    const auto max_length = c["max_length"].get<std::size_t>();
    INFO("case " << cases << ": prompt " << prompt.size() << ", target " << target.size() << ", max " << max_length);
    const auto e = data::encode_pair(prompt, target, {.max_length = max_length});
    const std::vector<std::vector<std::int64_t>> rows = {e.ids}, labels = {e.labels}, types = {e.token_types};
    const auto batch = data::pad_sequences(rows, {.pad_id = 32000, .side = data::PadSide::left, .length = max_length},
                                           labels);
    CHECK(row_of(batch.ids, 0) == c["input_ids"].get<std::vector<std::int64_t>>());
    CHECK(row_of(batch.attention_mask, 0) == c["attention_mask"].get<std::vector<std::int64_t>>());
    const auto padded_types = data::pad_sequences(types, {.pad_id = 0, .side = data::PadSide::left, .length = max_length});
    CHECK(row_of(padded_types.ids, 0) == c["token_type_ids"].get<std::vector<std::int64_t>>());
    // labels: the ids where the token type is 1, ignore elsewhere (padding and the prompt)
    const auto ids = c["input_ids"].get<std::vector<std::int64_t>>();
    const auto tt = c["token_type_ids"].get<std::vector<std::int64_t>>();
    const auto am = c["attention_mask"].get<std::vector<std::int64_t>>();
    const auto lab = row_of(batch.labels, 0);
    for (std::size_t i = 0; i < ids.size(); ++i)
      CHECK(lab[i] == (tt[i] == 1 && am[i] == 1 ? ids[i] : data::kIgnoreIndex));
    ++cases;
  }
  CHECK(cases == 10);
}

TEST_CASE("encode_pair refuses a truncation that cuts into the <mol> tokens") {
  std::vector<std::int64_t> prompt = {1000};
  for (int i = 0; i < 8; ++i) prompt.push_back(32001);
  const std::vector<std::int64_t> target(30, 7);
  CHECK_NOTHROW(data::encode_pair(prompt, target, {.max_length = 20}));  // prompt 9 + target 9 + 2
  CHECK_THROWS_WITH(data::encode_pair(prompt, target, {.max_length = 18}),
                    Catch::Contains("the prompt holds 7 <mol> tokens"));
  const auto untruncated = data::encode_pair(prompt, target, {.max_length = 0});
  CHECK(untruncated.ids.size() == 9 + 30 + 2);
  CHECK(untruncated.labels[10] == 2);  // the second </s> is a label (§5.5)
  CHECK(untruncated.labels[9] == data::kIgnoreIndex);
}
