// ops/indexing.hpp: gather, index_select, embedding. Known values, finite-difference gradients
// (repeated indices, so the scatter-add must accumulate), optimised == reference (bit-exact, forward
// and backward), determinism across thread counts, and bad input.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

namespace {

/// The same values in three memory layouts: dense, transposed, strided slice.
std::vector<Tensor> layouts(const Tensor& base) {
  return {base.clone(), testing::transposed_layout(base), testing::sliced_layout(base)};
}

Tensor ids(const std::vector<std::int64_t>& v, Shape shape = {}) { return from_vector<std::int64_t>(v, shape); }

/// Gradient of sum(f(x) * gy) with respect to x, for a fixed random gy: a fresh leaf each call, so it can run per backend.
Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_value, std::uint64_t seed) {
  Tensor x = x_value.detach().clone();
  x.set_requires_grad();
  Tensor y = f(x);
  y.backward(testing::random(y.shape(), seed, y.dtype()));
  return x.grad();
}

}  // namespace

// ---- known values ---------------------------------------------------------------------------------

TEST_CASE("gather, index_select and embedding: known values", "[ops][indexing]") {
  Tensor x = from_vector<double>({0, 1, 2, 10, 11, 12}, {2, 3});
  // torch.gather(x, 1, [[2, 0], [1, 1]]) = [[2, 0], [11, 11]]
  CHECK(testing::values(gather(x, 1, ids({2, 0, 1, 1}, {2, 2}))) == std::vector<double>{2, 0, 11, 11});
  // torch.gather(x, 0, [[1, 0, 1]]) = [[10, 1, 12]]
  CHECK(testing::values(gather(x, 0, ids({1, 0, 1}, {1, 3}))) == std::vector<double>{10, 1, 12});
  CHECK(testing::values(index_select(x, 1, ids({2, 2, 0}))) == std::vector<double>{2, 2, 0, 12, 12, 10});
  CHECK(index_select(x, 0, ids({1})).shape() == Shape{1, 3});
  CHECK(testing::values(index_select(x, -2, ids({1}))) == std::vector<double>{10, 11, 12});

  Tensor w = from_vector<float>({0, 0, 1, 2, 3, 4}, {3, 2});
  Tensor y = embedding(from_vector<std::int32_t>({2, 1, 2, 0}, {2, 2}), w);
  CHECK(y.shape() == Shape{2, 2, 2});
  CHECK(testing::values(y) == std::vector<double>{3, 4, 1, 2, 3, 4, 0, 0});
  CHECK(embedding(ids({1}, Shape{}), w).shape() == Shape{2});          // 0-d ids -> [D]
  CHECK(embedding(ids({}, Shape{0, 5}), w).shape() == Shape{0, 5, 2});  // no ids -> empty
}

TEST_CASE("embedding: repeated ids accumulate and the padding row gets no gradient", "[ops][indexing]") {
  Tensor w = testing::random({4, 3}, 1);
  w.set_requires_grad();
  Tensor idx = ids({1, 3, 1, 0, 1, 3}, {2, 3});
  Tensor gy = testing::random({2, 3, 3}, 2);
  for (std::int64_t pad : {-1, 1, 3}) {
    INFO("padding_idx " << pad);
    w.zero_grad();
    embedding(idx, w, pad).backward(gy);
    const auto dw = testing::values(w.grad());
    const auto g = testing::values(gy);
    const std::vector<std::int64_t> id{1, 3, 1, 0, 1, 3};
    std::vector<double> expect(12, 0.0);
    for (std::size_t n = 0; n < id.size(); ++n)
      for (std::size_t d = 0; d < 3; ++d)
        if (id[n] != pad) expect[static_cast<std::size_t>(id[n]) * 3 + d] += g[n * 3 + d];
    for (std::size_t i = 0; i < 12; ++i) CHECK(dw[i] == Approx(expect[i]).epsilon(1e-14));
    if (pad >= 0)
      for (std::size_t d = 0; d < 3; ++d) CHECK(dw[static_cast<std::size_t>(pad) * 3 + d] == 0.0);
  }
}

// ---- gradients ------------------------------------------------------------------------------------

