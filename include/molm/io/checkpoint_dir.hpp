// Checkpoint directories (architecture.md, "The public API"): a folder holding
//
//   config.json              model preset + overrides, tokenizer paths, molm version (any JSON object)
//   model.safetensors        the model's state dict, HF/PyTorch names
//   optimizer.safetensors    optimizer state: "<param>.<slot>" tensors and "<param>.step" i64 scalars   } while
//   trainer.json             step, epoch, batch, LR-schedule position, every RNG state, stage extras   } training
//
// written atomically as a whole: after a crash at any instant, either the previous or the new complete
// checkpoint exists and load_checkpoint finds it. save_checkpoint(parent/name):
//
//   0. recover_checkpoint(): finish or undo what an interrupted save left (below)
//   1. write every file into the sibling parent/.name.tmp-<pid>, each fsynced, then fsync that folder
//   2. if parent/name exists, rename it to parent/.name.old                  (fsync parent)
//   3. rename parent/.name.tmp-<pid> to parent/name                          (fsync parent)
//   4. remove parent/.name.old                                               (fsync parent)
//
// Recovery rule (what load_checkpoint reads, what the next save repairs):
//   - parent/name exists: it is complete (only step 3 creates it, from a finished temp folder);
//     a leftover .name.old or .name.tmp-* is debris of a crash and is removed by the next save.
//   - parent/name is missing but .name.old exists: a crash hit between steps 2 and 3; .name.old is
//     the previous complete checkpoint. load_checkpoint reads it (with a warning); the next save
//     renames it back first. The new temp folder may be complete, but nothing marks it so: dropped.
// Only one process may save a given checkpoint at a time; a reader in another process racing steps
// 2-4 can miss both folders for an instant and should retry. A failed save (an exception) rolls
// back what it did and removes its temp folder. Files mapped by tensors of a loaded checkpoint may be
// replaced by a later save: their data lives on until unmapped (files are renamed and unlinked,
// never rewritten in place).
//
// Not here: sharded model files (load_safetensors reads those), extra files such as tokenizers.
#pragma once

#include "molm/ops/factory.hpp"
#include "molm/core/random.hpp"
#include "molm/io/atomic_file.hpp"
#include "molm/io/safetensors.hpp"
#include "molm/nn/state_dict.hpp"
#include "molm/optim/optimizer.hpp"
#include "molm/version.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace molm::io {

/// A Generator's whole state: the stream it draws from and how many draws it has handed out.
struct RngState {
  std::uint64_t seed = 0;
  std::uint64_t offset = 0;
  bool operator==(const RngState&) const = default;
};

/// trainer.json: everything besides tensors that a resumed run needs to continue exactly.
struct TrainerState {
  std::int64_t step = 0;   ///< optimizer updates done so far (the global step)
  std::int64_t epoch = 0;  ///< the epoch in progress
  std::int64_t batch = 0;  ///< batches of that epoch already consumed (a resumed run skips them)
  std::map<std::string, std::int64_t> scheduler;  ///< optim::LRScheduler::state_dict()
  std::map<std::string, RngState> rng;            ///< every Generator, under a name the trainer picks
  nlohmann::json extra = nlohmann::json::object();  ///< stage-specific values (best metric, data order, ...)

  void save_rng(const std::string& name, const Generator& g) { rng[name] = {g.seed(), g.offset()}; }
  /// Set `g` to the state saved under `name`; throws if there is none.
  void restore_rng(const std::string& name, Generator& g) const {
    const auto it = rng.find(name);
    MOLM_CHECK(it != rng.end(), "checkpoint", "trainer.json has no RNG state '{}'", name);
    g.set_state(it->second.seed, it->second.offset);
  }

