#include "support/testing.hpp"

#include <fstream>

using namespace molm;

TEST_CASE("npy round-trips every storable dtype", "[io][npy]") {
  const auto dir = std::filesystem::temp_directory_path() / "molm_npy_test";
  std::filesystem::create_directories(dir);
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::i32, DType::u8}) {
    Tensor t = testing::random({3, 4}, 7, DType::f64, 0.0, 9.0).to(dt);
    save_npy(dir / "t.npy", t.transpose(0, 1));
    Tensor back = load_npy(dir / "t.npy");
    REQUIRE(back.dtype() == dt);
    REQUIRE(back.shape() == Shape{4, 3});
    testing::require_close(back, t.transpose(0, 1), 0.0);
  }
}

TEST_CASE("npy rejects what it cannot read", "[io][npy]") {
  const auto dir = std::filesystem::temp_directory_path() / "molm_npy_test";
  std::filesystem::create_directories(dir);
  REQUIRE_THROWS_WITH(load_npy(dir / "missing.npy"), Catch::Contains("cannot open"));
  { std::ofstream(dir / "junk.npy") << "not numpy at all"; }
  REQUIRE_THROWS_WITH(load_npy(dir / "junk.npy"), Catch::Contains("not an .npy file"));
  save_npy(dir / "ok.npy", testing::random({64}, 1));
  std::filesystem::resize_file(dir / "ok.npy", 100);  // header intact, data cut short
  REQUIRE_THROWS_AS(load_npy(dir / "ok.npy"), molm::error);
  REQUIRE_THROWS_WITH(save_npy(dir / "h.npy", testing::random({2}, 1).to(DType::bf16)), Catch::Contains("bf16"));
}
