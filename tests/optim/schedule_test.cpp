// optim/schedule.hpp: the released stage-1 fine-tune log, the warm-up / cosine boundaries and quirks,
// LRScheduler driving an optimizer, and a resumed run (optimizer + schedule state) that is
// bit-identical to an uninterrupted one.
#include "support/testing.hpp"

#include <molm/optim.hpp>

using namespace molm;
using namespace molm::optim;
using Catch::Matchers::Contains;

TEST_CASE("schedule: reproduces the lr of the released stage-1 fine-tuning log", "[optim][schedule]") {
  // reference-model §4.6: init 1e-4, min 1e-5, 50 epochs, start 1e-6, warm-up of 91 steps (one epoch);
  // metrics.csv logs 5.4308e-5 at step 49, 9.99112e-5 in epoch 1 and 9.96452e-5 in epoch 2.
  const WarmupCosineByEpoch s{1e-4, 1e-5, 1e-6, 91, 50};
  CHECK(s(0, 49) == Approx(5.4308e-5).epsilon(1e-5));
  CHECK(s(1, 91) == Approx(9.99112e-5).epsilon(1e-6));
  CHECK(s(1, 181) == s(1, 91));  // constant within an epoch
  CHECK(s(2, 182) == Approx(9.96452e-5).epsilon(1e-6));
}

TEST_CASE("schedule: warm-up boundaries and the quirks of the reference", "[optim][schedule]") {
  const WarmupCosineByEpoch lavis{1e-4, 5e-6, 1e-6, 200, 10};
  CHECK(lavis(0, 0) == 1e-6);
  CHECK(lavis(0, 100) == Approx(1e-6 + (1e-4 - 1e-6) * 0.5).epsilon(1e-14));
  CHECK(lavis(0, 200) == 1e-4);
  CHECK(lavis(0, 5000) == 1e-4);  // capped: epoch 0 stays at init once warmed up
  CHECK(lavis(10, 0) == Approx(5e-6).epsilon(1e-12));
  const WarmupCosineByEpoch start_at_init{3e-4, 0, -1, 10, 4};  // LAVIS default warmup_start_lr = −1
  CHECK(start_at_init(0, 0) == 3e-4);
  const WarmupCosineByEpoch no_warmup{3e-4, 0, 1e-6, 0, 4};  // max(W, 1): no division by zero
  CHECK(no_warmup(0, 0) == 1e-6);
  CHECK(no_warmup(0, 1) == 3e-4);

  const WarmupCosineByStep stage3{};  // reference-model §6.4 defaults
  CHECK(stage3(0, 0) == 1e-6);
  CHECK(stage3(0, 1000) == 1e-5);  // step ≤ W is still warm-up
  // First step after warm-up: the cosine of the *global* step, already a little below init.
  CHECK(stage3(0, 1001) == Approx(1e-8 + (1e-5 - 1e-8) * 0.5 * (1 + std::cos(M_PI * 1001 / 40000))).epsilon(1e-14));
  CHECK(stage3(0, 1001) < 1e-5 * 0.9985);
  CHECK(stage3(0, 40000) == Approx(1e-8).epsilon(1e-12));

  const WarmupStepDecayByEpoch decay{1e-4, 5e-6, 1e-6, 200, 0.5};
  CHECK(decay(1, 0) == 5e-5);
  CHECK(decay(30, 0) == 5e-6);  // floored at min_lr
}