TEST_CASE("gather: gradients match finite differences, repeated indices, any layout", "[ops][indexing]") {
  struct Case {
    Shape x;
    std::int64_t dim;
    Shape index;
  };
  const std::vector<Case> cases{
      {{5}, 0, {9}},             // 1-d, more picks than entries: repeats
      {{4, 5}, 0, {7, 5}},       // along rows
      {{4, 5}, 1, {4, 8}},       // along columns
      {{4, 5}, -1, {3, 2}},      // index smaller than x in the other dimension
      {{3, 4, 5}, 1, {2, 6, 5}}, // middle dimension
  };
  Generator gen(3);
  for (const auto& c : cases) {
    const int k = static_cast<int>(c.dim < 0 ? c.dim + c.x.size() : c.dim);
    Tensor index = randint(0, c.x[k], c.index, gen);
    for (const Tensor& ix : {index, testing::transposed_layout(index)}) {
      for (Tensor x : layouts(testing::random(c.x, 4))) {
        x.set_requires_grad();
        INFO("x " << c.x.str() << " dim " << c.dim << " index " << c.index.str());
        gradcheck([&](const std::vector<Tensor>& in) { return gather(in[0], c.dim, ix); }, {x});
      }
    }
  }
}

TEST_CASE("index_select: gradients match finite differences, repeated indices, any layout", "[ops][indexing]") {
  Tensor rep = ids({4, 0, 4, 2, 4, 1});
  for (const Shape& shape : {Shape{5, 3}, Shape{3, 5}, Shape{2, 5, 3}, Shape{2, 3, 5}}) {
    for (std::int64_t dim = 0; dim < shape.size(); ++dim) {
      if (shape[static_cast<int>(dim)] != 5) continue;
      for (Tensor x : layouts(testing::random(shape, 5))) {
        x.set_requires_grad();
        INFO("x " << shape.str() << " dim " << dim);
        gradcheck([&](const std::vector<Tensor>& in) { return index_select(in[0], dim, rep); }, {x});
        gradcheck([&](const std::vector<Tensor>& in) { return index_select(in[0], dim - shape.size(), rep.to(DType::i32)); },
                  {x});
        gradcheck([&](const std::vector<Tensor>& in) { return index_select(in[0], dim, testing::sliced_layout(rep)); },
                  {x});
      }
    }
  }
}

TEST_CASE("embedding: gradients match finite differences, repeated ids, any layout", "[ops][indexing]") {
  const Tensor id_sets[] = {ids({3}, Shape{}), ids({0, 2, 2, 5, 2}), ids({1, 1, 4, 0, 5, 1}, {2, 3}),
                            testing::transposed_layout(ids({1, 1, 4, 0, 5, 1, 2, 2}, {2, 4})),
                            ids({5, 0, 5, 3, 3, 5, 1, 0}, {2, 2, 2}).to(DType::i32)};
  for (const Tensor& idx : id_sets) {
    for (Tensor w : layouts(testing::random({6, 4}, 6))) {
      w.set_requires_grad();
      INFO("ids " << idx.shape().str() << " " << name(idx.dtype()));
      gradcheck([&](const std::vector<Tensor>& in) { return embedding(idx, in[0]); }, {w});
    }
  }
}

// ---- optimised kernels ----------------------------------------------------------------------------

TEST_CASE("indexing: optimised kernels equal the reference loops exactly, forward and backward", "[ops][indexing]") {
  Generator gen(9);
  const Tensor tokens = randint(0, 50, {24, 20}, gen);  // 480 ids into 50 rows: many repeats
  const Tensor picks = randint(0, 50, {16, 60, 40}, gen);
  const Tensor rows = randint(0, 37, {60}, gen);
  for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
    INFO(name(dt));
    const Tensor w = testing::random({50, 96}, 10, dt);
    const Tensor x = testing::random({16, 50, 40}, 11, dt);
    const Tensor v = testing::random({37, 20, 60}, 12, dt);
    for (const Tensor& wl : {w, testing::transposed_layout(w)}) {
      auto emb = [&](const Tensor& t) { return embedding(tokens, t, 7); };
      testing::require_matches_reference([&] { return emb(wl); }, 0.0);
      testing::require_matches_reference([&] { return grad_of(emb, wl, 13); }, 0.0);
    }
    for (const Tensor& xl : {x, testing::transposed_layout(x)}) {
      auto gat = [&](const Tensor& t) { return gather(t, 1, picks); };
      testing::require_matches_reference([&] { return gat(xl); }, 0.0);
      testing::require_matches_reference([&] { return grad_of(gat, xl, 14); }, 0.0);
    }
    for (std::int64_t dim : {0, 2}) {
      const Tensor r = dim == 0 ? rows : randint(0, 60, {90}, gen);
      auto sel = [&](const Tensor& t) { return index_select(t, dim, r); };
      testing::require_matches_reference([&] { return sel(v); }, 0.0);
      testing::require_matches_reference([&] { return grad_of(sel, v, 15); }, 0.0);
    }
  }
}

