// TorchCheckpoint (io/torch_checkpoint.hpp) against checkpoints written by torch 2.1.2
// (tests/golden/gen_torch_checkpoints.py): values, dtypes, shapes, names, strides, offsets and
// shared storages; Lightning and Uni-Mol layouts; and every malformed or malicious file the
// generator writes, which must each fail with a molm::error naming the problem.
#include "support/testing.hpp"

#include <molm/io/torch_checkpoint.hpp>

#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <set>

using namespace molm;
namespace pk = molm::io::pickle;

namespace {

std::filesystem::path torch_dir() { return testing::golden_dir() / "torch"; }

std::string name_of(const Tensor& t) { return std::string(name(t.dtype())) + " " + t.shape().str(); }

/// Same dtype, shape and bit-identical values (NaN-free data: == on doubles is exact for every dtype).
void require_identical(const std::string& name, const Tensor& got, const Tensor& want) {
  INFO(name << ": got " << name_of(got) << ", want " << name_of(want));
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.shape() == want.shape());
  REQUIRE(testing::values(got) == testing::values(want));
}

}  // namespace

TEST_CASE("torch: every tensor of the golden checkpoints matches torch's values, by name", "[io][torch]") {
  const std::pair<const char*, const char*> files[] = {{"plain.pt", "plain"},           {"zip64.pt", "plain"},
                                                       {"zip64_local.pt", "plain"},     {"deflated.pt", "plain"},
                                                       {"lightning.ckpt", "lightning"}, {"unimol.pt", "unimol"}};
  for (const auto& [file, expected] : files) {
    INFO(file);
    const TorchCheckpoint ck(torch_dir() / file);
    const SafetensorsFile want(torch_dir() / (std::string(expected) + ".expected.safetensors"));
    std::set<std::string> names;
    for (const auto& [name, t] : ck.tensors({.include_numpy = true})) {
      names.insert(name);
      REQUIRE(want.contains(name));
      require_identical(name, t, want.tensor(name));
    }
    const auto want_names = want.names();
    CHECK(names == std::set<std::string>(want_names.begin(), want_names.end()));
  }
}

TEST_CASE("torch: strides, storage offsets, shared storages and zero-copy views", "[io][torch]") {
  std::map<std::string, Tensor> t;
  std::map<std::string, std::shared_ptr<const pk::TensorRef>> refs;
  std::shared_ptr<const void> mapping;
  {
    const TorchCheckpoint ck(torch_dir() / "plain.pt");
    CHECK(ck.archive_name() == "plain");
    CHECK(ck.format_version() == 3);
    CHECK(ck.placeholders().empty());
    for (auto& [name, tensor] : ck.tensors()) t[name] = tensor;
    for (auto& r : ck.tensor_refs()) refs[r.name] = r.ref;
    // Stored, aligned records are viewed in place: the data lies inside the mapped file.
    const auto* begin = ck.zip().data();
    const auto* p = static_cast<const std::byte*>(t.at("f32").raw_data());
    CHECK((p >= begin && p < begin + ck.zip().size()));
  }  // the checkpoint is gone; its tensors keep the mapping alive
  CHECK(t.at("transposed").shape() == Shape{4, 3});
  CHECK(t.at("transposed").strides() == Shape{1, 4});
  CHECK_FALSE(t.at("transposed").is_contiguous());
  CHECK(t.at("sliced").offset() == 7);
  CHECK(t.at("sliced").strides() == Shape{6, 2});
  CHECK(t.at("sliced").storage()->nbytes() == 24 * 4);  // the whole [4, 6] storage is saved and viewed
  CHECK(t.at("shared_a").storage() == t.at("shared_b").storage());
  CHECK(t.at("shared_b").offset() == 4);
  CHECK(t.at("f32").storage() != t.at("f64").storage());
  CHECK(refs.at("param")->parameter);
  CHECK_FALSE(refs.at("f32")->parameter);
  CHECK(t.at("scalar").dim() == 0);
  CHECK(t.at("scalar").item<double>() == 2.5);
  CHECK(t.at("empty").shape() == Shape{0, 3});
  // Writing into a loaded tensor (copy-on-write mapping) is visible through the sharing view.
  t.at("shared_a").data<float>()[4] = 42.0f;
  CHECK(t.at("shared_b").data<float>()[0] == 42.0f);

  // A deflated file is inflated into aligned memory: same values, sharing kept.
  const TorchCheckpoint d(torch_dir() / "deflated.pt");
  std::map<std::string, Tensor> dt;
  for (auto& [name, tensor] : d.tensors()) dt[name] = tensor;
  CHECK(dt.at("shared_a").storage() == dt.at("shared_b").storage());
  CHECK(reinterpret_cast<std::uintptr_t>(dt.at("f64").raw_data()) % 8 == 0);
}

