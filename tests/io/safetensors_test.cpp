#include "support/testing.hpp"

#include <csignal>
#include <fstream>
#include <iterator>

#include <sys/resource.h>

using namespace molm;

namespace {

constexpr DType kAllDTypes[] = {DType::f64, DType::f32, DType::f16, DType::bf16,
                                DType::i64, DType::i32, DType::u8,  DType::boolean};

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A safetensors file with the given header text and `data_size` data bytes, all `fill` (0 keeps
/// BOOL tensors valid).
std::string st_file(const std::string& header, std::size_t data_size = 16, char fill = 0) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<std::uint64_t>(header.size()) >> (8 * i)) & 0xff);
  return out + header + std::string(data_size, fill);
}

std::string st_file_with_length(std::uint64_t length, const std::string& rest) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + rest;
}

/// Same dtype and exactly the same values (any dtype, any layout).
void require_equal(const Tensor& a, const Tensor& b) {
  REQUIRE(a.dtype() == b.dtype());
  testing::require_close(a, b, 0.0, 0.0);
}

/// Opening (and reading every tensor of) `bytes` must raise molm::error whose one-line message
/// contains `expect`; the same bytes parsed from an exactly-sized heap buffer must fail too, so
/// AddressSanitizer sees any read past the end.
void require_rejected(const std::string& bytes, const std::string& expect) {
  INFO("expected error containing: " << expect);
  const auto path = testing::scratch_root() / "bad.safetensors";
  std::filesystem::create_directories(path.parent_path());
  write_bytes(path, bytes);
  std::string message;
  try {
    SafetensorsFile f(path);
    for (const auto& n : f.names()) f.tensor(n);
  } catch (const molm::error& e) {
    message = e.what();
  }
  INFO("message: " << message);
  REQUIRE(!message.empty());
  CHECK(message.find('\n') == std::string::npos);
  CHECK_THAT(message, Catch::Contains(expect));
  CHECK_THAT(message, Catch::Contains("bad.safetensors"));

  std::vector<std::byte> heap(bytes.size());
  if (!bytes.empty()) std::memcpy(heap.data(), bytes.data(), bytes.size());
  bool header_ok = true;
  try {
    io::detail::parse_safetensors_header(heap.data(), heap.size(), "heap");
  } catch (const molm::error&) {
    header_ok = false;
  }
  // Only a bad BOOL byte passes the header and fails later, on reading the tensor.
  CHECK(header_ok == (expect.find("BOOL byte") != std::string::npos));
}

std::map<std::string, Tensor> sample_tensors() {
  std::map<std::string, Tensor> m;
  std::uint64_t seed = 1;
  for (DType dt : kAllDTypes) {
    const std::string d(name(dt));
    auto make = [&](const Shape& s) {
      const bool unsigned_type = dt == DType::boolean || dt == DType::u8;
      Tensor t = testing::random(s, seed++, DType::f64, unsigned_type ? 0.0 : -100.0, unsigned_type ? 2.0 : 100.0);
      if (dt == DType::boolean) return t.to(DType::i64).to(DType::boolean);  // 0 or 1
      return t.to(dt);
    };
    m[d + ".contiguous"] = make({3, 5});
    m[d + ".transposed"] = testing::transposed_layout(make({4, 3}));
    m[d + ".sliced"] = testing::sliced_layout(make({2, 3}));
    m[d + ".scalar"] = make({});
    m[d + ".empty"] = make({0, 3});
  }
  m["bool.mixed"] = from_vector<bool>({true, false, false, true, true}, {5});
  return m;
}

}  // namespace