TEST_CASE("indexing: the scatter-add gives identical bits on 1 and 2 threads", "[ops][indexing]") {
  Generator gen(17);
  const Tensor tokens = randint(0, 30, {5000}, gen);
  const Tensor w = testing::random({30, 64}, 18, DType::f32);
  auto emb = [&](const Tensor& t) { return embedding(tokens, t); };
  const int before = num_threads();
  set_num_threads(1);
  const Tensor one = grad_of(emb, w, 19);
  set_num_threads(2);
  const Tensor two = grad_of(emb, w, 19);
  set_num_threads(before);
  testing::require_close(two, one, 0.0, 0.0);
}

// ---- bad input ------------------------------------------------------------------------------------

TEST_CASE("indexing ops reject bad indices with messages naming the op, the value and the shapes",
          "[ops][indexing][errors]") {
  Tensor w = testing::random({5, 3}, 1);
  REQUIRE_THROWS_WITH(embedding(ids({1, 5, 2}), w), Catch::Contains("[embedding]") && Catch::Contains("index 5") &&
                                                        Catch::Contains("5 rows") && Catch::Contains("[3]") &&
                                                        Catch::Contains("[5, 3]"));
  REQUIRE_THROWS_WITH(embedding(ids({0, -1}), w), Catch::Contains("[embedding]") && Catch::Contains("index -1"));
  REQUIRE_THROWS_WITH(embedding(testing::random({2}, 1, DType::f32), w),
                      Catch::Contains("[embedding]") && Catch::Contains("i64 or i32") && Catch::Contains("f32") &&
                          Catch::Contains("[5, 3]"));
  REQUIRE_THROWS_WITH(embedding(ids({0}), testing::random({5}, 1)),
                      Catch::Contains("[embedding]") && Catch::Contains("2-d"));
  REQUIRE_THROWS_WITH(embedding(ids({0}), w, 5), Catch::Contains("[embedding]") && Catch::Contains("padding_idx 5"));

  Tensor x = testing::random({2, 3}, 2);
  REQUIRE_THROWS_WITH(index_select(x, 1, ids({0, 3})), Catch::Contains("[index_select]") && Catch::Contains("index 3") &&
                                                           Catch::Contains("size 3") && Catch::Contains("[2, 3]") &&
                                                           Catch::Contains("[2]"));
  REQUIRE_THROWS_WITH(index_select(x, 0, ids({-1})), Catch::Contains("[index_select]") && Catch::Contains("index -1"));
  REQUIRE_THROWS_WITH(index_select(x, 0, ids({0, 1}, {1, 2})),
                      Catch::Contains("[index_select]") && Catch::Contains("1-d") && Catch::Contains("[1, 2]"));
  REQUIRE_THROWS_WITH(index_select(x, 2, ids({0})), Catch::Contains("[index_select]") && Catch::Contains("dimension 2"));
  REQUIRE_THROWS_WITH(index_select(x, 0, testing::random({1}, 1)),
                      Catch::Contains("[index_select]") && Catch::Contains("f64"));

  REQUIRE_THROWS_WITH(gather(x, 0, ids({2, 0, 1}, {1, 3})), Catch::Contains("[gather]") && Catch::Contains("index 2") &&
                                                                Catch::Contains("[2, 3]") && Catch::Contains("[1, 3]"));
  REQUIRE_THROWS_WITH(gather(x, 1, ids({0, -2}, {1, 2})), Catch::Contains("[gather]") && Catch::Contains("index -2"));
  REQUIRE_THROWS_WITH(gather(x, 1, ids({0, 1})), Catch::Contains("[gather]") && Catch::Contains("dimensions") &&
                                                    Catch::Contains("[2]") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(gather(x, 1, ids({0, 1, 0, 1, 0, 1}, {3, 2})),
                      Catch::Contains("[gather]") && Catch::Contains("exceeds") && Catch::Contains("[3, 2]"));
  REQUIRE_THROWS_WITH(gather(x, 1, ids({0}, {1, 1}).to(DType::u8)),
                      Catch::Contains("[gather]") && Catch::Contains("u8"));
}