TEST_CASE("schedule: LRScheduler sets every group's lr and saves / loads its position", "[optim][schedule]") {
  Tensor a = zeros({2}).set_requires_grad(), b = zeros({3}).set_requires_grad();
  AdamW opt({{{a}, 1.0, {}}, {{b}, 2.0, {}}}, AdamWOptions{});
  LRScheduler sched(WarmupCosineByEpoch{1e-4, 5e-6, 1e-6, 10, 5});
  const double lr = sched.step(opt, 0, 5);
  CHECK(lr == opt.lr(0));
  CHECK(lr == Approx(1e-6 + (1e-4 - 1e-6) * 0.5).epsilon(1e-14));
  CHECK(opt.lr(0) == opt.lr(1));
  CHECK(sched.position() == SchedulePosition{0, 5});
  sched.step(opt, 2, 37);
  const auto saved = sched.state_dict();
  CHECK(saved.at("epoch") == 2);
  CHECK(saved.at("step") == 37);
  LRScheduler restored(WarmupCosineByEpoch{1e-4, 5e-6, 1e-6, 10, 5});
  restored.load_state(saved);
  CHECK(restored.position() == sched.position());
  CHECK(restored.current_lr() == sched.current_lr());

  REQUIRE_THROWS_WITH(restored.load_state({{"epoch", 1}}), Contains("[lr_schedule]") && Contains("'step'"));
  REQUIRE_THROWS_WITH(restored.load_state({{"epoch", 1}, {"step", 2}, {"iteration", 3}}),
                      Contains("unknown scheduler state 'iteration'"));
  REQUIRE_THROWS_WITH(restored.load_state({{"epoch", -1}, {"step", 2}}), Contains("negative"));
  REQUIRE_THROWS_WITH(sched.lr_at(0, -1), Contains("negative"));
  REQUIRE_THROWS_WITH(LRScheduler(WarmupCosineByEpoch{1e-4, 0, 0, 0, 0}).lr_at(1, 0), Contains("max_epochs"));
  REQUIRE_THROWS_WITH(LRScheduler(WarmupCosineByStep{1e-5, 0, 0, 0, 0}).lr_at(0, 3), Contains("max_steps"));
  REQUIRE_THROWS_WITH(LRScheduler([](std::int64_t, std::int64_t) { return -1.0; }).lr_at(0, 0),
                      Contains("gives lr -1"));
}

TEST_CASE("schedule: a run resumed from optimizer and scheduler state is bit-identical", "[optim][schedule]") {
  constexpr int kStepsPerEpoch = 4, kSteps = 12;
  const WarmupCosineByEpoch schedule{1e-2, 1e-4, 1e-3, 3, 3};
  auto make_param = [] { return testing::random({64, 33}, 31, DType::f32).set_requires_grad(); };
  auto train = [&](AdamW& opt, LRScheduler& sched, const Tensor& p, int from, int to) {
    for (int k = from; k < to; ++k) {
      sched.step(opt, k / kStepsPerEpoch, k);
      opt.zero_grad();
      p.set_grad(testing::random(p.shape(), 500 + k, DType::f32));
      clip_grad_norm({p}, 5.0);
      opt.step();
    }
  };
  Tensor straight = make_param();
  AdamW opt_a({straight}, AdamWOptions{1.0, 0.9, 0.999, 1e-8, 0.05});
  LRScheduler sched_a(schedule);
  train(opt_a, sched_a, straight, 0, kSteps);

  Tensor resumed = make_param();
  OptimizerState opt_state;
  std::map<std::string, std::int64_t> sched_state;
  {
    AdamW opt({resumed}, AdamWOptions{1.0, 0.9, 0.999, 1e-8, 0.05});
    LRScheduler sched(schedule);
    train(opt, sched, resumed, 0, 7);
    opt_state = opt.state_dict();
    sched_state = sched.state_dict();
  }
  AdamW opt_b({resumed}, AdamWOptions{1.0, 0.9, 0.999, 1e-8, 0.05});
  LRScheduler sched_b(schedule);
  opt_b.load_state(opt_state);
  sched_b.load_state(sched_state);
  const int next = static_cast<int>(sched_b.position().step) + 1;
  CHECK(next == 7);
  train(opt_b, sched_b, resumed, next, kSteps);
  testing::require_close(resumed, straight, 0.0, 0.0);
  CHECK(opt_b.lr() == opt_a.lr());
}
