// io/checkpoint_dir.hpp: save/load round trip of every part (config, model, optimizer state, trainer
// state), and crash safety: a save interrupted after each of its stages — by a real crash (a forked
// child that _exit()s at that point) or by an exception — leaves the previous or the new complete
// checkpoint, load finds it, and the next save cleans up.
#include "support/testing.hpp"

#include <molm/io/checkpoint_dir.hpp>
#include <molm/optim.hpp>

#include <cstring>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

using namespace molm;
using namespace molm::io;
using Catch::Matchers::Contains;

namespace {
namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  explicit TempDir(const char* tag) {
    path = fs::temp_directory_path() / (std::string("molm_ckpt_test_") + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

/// A training checkpoint whose every value depends on `seed`: a tied weight, several dtypes, real
/// AdamW state after a few steps, trainer state with two generators.
Checkpoint make_checkpoint(std::uint64_t seed, bool training = true) {
  Checkpoint c;
  c.config = {{"preset", "tiny"}, {"hidden_size", 8 + seed}, {"tokenizer", "tok512.model"}};
  const Tensor emb = testing::random({5, 8}, seed, DType::f32);
  c.model.insert("model.embed_tokens.weight", emb);
  c.model.insert("lm_head.weight", emb);  // tied, as HF writes it
  c.model.insert("model.norm.weight", testing::random({8}, seed + 1, DType::bf16));
  c.model.insert("model.layers.0.mlp.up_proj.weight", testing::random({3, 8}, seed + 2, DType::f32).transpose(0, 1));
  c.model.insert("position_ids", arange(static_cast<std::int64_t>(4 + seed)));
  if (!training) return c;
  std::vector<Tensor> params{testing::random({3, 4}, seed + 3, DType::f32).set_requires_grad(),
                             testing::random({2}, seed + 4, DType::f32).set_requires_grad()};
  optim::AdamW opt(params);
  for (int k = 0; k < static_cast<int>(seed % 3) + 1; ++k) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i].set_grad(testing::random(params[i].shape(), 50 + k + i, DType::f32));
    opt.step();
  }
  c.optimizer = opt.state_dict();
  TrainerState t;
  t.step = static_cast<std::int64_t>(100 + seed);
  t.epoch = 2;
  t.batch = 7;
  t.scheduler = {{"epoch", 2}, {"step", static_cast<std::int64_t>(100 + seed)}};
  Generator dropout(seed), sampler(0xFFFFFFFFFFFFFFF0ull);  // a seed above 2^63 must survive JSON
  dropout.next_offset();
  t.save_rng("dropout", dropout);
  t.save_rng("sampler", sampler);
  t.extra = {{"best_bleu", 0.25}, {"order", {3, 1, 2}}};
  c.trainer = t;
  return c;
}

void require_identical(const Tensor& a, const Tensor& b) {
  REQUIRE(a.dtype() == b.dtype());
  REQUIRE(a.shape() == b.shape());
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  REQUIRE(std::memcmp(ca.raw_data(), cb.raw_data(), static_cast<std::size_t>(ca.numel()) * ca.itemsize()) == 0);
}

/// `got` (loaded) holds exactly what `want` (saved) held.
void require_same(const Checkpoint& got, const Checkpoint& want) {
  nlohmann::json config = want.config;
  config["molm_version"] = version();
  CHECK(got.config == config);
  REQUIRE(got.model.size() == want.model.size());
  for (const auto& [name, t] : want.model) {
    INFO(name);
    REQUIRE(got.model.contains(name));
    require_identical(got.model.at(name), t);
  }
  REQUIRE(got.optimizer.has_value() == want.optimizer.has_value());
  REQUIRE(got.trainer.has_value() == want.trainer.has_value());
  if (!want.optimizer) return;
  CHECK(got.optimizer->steps == want.optimizer->steps);
  REQUIRE(got.optimizer->tensors.size() == want.optimizer->tensors.size());
  for (const auto& [k, t] : want.optimizer->tensors) require_identical(got.optimizer->tensors.at(k), t);
  const TrainerState &a = *got.trainer, &b = *want.trainer;
  CHECK(a.step == b.step);
  CHECK(a.epoch == b.epoch);
  CHECK(a.batch == b.batch);
  CHECK(a.scheduler == b.scheduler);
  CHECK(a.rng == b.rng);
  CHECK(a.extra == b.extra);
}

/// Everything in `parent` besides the checkpoint folder itself (temp folders, backups).
std::vector<std::string> debris(const fs::path& parent, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(parent))
    if (e.path().filename() != name) out.push_back(e.path().filename().string());
  return out;
}