TEST_CASE("safetensors round-trips every dtype, layout, scalar and empty tensor, and metadata", "[io][safetensors]") {
  const auto dir = testing::scratch_dir("roundtrip");
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> meta{{"format", "pt"}, {"unicode", "ü\"\n"}};
  save_safetensors(dir / "t.safetensors", tensors, meta);

  SafetensorsFile f(dir / "t.safetensors");
  REQUIRE(f.size() == tensors.size());
  REQUIRE(f.metadata() == meta);
  for (const auto& [n, t] : tensors) {
    INFO("tensor " << n);
    const SafetensorInfo& in = f.info(n);
    REQUIRE(in.dtype == t.dtype());
    REQUIRE(in.shape == t.shape());
    REQUIRE(in.nbytes() == static_cast<std::uint64_t>(t.numel()) * t.itemsize());
    const Tensor back = f.tensor(n);
    REQUIRE(back.is_contiguous());
    require_equal(back, t);
  }
  // The data section starts 8-byte aligned, as the reference writer pads the header with spaces.
  REQUIRE(f.data_start() % 8 == 0);
  const std::string raw = testing::read_file(dir / "t.safetensors");
  REQUIRE(raw[f.data_start() - 1] != '\0');

  // load_safetensors gives the same, ordered by name.
  const auto all = load_safetensors(dir / "t.safetensors");
  REQUIRE(all.size() == tensors.size());
  for (const auto& [n, t] : tensors) require_equal(all.at(n), t);

  // Saving over the file that the loaded tensors still map is safe: the new file is a new inode.
  save_safetensors(dir / "t.safetensors", all, meta);
  for (const auto& [n, t] : tensors) require_equal(SafetensorsFile(dir / "t.safetensors").tensor(n), t);
  for (const auto& [n, t] : tensors) require_equal(all.at(n), t);

  // No metadata: no __metadata__ entry.
  save_safetensors(dir / "nometa.safetensors", {{"x", testing::random({2}, 3)}});
  REQUIRE(SafetensorsFile(dir / "nometa.safetensors").metadata().empty());
  REQUIRE(testing::read_file(dir / "nometa.safetensors").find("__metadata__") == std::string::npos);
}

TEST_CASE("safetensors tensors are zero-copy views that keep the mapping alive", "[io][safetensors]") {
  const auto dir = testing::scratch_dir("zerocopy");
  const Tensor w = testing::random({16, 8}, 5, DType::f32);
  save_safetensors(dir / "w.safetensors", {{"w", w}, {"b", testing::random({3}, 6, DType::bf16)}});
  Tensor a, b;
  {
    SafetensorsFile f(dir / "w.safetensors");
    a = f.tensor("w");
    b = f.tensor("w");
  }  // the file object is gone; the mapping must not be
  REQUIRE(a.raw_data() == b.raw_data());  // both point into the one mapping: nothing was copied
  REQUIRE(reinterpret_cast<std::uintptr_t>(a.raw_data()) % alignof(float) == 0);
  require_equal(a, w);
  // Copy-on-write: writing into a loaded tensor changes memory, never the file.
  a.fill_(7.0);
  REQUIRE(b.data<float>()[0] == 7.0f);
  require_equal(SafetensorsFile(dir / "w.safetensors").tensor("w"), w);
}

TEST_CASE("safetensors copies a tensor that the file misaligns for its type", "[io][safetensors]") {
  // A hand-made file (not from the reference writer): 'x' (F32) starts at data offset 1.
  const std::string header = R"({"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                             R"("x":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  std::string bytes = st_file(header, 0);
  const std::size_t data_start = bytes.size();
  const float vals[2] = {1.5f, -2.25f};
  bytes += '\x05';
  bytes.append(reinterpret_cast<const char*>(vals), sizeof vals);
  const auto dir = testing::scratch_dir("misaligned");
  write_bytes(dir / "m.safetensors", bytes);
  SafetensorsFile f(dir / "m.safetensors");
  REQUIRE((data_start + 1) % 4 != 0);  // the test means what it says
  const Tensor x = f.tensor("x");
  REQUIRE(reinterpret_cast<std::uintptr_t>(x.raw_data()) % alignof(float) == 0);
  REQUIRE(x.data<float>()[0] == 1.5f);
  REQUIRE(x.data<float>()[1] == -2.25f);
  REQUIRE(f.tensor("u").data<std::uint8_t>()[0] == 5);
}