  nlohmann::ordered_json to_json() const {
    nlohmann::ordered_json rngs = nlohmann::ordered_json::object();
    for (const auto& [name, s] : rng) rngs[name] = {{"seed", s.seed}, {"offset", s.offset}};
    nlohmann::ordered_json sched = nlohmann::ordered_json::object();
    for (const auto& [k, v] : scheduler) sched[k] = v;
    return {{"molm_trainer_version", 1}, {"step", step}, {"epoch", epoch}, {"batch", batch},
            {"scheduler", sched},        {"rng", rngs},   {"extra", extra}};
  }

  /// Parse and validate; `where` names the file in errors. Unknown top-level keys are errors (a
  /// typo would otherwise silently restart something from zero); `extra` is free-form.
  static TrainerState from_json(const nlohmann::json& j, const std::string& where) {
    constexpr const char* C = "checkpoint";
    MOLM_CHECK(j.is_object(), C, "{}: expected a JSON object, got {}", where, j.type_name());
    for (const auto& [k, v] : j.items())
      MOLM_CHECK(k == "molm_trainer_version" || k == "step" || k == "epoch" || k == "batch" || k == "scheduler" ||
                     k == "rng" || k == "extra",
                 C, "{}: unknown field '{}'", where, k);
    if (j.contains("molm_trainer_version"))
      MOLM_CHECK(j["molm_trainer_version"] == 1, C, "{}: molm_trainer_version {} is not supported (this molm reads 1)",
                 where, j["molm_trainer_version"].dump());
    auto u64 = [&](const nlohmann::json& v, const std::string& what) {
      std::uint64_t n = 0;
      MOLM_CHECK(detail::json_to_u64(v, n), C, "{}: {} must be a non-negative integer, got {}", where, what, v.dump());
      return n;
    };
    auto count = [&](const nlohmann::json& v, const std::string& what) {
      const std::uint64_t n = u64(v, what);
      MOLM_CHECK(n <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), C,
                 "{}: {} = {} is out of range", where, what, n);
      return static_cast<std::int64_t>(n);
    };
    auto field = [&](const char* k) -> const nlohmann::json& {
      MOLM_CHECK(j.contains(k), C, "{}: missing field '{}'", where, k);
      return j[k];
    };
    TrainerState s;
    s.step = count(field("step"), "step");
    s.epoch = count(field("epoch"), "epoch");
    s.batch = j.contains("batch") ? count(j["batch"], "batch") : 0;
    const nlohmann::json& sched = field("scheduler");
    MOLM_CHECK(sched.is_object(), C, "{}: scheduler must be an object, got {}", where, sched.type_name());
    for (const auto& [k, v] : sched.items()) s.scheduler[k] = count(v, "scheduler." + k);
    const nlohmann::json& rngs = field("rng");
    MOLM_CHECK(rngs.is_object(), C, "{}: rng must be an object, got {}", where, rngs.type_name());
    for (const auto& [name, r] : rngs.items()) {
      MOLM_CHECK(r.is_object() && r.size() == 2 && r.contains("seed") && r.contains("offset"), C,
                 "{}: rng.{} must be {{\"seed\": ..., \"offset\": ...}}, got {}", where, name, r.dump());
      s.rng[name] = {u64(r["seed"], "rng." + name + ".seed"), u64(r["offset"], "rng." + name + ".offset")};
    }
    if (j.contains("extra")) s.extra = j["extra"];
    return s;
  }
};

/// The contents of a checkpoint directory. optimizer and trainer are present together or not at all.
struct Checkpoint {
  nlohmann::json config = nlohmann::json::object();
  nn::StateDict model;
  std::optional<optim::OptimizerState> optimizer;
  std::optional<TrainerState> trainer;
};

/// The points between the steps of save_checkpoint, in order; a test hook can fail or stop the
/// process at each to check that every interruption leaves a loadable checkpoint.
enum class SaveStage {
  temp_created,       ///< the empty temp folder exists
  config_written,     ///< temp/config.json
  model_written,      ///< temp/model.safetensors
  optimizer_written,  ///< temp/optimizer.safetensors (reached only when saving training state)
  trainer_written,    ///< temp/trainer.json (likewise)
  temp_synced,        ///< the temp folder is complete and durable
  old_moved_aside,    ///< name → .name.old (reached only when a previous checkpoint existed)
  new_in_place,       ///< .name.tmp-<pid> → name: the new checkpoint is the one load finds
  backup_removed,     ///< .name.old is gone (likewise only with a previous checkpoint)
};