const std::vector<SaveStage> kAllStages{SaveStage::temp_created,  SaveStage::config_written, SaveStage::model_written,
                                        SaveStage::optimizer_written, SaveStage::trainer_written, SaveStage::temp_synced,
                                        SaveStage::old_moved_aside, SaveStage::new_in_place, SaveStage::backup_removed};

/// Save `c` to `dir` in a child process that dies (without cleanup) right after `stage`; returns
/// whether the stage was reached.
bool save_and_crash_at(const fs::path& dir, const Checkpoint& c, SaveStage stage) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      CheckpointSaveOptions o;
      o.after_stage = [&](SaveStage s) {
        if (s == stage) ::_exit(42);  // "power cut": no destructors, no rollback
      };
      save_checkpoint(dir, c, o);
      ::_exit(0);  // finished without reaching the stage
    } catch (...) {
      ::_exit(3);
    }
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) != 3);
  return WEXITSTATUS(status) == 42;
}

struct Injected : std::runtime_error {
  Injected() : std::runtime_error("injected failure") {}
};
}  // namespace

TEST_CASE("checkpoint: save and load every part bit for bit", "[io][checkpoint]") {
  TempDir tmp("roundtrip");
  const Checkpoint c = make_checkpoint(1);
  save_checkpoint(tmp.path / "step-100", c);
  for (const char* f : {"config.json", "model.safetensors", "optimizer.safetensors", "trainer.json"})
    CHECK(fs::is_regular_file(tmp.path / "step-100" / f));
  const Checkpoint got = load_checkpoint(tmp.path / "step-100/");
  require_same(got, c);
  CHECK(got.trainer->rng.at("sampler").seed == 0xFFFFFFFFFFFFFFF0ull);
  Generator g;
  got.trainer->restore_rng("dropout", g);
  CHECK(g.seed() == 1);
  CHECK(g.offset() == 1);
  REQUIRE_THROWS_WITH(got.trainer->restore_rng("absent", g), Contains("no RNG state 'absent'"));
  // The model file is a plain safetensors file an HF reader takes ("format": "pt").
  CHECK(SafetensorsFile(tmp.path / "step-100/model.safetensors").metadata().at("format") == "pt");
  CHECK(debris(tmp.path, "step-100").empty());

  // The loaded optimizer state drives a fresh optimizer.
  std::vector<Tensor> params{zeros({3, 4}).set_requires_grad(), zeros({2}).set_requires_grad()};
  optim::AdamW opt(params);
  REQUIRE_NOTHROW(opt.load_state(*got.optimizer));
}

TEST_CASE("checkpoint: an inference checkpoint has only config and model", "[io][checkpoint]") {
  TempDir tmp("inference");
  const Checkpoint c = make_checkpoint(2, false);
  save_checkpoint(tmp.path / "export", c);
  CHECK_FALSE(fs::exists(tmp.path / "export/trainer.json"));
  require_same(load_checkpoint(tmp.path / "export"), c);

  Checkpoint half = make_checkpoint(3);
  half.trainer.reset();
  REQUIRE_THROWS_WITH(save_checkpoint(tmp.path / "half", half), Contains("go together"));
  CHECK_FALSE(fs::exists(tmp.path / "half"));
}