TEST_CASE("torch: a Lightning checkpoint: state_dict, hyper-parameters, optimizer states skipped", "[io][torch]") {
  const TorchCheckpoint ck(torch_dir() / "lightning.ckpt");
  CHECK(ck.placeholders() ==
        std::vector<std::string>{"pytorch_lightning.utilities.parsing.AttributeDict", "argparse.Namespace"});
  const pk::Dict& top = ck.root().as_dict();
  CHECK(top.find("epoch")->as_int() == 3);
  CHECK(top.find("global_step")->as_int() == 120);
  CHECK(top.find("pytorch-lightning_version")->as_string() == "2.0.2");
  // hyper_parameters: an AttributeDict (a dict subclass: its items) holding an argparse.Namespace
  const pk::Object& hp = top.find("hyper_parameters")->as_object();
  CHECK(hp.class_name == "pytorch_lightning.utilities.parsing.AttributeDict");
  CHECK(hp.items.find("precision")->as_string() == "bf16");
  const pk::Object& args = hp.items.find("args")->as_object();
  CHECK(args.state.as_dict().find("num_query_token")->as_int() == 8);
  CHECK(args.state.as_dict().find("lr")->as_float() == 1e-4);

  const nn::StateDict sd = ck.state_dict();
  CHECK(sd.keys() == std::vector<std::string>{"model.0.weight", "model.0.bias", "model.1.weight", "model.1.bias",
                                              "model.query_tokens"});
  CHECK(sd.at("model.query_tokens").dtype() == DType::bf16);
  CHECK(ck.state_dict("state_dict").keys() == sd.keys());

  bool optimizer = false;
  for (const auto& r : ck.tensor_refs()) optimizer |= r.name.starts_with("optimizer_states.");
  CHECK(optimizer);
  for (const auto& r : ck.tensor_refs({.skip_optimizer = true})) {
    INFO(r.name);
    CHECK(r.name.starts_with("state_dict."));
  }
  CHECK_THAT(testing::error_of([&] { ck.state_dict("hyper_parameters"); }), Catch::Contains("is placeholder for"));
  CHECK_THAT(testing::error_of([&] { ck.state_dict("epoch"); }), Catch::Contains("'epoch' is int 3, not a dict"));
  CHECK_THAT(testing::error_of([&] { ck.state_dict("nope"); }), Catch::Contains("no top-level key 'nope'"));

  const nn::StateDict loaded = load_torch_state_dict(torch_dir() / "lightning.ckpt");
  CHECK(loaded.keys() == sd.keys());
}