TEST_CASE("safetensors reads the file written by the reference library (golden)", "[io][safetensors][golden]") {
  const auto dir = testing::golden_dir() / "safetensors";
  SafetensorsFile f(dir / "reference.safetensors");
  REQUIRE(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"note", "molm golden file ü"}});
  const std::map<std::string, DType> expect_dtype{
      {"f64", DType::f64}, {"f32", DType::f32}, {"f16", DType::f16},     {"bf16", DType::bf16},
      {"i64", DType::i64}, {"i32", DType::i32}, {"u8", DType::u8},       {"bool", DType::boolean},
      {"scalar", DType::f32}, {"empty", DType::f32}, {"blocks.0.attn.q_proj.weight \"ü\"", DType::f32}};
  REQUIRE(f.size() == expect_dtype.size());
  for (const auto& [n, dt] : expect_dtype) {
    INFO("tensor " << n);
    const Tensor t = f.tensor(n);
    REQUIRE(t.dtype() == dt);
    const std::string file = n.find(' ') != std::string::npos ? "escaped_name" : n;
    const Tensor expected = load_npy(dir / (file + ".npy"));
    REQUIRE(t.shape() == expected.shape());
    // f16/bf16 are stored as f32 in the .npy; the conversion is exact.
    testing::require_close(t.to(expected.dtype()), expected, 0.0, 0.0);
  }
  REQUIRE(f.tensor("scalar").shape() == Shape{});
  REQUIRE(f.tensor("scalar").item<float>() == 3.25f);
  REQUIRE(f.tensor("empty").shape() == Shape{0, 4});
  // Written back by molm and read again: identical tensors and metadata.
  const auto out = testing::scratch_dir("golden") / "again.safetensors";
  save_safetensors(out, f.tensors(), f.metadata());
  SafetensorsFile g(out);
  REQUIRE(g.metadata() == f.metadata());
  for (const auto& n : f.names()) require_equal(g.tensor(n), f.tensor(n));
}

TEST_CASE("safetensors reads sharded checkpoints through model.safetensors.index.json", "[io][safetensors]") {
  const auto dir = testing::scratch_dir("sharded");
  const Tensor a = testing::random({4, 2}, 11, DType::f32), b = testing::random({3}, 12, DType::bf16),
               c = testing::random({2, 2}, 13, DType::f64);
  save_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", a}, {"b", b}});
  save_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", c}, {"unlisted", a}});
  auto write_index = [&](const std::string& weight_map) {
    write_bytes(dir / "model.safetensors.index.json",
                R"({"metadata": {"total_size": 62}, "weight_map": )" + weight_map + "}");
  };
  write_index(R"({"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                  "c": "model-00002-of-00002.safetensors"})");
  SafetensorsIndex idx(dir / "model.safetensors.index.json");
  REQUIRE(idx.names() == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(idx.shard_of("c") == "model-00002-of-00002.safetensors");
  REQUIRE(idx.info("b").dtype == DType::bf16);
  REQUIRE(idx.metadata()["total_size"] == 62);
  const auto all = load_safetensors(dir / "model.safetensors.index.json");
  REQUIRE(all.size() == 3);  // 'unlisted' is in a shard but not in the index
  require_equal(all.at("a"), a);
  require_equal(all.at("b"), b);
  require_equal(all.at("c"), c);

  const auto idx_path = dir / "model.safetensors.index.json";
  write_index(R"({"a": "model-00002-of-00002.safetensors"})");
  REQUIRE_THROWS_WITH(SafetensorsIndex(idx_path),
                      Catch::Contains("'a' is mapped to shard 'model-00002-of-00002.safetensors', which does not contain it"));
  write_index(R"({"a": "model-00009-of-00009.safetensors"})");
  REQUIRE_THROWS_WITH(SafetensorsIndex(idx_path), Catch::Contains("shard 'model-00009-of-00009.safetensors' (listed "
                                                                  "for tensor 'a') cannot be read") &&
                                                      Catch::Contains("cannot open"));
  write_index(R"({"a": "../model-00001-of-00002.safetensors"})");
  REQUIRE_THROWS_WITH(SafetensorsIndex(idx_path), Catch::Contains("not a plain file name"));
  write_index(R"({"a": 3})");
  REQUIRE_THROWS_WITH(SafetensorsIndex(idx_path), Catch::Contains("weight_map['a'] is number"));
  write_index(R"({"a": "x", "a": "y"})");
  REQUIRE_THROWS_WITH(SafetensorsIndex(idx_path), Catch::Contains("duplicate name 'a'"));
  write_bytes(idx_path, R"({"weights": {}})");
  REQUIRE_THROWS_WITH(SafetensorsIndex(idx_path), Catch::Contains("not a safetensors index"));
  write_bytes(idx_path, R"({"weight_map": )");
  REQUIRE_THROWS_WITH(SafetensorsIndex(idx_path), Catch::Contains("not valid JSON"));
  REQUIRE_THROWS_WITH(SafetensorsIndex(dir / "missing.index.json"), Catch::Contains("cannot open"));
}

