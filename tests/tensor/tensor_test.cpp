#include "support/testing.hpp"

using namespace molm;

TEST_CASE("storage is 64-byte aligned and typed access is checked", "[tensor]") {
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i64, DType::i32, DType::u8,
                   DType::boolean}) {
    Tensor t = Tensor::empty({3, 5}, dt);
    REQUIRE(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64 == 0);
    REQUIRE(t.dtype() == dt);
    REQUIRE(t.numel() == 15);
  }
  Tensor f = zeros({2, 2});
  REQUIRE_NOTHROW(f.data<float>());
  REQUIRE_THROWS_WITH(f.data<double>(), Catch::Contains("f32") && Catch::Contains("f64"));
  REQUIRE_THROWS_AS(Tensor().shape(), molm::error);
  REQUIRE(full({}, 2.5).item<double>() == 2.5);
  REQUIRE_THROWS_WITH(zeros({2}).item<float>(), Catch::Contains("item"));
}

TEST_CASE("views share storage and compose", "[tensor][views]") {
  Tensor t = arange(24, DType::f64).reshape({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  REQUIRE(p.shape() == Shape{4, 2, 3});
  REQUIRE(p.strides() == Shape{1, 12, 4});
  REQUIRE_FALSE(p.is_contiguous());
  REQUIRE(p.raw_data() == t.raw_data());
  // p[3][1][2] = t[1][2][3] = 1*12 + 2*4 + 3
  REQUIRE(p.select(0, 3).select(0, 1).select(0, 2).item<double>() == 23.0);
  Tensor s = t.slice(2, 1, 4, 2);  // columns 1 and 3
  REQUIRE(testing::values(s.select(0, 0).select(0, 0)) == std::vector<double>{1, 3});
  Tensor n = t.narrow(1, 1, 2);
  REQUIRE(n.shape() == Shape{2, 2, 4});
  REQUIRE(testing::values(n)[0] == 4.0);
  Tensor u = t.unsqueeze(1);
  REQUIRE(u.shape() == Shape{2, 1, 3, 4});
  REQUIRE(u.squeeze(1).shape() == t.shape());
  Tensor e = from_vector<double>({1, 2, 3}, {3, 1}).expand({3, 4});
  REQUIRE(e.strides() == Shape{1, 0});
  REQUIRE(testing::values(e) == std::vector<double>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  REQUIRE(t.flatten().shape() == Shape{24});
  REQUIRE(t.flatten(1).shape() == Shape{2, 12});
  REQUIRE(t.view({6, -1}).shape() == Shape{6, 4});
  // a write through a view lands in the base
  t.select(0, 1).select(0, 2).fill_(-1.0);
  REQUIRE(testing::values(p.select(0, 0).select(0, 1))[2] == -1.0);
}

TEST_CASE("view errors name the op and the shapes", "[tensor][views]") {
  Tensor t = zeros({2, 3, 4});
  REQUIRE_THROWS_WITH(t.view({5, 5}), Catch::Contains("view") && Catch::Contains("[2, 3, 4]"));
  REQUIRE_THROWS_WITH(t.transpose(0, 2).view({24}), Catch::Contains("view"));  // not viewable: reshape copies
  REQUIRE(t.transpose(0, 2).reshape({24}).shape() == Shape{24});
  REQUIRE_THROWS_WITH(t.permute({0, 0, 1}), Catch::Contains("permute"));
  REQUIRE_THROWS_WITH(t.expand({2, 5, 4}), Catch::Contains("expand") && Catch::Contains("[2, 5, 4]"));
  REQUIRE(t.slice(1, 2, 9).shape() == Shape{2, 1, 4});  // Python semantics: bounds clamp
  REQUIRE_THROWS_WITH(t.slice(1, 0, 2, 0), Catch::Contains("slice"));
  REQUIRE_THROWS_WITH(t.select(0, 2), Catch::Contains("select"));
  REQUIRE(t.squeeze(1).shape() == t.shape());  // PyTorch: squeezing a non-1 extent is a no-op
  REQUIRE_THROWS_WITH(t.squeeze(5), Catch::Contains("squeeze"));
  REQUIRE_THROWS_WITH(t.view({-1, -1}), Catch::Contains("view"));
}

TEST_CASE("contiguous, clone and to copy the right way", "[tensor]") {
  Tensor t = arange(6, DType::f32).reshape({2, 3});
  Tensor tt = t.transpose(0, 1);
  Tensor c = tt.contiguous();
  REQUIRE(c.is_contiguous());
  REQUIRE(c.raw_data() != t.raw_data());
  REQUIRE(testing::values(c) == std::vector<double>{0, 3, 1, 4, 2, 5});
  REQUIRE(t.contiguous().raw_data() == t.raw_data());  // already contiguous: no copy
  Tensor d = t.to(DType::f64);
  REQUIRE(d.dtype() == DType::f64);
  REQUIRE(t.to(DType::f32).raw_data() == t.raw_data());
  Tensor cl = t.clone();
  cl.fill_(9);
  REQUIRE(testing::values(t)[1] == 1.0);
}

TEST_CASE("in-place writes bump the version and check shapes", "[tensor]") {
  Tensor t = zeros({2, 3});
  const auto v0 = t.version();
  t.fill_(1.0);
  REQUIRE(t.version() > v0);
  t.copy_(from_vector<float>({1, 2, 3}, {3}));  // broadcast source
  REQUIRE(testing::values(t) == std::vector<double>{1, 2, 3, 1, 2, 3});
  REQUIRE_THROWS_WITH(t.copy_(zeros({4})), Catch::Contains("copy_") && Catch::Contains("[4]"));
}

TEST_CASE("printing is readable and abridged", "[tensor][print]") {
  Tensor t = arange(6, DType::f32).reshape({2, 3});
  const std::string s = t.str();
  REQUIRE_THAT(s, Catch::Contains("f32") && Catch::Contains("[2, 3]") && Catch::Contains("5"));
  const std::string big = zeros({1000, 1000}).str();
  REQUIRE(big.size() < 2000);
  REQUIRE_THAT(big, Catch::Contains("..."));
  REQUIRE_THAT(Tensor().str(), Catch::Contains("undefined"));
}

TEST_CASE("as_xtensor is a zero-copy strided view", "[tensor][xtensor]") {
  Tensor t = arange(12, DType::f64).reshape({3, 4});
  auto x = as_xtensor<double>(t.transpose(0, 1));
  REQUIRE(x.shape()[0] == 4);
  REQUIRE(x(1, 2) == 9.0);
  x(0, 0) = -5.0;
  REQUIRE(testing::values(t)[0] == -5.0);
  Tensor back = from_xtensor(x);
  REQUIRE(back.shape() == Shape{4, 3});
  REQUIRE(testing::values(back)[1] == 4.0);
  REQUIRE_THROWS_AS(as_xtensor<float>(t), molm::error);
}