TEST_CASE("checkpoint: saving over a checkpoint replaces it and leaves nothing behind", "[io][checkpoint]") {
  TempDir tmp("overwrite");
  const fs::path dir = tmp.path / "latest";
  save_checkpoint(dir, make_checkpoint(1));
  const Checkpoint first = load_checkpoint(dir);  // keeps the first files mapped while they are replaced
  const Checkpoint second = make_checkpoint(2);
  save_checkpoint(dir, second);
  require_same(load_checkpoint(dir), second);
  require_same(first, make_checkpoint(1));  // the mapped tensors still read the old data
  CHECK(debris(tmp.path, "latest").empty());
  // Relative paths work too (resolved against the working folder).
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp.path);
  save_checkpoint("latest", make_checkpoint(3));
  fs::current_path(cwd);
  require_same(load_checkpoint(dir), make_checkpoint(3));
}

TEST_CASE("checkpoint: a crash after any stage of a save leaves a complete checkpoint", "[io][checkpoint]") {
  TempDir tmp("crash");
  const fs::path dir = tmp.path / "ckpt";
  const Checkpoint old_c = make_checkpoint(1), new_c = make_checkpoint(2), next_c = make_checkpoint(3);
  for (SaveStage stage : kAllStages) {
    INFO("crash after stage " << static_cast<int>(stage));
    fs::remove_all(tmp.path);
    fs::create_directories(tmp.path);
    save_checkpoint(dir, old_c);
    REQUIRE(save_and_crash_at(dir, new_c, stage));
    // The recovery rule: before the new folder is in place the old one is found (under its name or
    // as .ckpt.old), afterwards the new one.
    const bool new_visible = stage == SaveStage::new_in_place || stage == SaveStage::backup_removed;
    require_same(load_checkpoint(dir), new_visible ? new_c : old_c);
    if (stage == SaveStage::old_moved_aside) CHECK(find_checkpoint(dir) == tmp.path / ".ckpt.old");
    // The next save repairs and tidies.
    save_checkpoint(dir, next_c);
    require_same(load_checkpoint(dir), next_c);
    CHECK(debris(tmp.path, "ckpt").empty());
  }
}

TEST_CASE("checkpoint: a crash during the very first save leaves no checkpoint or the new one", "[io][checkpoint]") {
  TempDir tmp("first");
  const fs::path dir = tmp.path / "ckpt";
  const Checkpoint c = make_checkpoint(4);
  for (SaveStage stage : kAllStages) {
    INFO("crash after stage " << static_cast<int>(stage));
    fs::remove_all(tmp.path);
    fs::create_directories(tmp.path);
    const bool reached = save_and_crash_at(dir, c, stage);
    // With no previous checkpoint nothing is moved aside or removed.
    CHECK(reached == (stage != SaveStage::old_moved_aside && stage != SaveStage::backup_removed));
    if (stage == SaveStage::new_in_place || !reached) require_same(load_checkpoint(dir), c);
    else REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("no checkpoint at"));
  }
}

TEST_CASE("checkpoint: a save that fails at any stage rolls back", "[io][checkpoint]") {
  TempDir tmp("failure");
  const fs::path dir = tmp.path / "ckpt";
  const Checkpoint old_c = make_checkpoint(1), new_c = make_checkpoint(2);
  for (SaveStage stage : kAllStages) {
    INFO("failure after stage " << static_cast<int>(stage));
    fs::remove_all(tmp.path);
    fs::create_directories(tmp.path);
    save_checkpoint(dir, old_c);
    CheckpointSaveOptions o;
    o.after_stage = [&](SaveStage s) {
      if (s == stage) throw Injected();
    };
    REQUIRE_THROWS_AS(save_checkpoint(dir, new_c, o), Injected);
    const bool new_visible = stage == SaveStage::new_in_place || stage == SaveStage::backup_removed;
    require_same(load_checkpoint(dir), new_visible ? new_c : old_c);
    CHECK(fs::is_directory(dir));  // rolled back under its own name, not left as .ckpt.old
    if (!new_visible) CHECK(debris(tmp.path, "ckpt").empty());
  }
}