struct CheckpointSaveOptions {
  /// Called after each stage. For fault-injection tests: throwing makes the save roll back; calling
  /// _exit() simulates a crash at that point.
  std::function<void(SaveStage)> after_stage;
};

namespace detail {

inline constexpr const char* kCheckpointComponent = "checkpoint";

/// parent/name of a checkpoint path given as "a/b", "a/b/" or "b".
inline std::filesystem::path checkpoint_dir_path(const std::filesystem::path& dir) {
  std::filesystem::path p = dir.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  MOLM_CHECK(!p.empty() && p.filename() != "." && p.filename() != "..", kCheckpointComponent,
             "'{}' does not name a checkpoint folder", dir.string());
  return p.parent_path().empty() ? std::filesystem::path(".") / p : p;
}
inline std::filesystem::path checkpoint_backup_path(const std::filesystem::path& p) {
  return p.parent_path() / fmt::format(".{}.old", p.filename().string());  // fmt: GCC 12 -Wrestrict false positive
}
inline std::string checkpoint_temp_prefix(const std::filesystem::path& p) {
  return fmt::format(".{}.tmp-", p.filename().string());
}

/// fsync a folder so the renames and creations inside it survive a power cut. File systems that
/// cannot sync a folder (EINVAL) are no error, as in AtomicFile.
inline void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  MOLM_CHECK(fd >= 0, kCheckpointComponent, "cannot open folder {} to sync it: {}", dir.string(), std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  MOLM_CHECK(rc == 0 || err == EINVAL || err == EROFS, kCheckpointComponent, "fsync of folder {} failed: {}",
             dir.string(), std::strerror(err));
}

inline void rename_or_throw(const std::filesystem::path& from, const std::filesystem::path& to) {
  MOLM_CHECK(::rename(from.c_str(), to.c_str()) == 0, kCheckpointComponent, "cannot rename {} to {}: {}",
             from.string(), to.string(), std::strerror(errno));
}

inline void write_json_file(const std::filesystem::path& path, const nlohmann::ordered_json& j) {
  const std::string text = j.dump(2) + "\n";
  AtomicFile out(path, kCheckpointComponent);
  out.write(text.data(), text.size());
  out.commit();
}

inline nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MOLM_CHECK(in.good(), kCheckpointComponent, "cannot open {}", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    MOLM_THROW(kCheckpointComponent, "{} is not valid JSON: {}", path.string(), e.what());
  }
}

/// OptimizerState as safetensors tensors: its tensors, and each step count as an i64 scalar under
/// its own key ("3.step"), the way torch.optim keeps `step` as a tensor.
inline std::map<std::string, Tensor> optimizer_tensors(const optim::OptimizerState& s, const std::string& where) {
  std::map<std::string, Tensor> out = s.tensors;
  for (const auto& [k, n] : s.steps) {
    MOLM_CHECK(!out.count(k), kCheckpointComponent, "{}: '{}' is both a state tensor and a step count", where, k);
    out.emplace(k, full(Shape{}, static_cast<double>(n), DType::i64));
  }
  return out;
}

inline optim::OptimizerState optimizer_state_from(const SafetensorsFile& f) {
  optim::OptimizerState s;
  for (const auto& name : f.names()) {
    const SafetensorInfo& in = f.info(name);
    const bool is_step = name.size() > 5 && name.compare(name.size() - 5, 5, ".step") == 0;
    if (!is_step) {
      s.tensors.emplace(name, f.tensor(name));
      continue;
    }
    MOLM_CHECK(in.dtype == DType::i64 && in.shape.empty(), kCheckpointComponent,
               "{}: step count '{}' must be an i64 scalar, got {} {}", f.path().string(), name, molm::name(in.dtype),
               in.shape.str());
    s.steps.emplace(name, f.tensor(name).item<std::int64_t>());
  }
  return s;
}