TEST_CASE("save_safetensors is atomic: a failed write leaves the old file intact", "[io][safetensors]") {
  const auto dir = testing::scratch_dir("atomic");
  const auto target = dir / "model.safetensors";
  save_safetensors(target, {{"old", testing::random({4}, 1, DType::f32)}});
  const std::string before = testing::read_file(target);
  auto only_target_left = [&] {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.path() != target;
    return n == 0;  // no temporary file left behind
  };

  SECTION("the disk fills up mid-way (file size limit)") {
    // Writes beyond 4 KB now fail with EFBIG (SIGXFSZ ignored): the header goes out, the data does not.
    struct rlimit old {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 4096;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::string message;
    try {
      save_safetensors(target, {{"big", testing::random({64, 64}, 2, DType::f32)}});
    } catch (const molm::error& e) {
      message = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    REQUIRE_THAT(message, Catch::Contains("writing") && Catch::Contains("model.safetensors"));
    REQUIRE(testing::read_file(target) == before);
    REQUIRE(only_target_left());
  }
  SECTION("a tensor cannot be written") {
    REQUIRE_THROWS_WITH(save_safetensors(target, {{"a", testing::random({2}, 1)}, {"bad", Tensor{}}}),
                        Catch::Contains("tensor 'bad' is undefined"));
    REQUIRE_THROWS_WITH(save_safetensors(target, {{"__metadata__", testing::random({2}, 1)}}),
                        Catch::Contains("reserved"));
    REQUIRE_THROWS_WITH(save_safetensors(target, {{"bad\xff", testing::random({2}, 1)}}), Catch::Contains("UTF-8"));
    REQUIRE_THROWS_WITH(save_safetensors(target, {}, {{"k", "\xc0\x80"}}), Catch::Contains("UTF-8"));
    REQUIRE(testing::read_file(target) == before);
    REQUIRE(only_target_left());
  }
  SECTION("the folder does not exist") {
    REQUIRE_THROWS_WITH(save_safetensors(dir / "nope" / "m.safetensors", {}),
                        Catch::Contains("cannot create a temporary file"));
  }
  SECTION("a successful write replaces the file") {
    save_safetensors(target, {{"new", testing::random({2}, 3, DType::f64, 0.0, 9.0).to(DType::i64)}});
    REQUIRE(SafetensorsFile(target).names() == std::vector<std::string>{"new"});
    REQUIRE(only_target_left());
  }
}

TEST_CASE("safetensors rejects every truncation of a valid file", "[io][safetensors][malformed]") {
  const auto dir = testing::scratch_dir("truncate");
  save_safetensors(dir / "v.safetensors",
                   {{"w", testing::random({5, 3}, 1, DType::f32)}, {"m", from_vector<bool>({true, false}, {2})},
                    {"h", testing::random({7}, 2, DType::bf16)}},
                   {{"format", "pt"}});
  const std::string full = testing::read_file(dir / "v.safetensors");
  const std::size_t data_start = SafetensorsFile(dir / "v.safetensors").data_start();
  for (int k = 0; k < 32; ++k) {
    const std::size_t cut = full.size() * static_cast<std::size_t>(k) / 32;
    INFO("truncated to " << cut << " of " << full.size() << " bytes");
    const char* expect = cut < 8 ? "too short" : cut < data_start ? "runs past the end" : "outside the data section";
    require_rejected(full.substr(0, cut), expect);
  }
  // The whole file is fine.
  write_bytes(dir / "ok.safetensors", full);
  REQUIRE(SafetensorsFile(dir / "ok.safetensors").size() == 3);
}

TEST_CASE("safetensors rejects malformed headers with a message naming the problem", "[io][safetensors][malformed]") {
  const std::string f32x4 = R"("dtype":"F32","shape":[4],"data_offsets":[0,16])";
  SECTION("lengths and JSON") {
    require_rejected("", "too short");
    require_rejected("abc", "too short");
    require_rejected(st_file_with_length(100, "{}"), "header length 100 (byte 0) runs past the end of the 10-byte file");
    require_rejected(st_file_with_length(~std::uint64_t{0}, "{}"), "exceeds the 100000000-byte limit");
    require_rejected(st_file_with_length(std::uint64_t{1} << 63, "{}"), "exceeds");
    require_rejected(st_file(R"({"w": {)" + f32x4), "not valid JSON (byte");
    require_rejected(st_file(R"({"w": {)" + f32x4 + "}} trailing"), "not valid JSON");
    require_rejected(st_file("[1, 2]"), "header is a JSON array, not an object");
    require_rejected(st_file("\"text\""), "not an object");
    require_rejected(st_file(std::string(100000, '[') + std::string(100000, ']')), "nests deeper");
    require_rejected(st_file(R"({"w": [1, 2]})"), "tensor 'w': entry is array, not an object");
  }
  SECTION("names") {
    require_rejected(st_file("{\"w\xff\": {" + f32x4 + "}}"), "UTF-8");
    require_rejected(st_file("{\"w\xc0\xaf\": {" + f32x4 + "}}"), "UTF-8");  // overlong '/'
    require_rejected(st_file(R"({"w\ud800": {)" + f32x4 + "}}"), "surrogate");
    require_rejected(st_file(R"({"w": {)" + f32x4 + R"(}, "w": {)" + f32x4 + "}}"), "duplicate name 'w'");
    require_rejected(st_file(R"({"w": {"dtype":"F32","dtype":"F32","shape":[4],"data_offsets":[0,16]}})"),
                     "duplicate name 'dtype'");
  }
  SECTION("dtype") {
    require_rejected(st_file(R"({"w": {"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})"),
                     "tensor 'w': unsupported dtype 'F8_E4M3'");
    require_rejected(st_file(R"({"w": {"dtype":"f32","shape":[4],"data_offsets":[0,16]}})"), "unsupported dtype 'f32'");
    require_rejected(st_file(R"({"w": {"dtype":7,"shape":[4],"data_offsets":[0,16]}})"), "dtype is number");
    require_rejected(st_file(R"({"w": {"shape":[4],"data_offsets":[0,16]}})"), "tensor 'w': entry has no \"dtype\"");
  }
  SECTION("shape") {
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})"),
                     "not a non-negative 64-bit integer");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[1.5],"data_offsets":[0,16]}})"), "non-negative");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,16]}})"),
                     "non-negative 64-bit integer");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}})"),
                     "tensor 'w': element count of shape [4294967296,4294967296,4] overflows 64 bits");
    require_rejected(st_file(R"({"w": {"dtype":"F64","shape":[2305843009213693952,2],"data_offsets":[0,16]}})"),
                     "byte size of shape");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})"),
                     "9 dimensions");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":4,"data_offsets":[0,16]}})"), "shape is number");
  }
  SECTION("offsets") {
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[250],"data_offsets":[0,1000]}})"),
                     "tensor 'w': data_offsets [0, 1000] lie outside the data section of 16 bytes");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,0]}})"),
                     "outside the data section");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[0],"data_offsets":[17,17]}})"), "outside");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[3],"data_offsets":[0,16]}})"),
                     "tensor 'w': data_offsets [0, 16] hold 16 bytes but F32 x [3] needs 12");
    require_rejected(st_file(R"({"a": {"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"( "b": {"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"),
                     "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})"), "not a pair");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[0]}})"), "not a pair");
    require_rejected(st_file(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[4,0]}})"), "outside");
  }
  SECTION("metadata and values") {
    require_rejected(st_file(R"({"__metadata__": {"k": 1}})"), "__metadata__ 'k' is number, not a string");
    require_rejected(st_file(R"({"__metadata__": [1]})"), "__metadata__ is array");
    require_rejected(st_file(R"({"m": {"dtype":"BOOL","shape":[4],"data_offsets":[0,4]}})", 16, '\x02'),
                     "tensor 'm': BOOL byte 2 at file offset");
  }
  SECTION("not a file") {
    const auto dir = testing::scratch_dir("notafile");
    REQUIRE_THROWS_WITH(SafetensorsFile(dir / "missing.safetensors"), Catch::Contains("cannot open"));
    REQUIRE_THROWS_WITH(SafetensorsFile(dir), Catch::Contains("not a regular file"));
    REQUIRE_THROWS_WITH(SafetensorsFile(testing::golden_dir() / "safetensors" / "reference.safetensors").tensor("nope"),
                        Catch::Contains("no tensor named 'nope'"));
  }
}