TEST_CASE("torch: a Uni-Mol checkpoint: model, args, numpy scalars and arrays", "[io][torch]") {
  const TorchCheckpoint ck(torch_dir() / "unimol.pt");
  CHECK(ck.placeholders() == std::vector<std::string>{"argparse.Namespace"});
  const nn::StateDict sd = ck.state_dict();  // picks "model"
  CHECK(sd.keys() == std::vector<std::string>{"embed_tokens.weight", "gbf.means.weight",
                                              "encoder.layers.0.self_attn.in_proj.weight",
                                              "encoder.layers.0.self_attn.in_proj.bias"});
  CHECK(sd.at("embed_tokens.weight").shape() == Shape{31, 8});
  const pk::Dict& top = ck.root().as_dict();
  const pk::Object& args = top.find("args")->as_object();
  CHECK(args.class_name == "argparse.Namespace");
  CHECK(args.state.as_dict().find("encoder_layers")->as_int() == 15);
  CHECK(args.state.as_dict().find("arch")->as_string() == "unimol_base");
  const pk::Dict& metrics = top.find("extra_state")->as_dict().find("metrics")->as_dict();
  CHECK(metrics.find("best")->is(pk::Kind::real));
  CHECK(metrics.find("best")->as_float() == 0.25);  // numpy.float64
  CHECK(metrics.find("count")->as_int() == 7);      // numpy.int64
  const pk::NdArray& arr = top.find("extra_state")->as_dict().find("mean_std")->as_ndarray();
  CHECK(arr.dtype.str() == "<f4");
  CHECK(testing::values(arr.to_tensor()) == std::vector<double>{0, 0.25, 0.5, 0.75, 1, 1.25});
  // numpy arrays are listed only on request
  for (const auto& [name, t] : ck.tensors()) CHECK(name != "extra_state.mean_std");
}

TEST_CASE("torch: tensors molm cannot hold, and placeholders where a tensor belongs", "[io][torch]") {
  const TorchCheckpoint ck(torch_dir() / "int8.pt");
  const auto refs = ck.tensor_refs();
  REQUIRE(refs.size() == 2);
  CHECK(refs[1].name == "i8");
  CHECK_FALSE(refs[1].ref->dtype().has_value());
  CHECK(ck.tensor(*refs[0].ref).dtype() == DType::f32);
  CHECK_THAT(testing::error_of([&] { ck.tensor(*refs[1].ref, refs[1].name); }),
             Catch::Contains("'i8' is a int8 tensor (torch.CharStorage)"));
  CHECK_THAT(testing::error_of([&] { ck.state_dict(); }), Catch::Contains("int8"));

  const TorchCheckpoint ph(torch_dir() / "placeholder_in_state_dict.pt");
  CHECK(ph.placeholders() == std::vector<std::string>{"argparse.Namespace"});
  CHECK(ph.tensor_refs().size() == 1);  // opening and listing work
  CHECK_THAT(testing::error_of([&] { ph.state_dict(); }),
             Catch::Contains("'state_dict.args' is a placeholder for argparse.Namespace where a tensor is needed"));
}