inline std::map<std::string, Tensor> state_dict_map(const nn::StateDict& sd) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : sd) out.emplace(name, t);
  return out;
}

}  // namespace detail

/// Finish or undo what an interrupted save of checkpoint `dir` left behind (see the recovery rule at
/// the top): restore `.name.old` when `name` is missing, else delete it; delete `.name.tmp-*` folders.
/// save_checkpoint calls this first. Must not run while another process saves the same checkpoint.
inline void recover_checkpoint(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path p = detail::checkpoint_dir_path(dir), parent = p.parent_path(), backup = detail::checkpoint_backup_path(p);
  std::error_code ec;
  bool changed = false;
  if (fs::exists(backup, ec)) {
    if (!fs::exists(p, ec)) {
      spdlog::warn("[checkpoint] {}: restoring the previous checkpoint from {} (a save was interrupted)", p.string(),
                   backup.string());
      detail::rename_or_throw(backup, p);
    } else {
      fs::remove_all(backup, ec);
      MOLM_CHECK(!ec, detail::kCheckpointComponent, "cannot remove stale {}: {}", backup.string(), ec.message());
    }
    changed = true;
  }
  if (fs::is_directory(parent, ec)) {
    const std::string prefix = detail::checkpoint_temp_prefix(p);
    for (const auto& e : fs::directory_iterator(parent)) {
      const std::string f = e.path().filename().string();
      if (f.compare(0, prefix.size(), prefix) != 0) continue;
      fs::remove_all(e.path(), ec);
      MOLM_CHECK(!ec, detail::kCheckpointComponent, "cannot remove stale {}: {}", e.path().string(), ec.message());
      changed = true;
    }
  }
  if (changed) detail::fsync_dir(parent);
}

/// The folder load_checkpoint reads for `dir`: `dir` itself, or its `.name.old` backup when a save
/// was interrupted between moving the old checkpoint aside and putting the new one in place.
inline std::filesystem::path find_checkpoint(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path p = detail::checkpoint_dir_path(dir);
  std::error_code ec;
  if (fs::is_directory(p, ec)) return p;
  MOLM_CHECK(!fs::exists(p, ec), detail::kCheckpointComponent, "{} is not a folder", p.string());
  const fs::path backup = detail::checkpoint_backup_path(p);
  MOLM_CHECK(fs::is_directory(backup, ec), detail::kCheckpointComponent, "no checkpoint at {}", p.string());
  return backup;
}