TEST_CASE("checkpoint: an interrupted swap is found by load and repaired by recover_checkpoint", "[io][checkpoint]") {
  TempDir tmp("recover");
  const fs::path dir = tmp.path / "ckpt";
  const Checkpoint c = make_checkpoint(5);
  save_checkpoint(dir, c);
  fs::rename(dir, tmp.path / ".ckpt.old");  // as if a crash hit between the two renames
  fs::create_directory(tmp.path / ".ckpt.tmp-99999");
  std::ofstream(tmp.path / ".ckpt.tmp-99999/config.json") << "{\"half\":";
  require_same(load_checkpoint(dir), c);
  recover_checkpoint(dir);
  CHECK(fs::is_directory(dir));
  CHECK(debris(tmp.path, "ckpt").empty());
  require_same(load_checkpoint(dir), c);
}

TEST_CASE("checkpoint: missing and malformed files are reported by name", "[io][checkpoint]") {
  TempDir tmp("malformed");
  const fs::path dir = tmp.path / "ckpt";
  auto fresh = [&] {
    fs::remove_all(dir);
    save_checkpoint(dir, make_checkpoint(1));
  };
  auto write = [&](const char* file, const std::string& text) { std::ofstream(dir / file, std::ios::trunc) << text; };
  auto trainer_json = [&] {  // of a fresh checkpoint
    fresh();
    return nlohmann::json::parse(std::ifstream(dir / "trainer.json"));
  };

  REQUIRE_THROWS_WITH(load_checkpoint(tmp.path / "absent"), Contains("no checkpoint at") && Contains("absent"));
  std::ofstream(tmp.path / "file") << "x";
  REQUIRE_THROWS_WITH(load_checkpoint(tmp.path / "file"), Contains("is not a folder"));
  REQUIRE_THROWS_WITH(save_checkpoint(tmp.path / "file", make_checkpoint(1)), Contains("not a folder"));
  REQUIRE_THROWS_WITH(save_checkpoint(tmp.path / "no/such/parent", make_checkpoint(1)), Contains("does not exist"));
  Checkpoint bad_config = make_checkpoint(1);
  bad_config.config = nlohmann::json::array();
  REQUIRE_THROWS_WITH(save_checkpoint(dir, bad_config), Contains("config must be a JSON object"));

  fresh();
  fs::remove(dir / "model.safetensors");
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("missing model.safetensors"));
  fresh();
  fs::remove(dir / "optimizer.safetensors");
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("has trainer.json but not optimizer.safetensors"));
  fresh();
  write("config.json", "{\"a\": ");
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("config.json is not valid JSON"));
  fresh();
  write("config.json", "[1, 2]");
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("config.json: expected a JSON object"));

  auto j = trainer_json();
  j["setp"] = 3;
  write("trainer.json", j.dump());
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("unknown field 'setp'"));
  j = trainer_json();
  j["step"] = -1;
  write("trainer.json", j.dump());
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("step must be a non-negative integer, got -1"));
  j = trainer_json();
  j.erase("epoch");
  write("trainer.json", j.dump());
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("missing field 'epoch'"));
  j = trainer_json();
  j["rng"]["dropout"] = {{"seed", 1}};
  write("trainer.json", j.dump());
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("rng.dropout must be"));
  j = trainer_json();
  j["molm_trainer_version"] = 2;
  write("trainer.json", j.dump());
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("molm_trainer_version 2 is not supported"));

  fresh();
  save_safetensors(dir / "optimizer.safetensors", {{"0.step", full(Shape{}, 3.0, DType::f32)}});
  REQUIRE_THROWS_WITH(load_checkpoint(dir), Contains("step count '0.step' must be an i64 scalar"));
}