TEST_CASE("safetensors survives random corruption of a valid file", "[io][safetensors][malformed]") {
  // Flip bytes of a valid file (header and data) many times: every result is either a valid file
  // whose tensors all read, or a molm::error. Parsed from exact heap buffers for AddressSanitizer.
  const auto dir = testing::scratch_dir("corrupt");
  save_safetensors(dir / "v.safetensors",
                   {{"w", testing::random({3, 2}, 1, DType::f32)}, {"i", from_vector<std::int64_t>({1, 2}, {2})}});
  const std::string full = testing::read_file(dir / "v.safetensors");
  Generator g(99);
  const Tensor pos = randint(0, static_cast<std::int64_t>(full.size()), {3000, 4}, g);
  const Tensor val = randint(0, 256, {3000, 4}, g);
  int accepted = 0;
  for (std::int64_t trial = 0; trial < 3000; ++trial) {
    std::vector<std::byte> bytes(full.size());
    std::memcpy(bytes.data(), full.data(), full.size());
    for (int j = 0; j < 1 + trial % 4; ++j)
      bytes[static_cast<std::size_t>(pos.data<std::int64_t>()[trial * 4 + j])] =
          static_cast<std::byte>(val.data<std::int64_t>()[trial * 4 + j]);
    try {
      const auto h = io::detail::parse_safetensors_header(bytes.data(), bytes.size(), "corrupt");
      for (const auto& [n, in] : h.tensors) REQUIRE(h.data_start + in.end <= bytes.size());
      ++accepted;
    } catch (const molm::error&) {
    }
  }
  REQUIRE(accepted > 0);  // data-byte flips keep the file valid
  REQUIRE(accepted < 3000);
}