/// Write checkpoint `c` to the folder `dir` atomically (see the top of this file). `dir`'s parent
/// must exist. The model's tensors may be views of any layout; tied tensors are written under each name.
inline void save_checkpoint(const std::filesystem::path& dir, const Checkpoint& c,
                            const CheckpointSaveOptions& options = {}) {
  namespace fs = std::filesystem;
  constexpr const char* C = detail::kCheckpointComponent;
  const fs::path p = detail::checkpoint_dir_path(dir), parent = p.parent_path(), backup = detail::checkpoint_backup_path(p);
  MOLM_CHECK(c.config.is_object(), C, "{}: config must be a JSON object, got {}", p.string(), c.config.type_name());
  MOLM_CHECK(c.optimizer.has_value() == c.trainer.has_value(), C,
             "{}: optimizer state and trainer state go together (got only the {})", p.string(),
             c.optimizer ? "optimizer state" : "trainer state");
  std::error_code ec;
  MOLM_CHECK(fs::is_directory(parent, ec), C, "cannot save {}: folder {} does not exist", p.string(), parent.string());
  MOLM_CHECK(!fs::exists(p, ec) || fs::is_directory(p, ec), C, "cannot save {}: it exists and is not a folder",
             p.string());
  recover_checkpoint(p);
  auto stage = [&](SaveStage s) {
    if (options.after_stage) options.after_stage(s);
  };

  const fs::path temp = parent / fmt::format("{}{}", detail::checkpoint_temp_prefix(p), ::getpid());
  bool moved_aside = false, in_place = false;
  try {
    MOLM_CHECK(fs::create_directory(temp, ec) && !ec, C, "cannot create {}: {}", temp.string(), ec.message());
    stage(SaveStage::temp_created);

    nlohmann::ordered_json config = c.config;
    if (!config.contains("molm_version")) config["molm_version"] = version();
    detail::write_json_file(temp / "config.json", config);
    stage(SaveStage::config_written);
    save_safetensors(temp / "model.safetensors", detail::state_dict_map(c.model), {{"format", "pt"}});
    stage(SaveStage::model_written);
    if (c.optimizer) {
      save_safetensors(temp / "optimizer.safetensors", detail::optimizer_tensors(*c.optimizer, p.string()),
                       {{"format", "molm.optimizer"}});
      stage(SaveStage::optimizer_written);
      detail::write_json_file(temp / "trainer.json", c.trainer->to_json());
      stage(SaveStage::trainer_written);
    }
    detail::fsync_dir(temp);
    stage(SaveStage::temp_synced);

    if (fs::exists(p, ec)) {
      detail::rename_or_throw(p, backup);
      moved_aside = true;
      detail::fsync_dir(parent);
      stage(SaveStage::old_moved_aside);
    }
    detail::rename_or_throw(temp, p);
    in_place = true;
    detail::fsync_dir(parent);
    stage(SaveStage::new_in_place);
  } catch (...) {
    // Roll back: the previous checkpoint goes back under its name, the temp folder away.
    if (moved_aside && !in_place) ::rename(backup.c_str(), p.c_str());
    if (!in_place) fs::remove_all(temp, ec);
    throw;
  }
  if (moved_aside) {
    fs::remove_all(backup, ec);
    MOLM_CHECK(!ec, C, "saved {}, but cannot remove the previous checkpoint at {}: {}", p.string(), backup.string(),
               ec.message());
    detail::fsync_dir(parent);
    stage(SaveStage::backup_removed);
  }
}

/// Read the checkpoint folder `dir` (or its backup, see find_checkpoint). The tensors are views
/// into the mapped files. Throws molm::error naming any missing or malformed file.
inline Checkpoint load_checkpoint(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  constexpr const char* C = detail::kCheckpointComponent;
  const fs::path p = find_checkpoint(dir);
  if (p != detail::checkpoint_dir_path(dir))
    spdlog::warn("[checkpoint] {} is missing: reading the previous checkpoint {} (a save was interrupted)",
                 detail::checkpoint_dir_path(dir).string(), p.string());
  std::error_code ec;
  for (const char* f : {"config.json", "model.safetensors"})
    MOLM_CHECK(fs::is_regular_file(p / f, ec), C, "{}: missing {}", p.string(), f);
  const bool has_optimizer = fs::exists(p / "optimizer.safetensors", ec), has_trainer = fs::exists(p / "trainer.json", ec);
  MOLM_CHECK(has_optimizer == has_trainer, C, "{}: has {} but not {} (a training checkpoint needs both)", p.string(),
             has_optimizer ? "optimizer.safetensors" : "trainer.json",
             has_optimizer ? "trainer.json" : "optimizer.safetensors");

  Checkpoint out;
  out.config = detail::read_json_file(p / "config.json");
  MOLM_CHECK(out.config.is_object(), C, "{}: expected a JSON object, got {}", (p / "config.json").string(),
             out.config.type_name());
  for (auto& [name, t] : SafetensorsFile(p / "model.safetensors").tensors()) out.model.insert(name, t);
  if (has_optimizer) {
    out.optimizer = detail::optimizer_state_from(SafetensorsFile(p / "optimizer.safetensors"));
    out.trainer = TrainerState::from_json(detail::read_json_file(p / "trainer.json"), (p / "trainer.json").string());
  }
  return out;
}

}  // namespace molm::io
