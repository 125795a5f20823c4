// Exact resume through a checkpoint directory: a small MLP with dropout, trained with AdamW, a
// warm-up + cosine schedule, gradient clipping and 2-step gradient accumulation, for N updates
// straight, equals N/2 updates → save_checkpoint → fresh objects (another initialisation) →
// load_checkpoint → N/2 updates, bit for bit (memcmp of every parameter and optimizer state). Also under
// bf16 autocast. A control run that restores everything except the RNG states diverges, so the test
// does see the generators.
#include "support/testing.hpp"

#include <molm/io/checkpoint_dir.hpp>
#include <molm/optim.hpp>
#include <molm/optim/accumulate.hpp>

#include <cstring>

using namespace molm;

namespace {
namespace fs = std::filesystem;

constexpr int kUpdates = 10, kMicroBatches = 2, kBatch = 8, kIn = 6, kClasses = 4;

struct TinyMlp : nn::Module {
  TinyMlp(Generator& init, Generator& dropout_gen) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(kIn, 32, init));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.3, dropout_gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(32, kClasses, init));
  }
  Tensor forward(const Tensor& x) const { return fc2->forward(drop->forward(gelu(fc1->forward(x)))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::Dropout> drop;
};

/// Everything a training run owns. The generators come first: the model's dropout points at one.
struct Run {
  Generator init, dropout_gen{7}, data_gen{11};
  TinyMlp model;
  optim::AdamW opt;
  optim::LRScheduler sched{optim::WarmupCosineByStep{1e-2, 1e-4, 1e-4, 3, kUpdates}};
  optim::GradientAccumulator acc{kMicroBatches};
  std::int64_t step = 0;
  bool bf16;

  Run(std::uint64_t init_seed, bool bf16_autocast)
      : init(init_seed), model(init, dropout_gen), opt(model.parameters(), {1e-2, 0.9, 0.999, 1e-8, 0.05}),
        bf16(bf16_autocast) {
    model.train();
  }

  void train(int updates) {
    autocast guard(DType::bf16, bf16);
    for (int u = 0; u < updates; ++u) {
      sched.step(opt, 0, step);
      for (int m = 0; m < kMicroBatches; ++m) {
        const Tensor x = randn({kBatch, kIn}, data_gen);  // the data order lives in data_gen too
        const Tensor y = randint(0, kClasses, {kBatch}, data_gen);
        acc.scale(cross_entropy(model.forward(x), y)).backward();
        if (m + 1 == kMicroBatches) optim::clip_grad_norm(model.parameters(), 1.0);
        acc.step(opt);
      }
      ++step;
    }
    REQUIRE(acc.pending() == 0);  // checkpoints happen at update boundaries
  }

  io::Checkpoint checkpoint() {
    io::Checkpoint c;
    c.config = {{"model", "tiny-mlp"}};
    c.model = model.state_dict();
    c.optimizer = opt.state_dict();
    io::TrainerState t;
    t.step = step;
    t.scheduler = sched.state_dict();
    t.save_rng("dropout", dropout_gen);
    t.save_rng("data", data_gen);
    c.trainer = t;
    return c;
  }

  void restore(const io::Checkpoint& c, bool with_rng = true) {
    REQUIRE(model.load_state_dict(c.model).empty());
    opt.load_state(*c.optimizer);
    sched.load_state(c.trainer->scheduler);
    step = c.trainer->step;
    if (!with_rng) return;
    c.trainer->restore_rng("dropout", dropout_gen);
    c.trainer->restore_rng("data", data_gen);
  }
};

bool identical(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), static_cast<std::size_t>(ca.numel()) * ca.itemsize()) == 0;
}

bool same_parameters(TinyMlp& a, TinyMlp& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i)
    if (pa[i].first != pb[i].first || !identical(pa[i].second, pb[i].second)) return false;
  return true;
}

void check_resume(bool bf16) {
  INFO((bf16 ? "bf16 autocast" : "f32"));
  const fs::path dir = fs::temp_directory_path() / ("molm_resume_test_" + std::to_string(::getpid())) / "ckpt";
  fs::create_directories(dir.parent_path());

  Run straight(1, bf16);
  straight.train(kUpdates);

  {
    Run first(1, bf16);
    first.train(kUpdates / 2);
    io::save_checkpoint(dir, first.checkpoint());
  }  // everything of the first half is gone; only the checkpoint remains

  const io::Checkpoint c = io::load_checkpoint(dir);
  Run resumed(999, bf16);  // another initialisation: the checkpoint must overwrite all of it
  REQUIRE_FALSE(same_parameters(resumed.model, straight.model));
  resumed.restore(c);
  resumed.train(kUpdates - kUpdates / 2);

  CHECK(resumed.step == straight.step);
  CHECK(resumed.opt.lr() == straight.opt.lr());
  CHECK(resumed.dropout_gen.offset() == straight.dropout_gen.offset());
  CHECK(resumed.data_gen.offset() == straight.data_gen.offset());
  CHECK(same_parameters(resumed.model, straight.model));
  const auto sa = straight.opt.state_dict(), sb = resumed.opt.state_dict();
  CHECK(sa.steps == sb.steps);
  REQUIRE(sa.tensors.size() == sb.tensors.size());
  for (const auto& [k, t] : sa.tensors) CHECK(identical(sb.tensors.at(k), t));

  // Control: the same resume without the RNG states replays the first half's dropout masks and data.
  Run no_rng(999, bf16);
  no_rng.restore(c, /*with_rng=*/false);
  no_rng.train(kUpdates - kUpdates / 2);
  CHECK_FALSE(same_parameters(no_rng.model, straight.model));

  fs::remove_all(dir.parent_path());
}
}  // namespace

TEST_CASE("resume: N updates straight equal N/2, checkpoint dir, fresh objects, N/2 (f32)", "[optim][resume]") {
  check_resume(false);
}

TEST_CASE("resume: the same under bf16 autocast", "[optim][resume]") { check_resume(true); }