TEST_CASE("torch: malicious, malformed and legacy files are rejected with the reason", "[io][torch]") {
  const std::pair<const char*, const char*> cases[] = {
      {"mal_os_system.pt", "GLOBAL 'os.system'"},
      {"mal_posix_system.pt", "GLOBAL 'posix.system'"},
      {"mal_builtin_eval.pt", "GLOBAL 'builtins.eval'"},
      {"mal_subprocess.pt", "GLOBAL 'subprocess.Popen'"},
      {"mal_stack_getattr.pt", "GLOBAL 'builtins.getattr'"},
      {"mal_stack_os.pt", "GLOBAL 'os.system' names a module"},
      {"mal_dotted.pt", "GLOBAL 'torch.os.system'"},
      {"mal_hidden.pt", "GLOBAL 'os.system'"},
      {"recursive.pt", "holds itself"},
      {"deep.pt", "nest deeper than 200 levels"},
      {"legacy.pt", "legacy (pre-1.6) torch.save format; re-save it with torch.save(obj, path)"},
      {"bad_view.pt", "reaches element 5 of storage '0', which has 4"},
      {"short_record.pt", "storage '0' (4 x FloatStorage) needs 16 bytes but its record has 8"},
      {"missing_record.pt", "storage '7' has no record 'archive/data/7'"},
      {"big_endian.pt", "byte order 'big'"},
      {"bomb_pkl.pt", "inflates to more than its declared 100 bytes"},
      {"bomb_declared.pt", "more than deflate can produce"},
      {"overlap.zip", "overlap"},
      {"duplicate.zip", "appears twice"},
  };
  for (const auto& c : cases) {
    const std::string& file = c.first;  // (named: clang 14 cannot capture a structured binding)
    const std::string& reason = c.second;
    INFO(file);
    const std::string e = testing::error_of([&] { TorchCheckpoint ck(torch_dir() / file); });
    CHECK_THAT(e, Catch::Contains(reason) && Catch::Contains(file));
  }
  const std::string rejected = testing::error_of([&] { TorchCheckpoint ck(torch_dir() / "mal_os_system.pt"); });
  CHECK_THAT(rejected, Catch::Contains("rejected") && Catch::Contains("data.pkl") && Catch::Contains("at byte 2"));

  // The storage bomb declares a plausible size: the file opens, reading the tensor fails.
  const TorchCheckpoint bomb(torch_dir() / "bomb_storage.pt");
  CHECK_THAT(testing::error_of([&] { bomb.tensors(); }), Catch::Contains("inflates to more than its declared 16 bytes"));

  // The legacy format written with pickle protocol 4 starts with a FRAME before the magic number
  const unsigned char legacy4[] = {0x80, 0x04, 0x95, 0x0d, 0,    0,    0,    0,    0,    0,    0,    0x8a,
                                   0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  std::vector<std::byte> legacy(sizeof legacy4);
  std::memcpy(legacy.data(), legacy4, sizeof legacy4);
  CHECK_THAT(testing::error_of([&] { TorchCheckpoint::from_memory(legacy, "old.pt"); }),
             Catch::Contains("old.pt is in the legacy"));

  // A zip, but not torch's; not a zip at all
  CHECK_THAT(
      testing::error_of([] { TorchCheckpoint::from_memory(testing::read_file_bytes(testing::golden_dir() / "torch" / "overlap.zip"), "x"); }),
      Catch::Contains("overlap"));
  std::vector<std::byte> junk(300, std::byte{7});
  CHECK_THAT(testing::error_of([&] { TorchCheckpoint::from_memory(junk, "junk.pt"); }),
             Catch::Contains("junk.pt: not a zip archive"));
  CHECK_THAT(testing::error_of([] { TorchCheckpoint ck(torch_dir() / "missing.pt"); }), Catch::Contains("cannot open"));
}

TEST_CASE("torch: every truncation of a checkpoint is an error; random corruption never crashes", "[io][torch]") {
  const auto bytes = testing::read_file_bytes(torch_dir() / "plain.pt");
  REQUIRE_NOTHROW(TorchCheckpoint::from_memory(bytes, "plain.pt").tensors());
  for (std::size_t k = 0; k < 32; ++k) {
    const std::size_t n = bytes.size() * k / 32;
    INFO("truncated to " << n << " of " << bytes.size() << " bytes");
    CHECK_THROWS_AS(
        TorchCheckpoint::from_memory({bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)}, "cut.pt"), error);
  }
  std::mt19937_64 rng(20240612);
  int loaded = 0, rejected = 0;
  for (int trial = 0; trial < 400; ++trial) {
    auto bad = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= static_cast<std::byte>(1 + rng() % 255);
    try {
      const auto ck = TorchCheckpoint::from_memory(std::move(bad), "flipped.pt");
      double sum = 0;  // touch every element a tensor claims
      for (const auto& [name, t] : ck.tensors())
        for (const double v : testing::values(t)) sum += v == v ? 1 : 0;
      (void)sum;
      ++loaded;
    } catch (const error&) {
      ++rejected;
    }
  }
  CHECK(loaded + rejected == 400);
  CHECK(loaded > 0);    // flips inside tensor data change values, not validity
  CHECK(rejected > 0);  // flips in the directory or the pickle are caught
}
