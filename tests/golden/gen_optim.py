#!/usr/bin/env python3
"""Golden values for tests/golden/optim_test.cpp, computed with PyTorch (2.1.2).

Writes small .npy files to tests/golden/data/optim/. Run from anywhere:

    python3 tests/golden/gen_optim.py

Optimizers. A fixed problem with two parameters, p0 (f64, [3, 4]) and p1 (f32, [5]), and the loss

    L = sum(a0 * (p0 - c0) * (p0 - c0) + tanh(d0 * p0)) + sum(a1 * (p1 - c1) * (p1 - c1) + tanh(d1 * p1))

(elementwise, so both frameworks compute the same gradients). Each run takes 20 steps; per run
<run>_p{0,1}.npy holds the parameters before the first step and after every step ([21, ...]),
<run>_g{0,1}.npy the gradient each step used ([20, ...], zeros where the gradient was None), and
<run>_lr.npy / <run>_norm.npy the lr and the clip_grad_norm result of each step where they apply.
Runs (the single-tensor code paths, foreach=False):
  adamw        two groups: p0 lr 1e-2 wd 0.05 (the reference's decay), p1 lr 5e-3 wd 0; default betas and
               eps as in the reference; p1's gradient is None on steps 3, 7, 11, ... (skipped: its step
               count lags, as torch does)
  adamw_sched  one group, wd 0.05, betas (0.9, 0.98), eps 1e-6, lr from the stage-3 warm-up + cosine
               formula scaled to 20 steps, clip_grad_norm_(max_norm 0.5) before every step
  sgd          momentum 0.9, weight decay 0.05, lr 1e-2
  sgd_nesterov momentum 0.9, dampening 0, Nesterov, weight decay 0.01, lr 5e-3, clip_grad_norm_(1.0, inf-norm)

Schedules. sched_<name>_{epoch,step,lr}.npy: (epoch, global step) positions and the lr the reference
formulas give there (LAVIS lavis/common/optims.py for stages 1-2, model/blip2_stage3.py for stage 3,
transcribed below; LAVIS itself is not a dependency), for the configurations of reference-model
§4.5, §4.6, §5.7 and §6.4.
"""
import math
import pathlib

import numpy as np
import torch

OUT = pathlib.Path(__file__).resolve().parent / "data" / "optim"
STEPS = 20


# ---- LR formulas, transcribed from the reference sources ---------------------------------------------
def warmup_lr_schedule(step, max_step, init_lr, max_lr):  # LAVIS
    return min(max_lr, init_lr + (max_lr - init_lr) * step / max(max_step, 1))


def cosine_lr_schedule(epoch, max_epoch, init_lr, min_lr):  # LAVIS (3D-MoLM stage 3: step / max_step)
    return (init_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * epoch / max_epoch)) + min_lr


def step_lr_schedule(epoch, init_lr, min_lr, decay_rate):  # LAVIS
    return max(min_lr, init_lr * (decay_rate**epoch))


def lavis_cosine(init_lr, min_lr, warmup_start_lr, warmup_steps, max_epoch):
    start = warmup_start_lr if warmup_start_lr >= 0 else init_lr

    def lr(epoch, step):
        if epoch == 0:
            return warmup_lr_schedule(step, warmup_steps, start, init_lr)
        return cosine_lr_schedule(epoch, max_epoch, init_lr, min_lr)

    return lr


def lavis_step(init_lr, min_lr, warmup_start_lr, warmup_steps, decay_rate):
    start = warmup_start_lr if warmup_start_lr >= 0 else init_lr

    def lr(epoch, step):
        if epoch == 0:
            return warmup_lr_schedule(step, warmup_steps, start, init_lr)
        return step_lr_schedule(epoch, init_lr, min_lr, decay_rate)

    return lr


def stage3_cosine(init_lr, min_lr, warmup_start_lr, warmup_steps, max_step):
    start = warmup_start_lr if warmup_start_lr >= 0 else init_lr

    def lr(epoch, step):
        if step <= warmup_steps:
            return warmup_lr_schedule(step, warmup_steps, start, init_lr)
        return cosine_lr_schedule(step, max_step, init_lr, min_lr)

    return lr


def epoch_positions(steps_per_epoch, epochs):
    return [(e, e * steps_per_epoch + s) for e in range(epochs) for s in range(steps_per_epoch)]


SCHEDULES = {
    # §4.5 stage 1 pretrain: W = min(steps/epoch, 1000); here 1500 steps/epoch, 50 epochs (first step of each)
    "stage1_pretrain": (lavis_cosine(1e-4, 5e-6, 1e-6, 1000, 50),
                        [(0, s) for s in range(0, 1500, 7)] + [(e, e * 1500) for e in range(1, 50)]),
    # §4.6 the released stage-1 fine-tune: min_lr 1e-5, max_epochs 50, W = 91 (one epoch), 10 epochs
    "stage1_ft_released": (lavis_cosine(1e-4, 1e-5, 1e-6, 91, 50), epoch_positions(91, 10)),
    # §5.7 stage 2: min 5e-6, W = min(1000, steps/epoch) with 600 steps/epoch, 10 epochs
    "stage2": (lavis_cosine(1e-4, 5e-6, 1e-6, 600, 10), epoch_positions(600, 10)[::3]),
    # LAVIS linear_warmup_step_lr with the stage-1 defaults (lr_decay_rate 0.9)
    "step_decay": (lavis_step(1e-4, 5e-6, 1e-6, 200, 0.9), epoch_positions(300, 40)[::11]),
    # LAVIS default warmup_start_lr = -1: the warm-up starts at init_lr
    "no_warmup_start": (lavis_cosine(3e-4, 1e-6, -1, 50, 5), epoch_positions(80, 5)),
    # §6.4 stage 3: by global step, cosine over the global step, 40000 steps
    "stage3": (stage3_cosine(1e-5, 1e-8, 1e-6, 1000, 40000),
               [(0, s) for s in list(range(0, 1100)) + list(range(1100, 40001, 37)) + [40000]]),
}


# ---- optimizer runs --------------------------------------------------------------------------------
GEN = torch.Generator().manual_seed(20240612)


def uniform(shape, dtype, low=-1.0, high=1.0):
    return (low + (high - low) * torch.rand(shape, generator=GEN, dtype=torch.float64)).to(dtype)


SHAPES = [((3, 4), torch.float64), ((5,), torch.float32)]
DATA = [{k: uniform(shape, dt, lo, hi) for k, (lo, hi) in {"a": (0.5, 2.0), "c": (-1, 1), "d": (-2, 2)}.items()}
        for shape, dt in SHAPES]
INIT = [uniform(shape, dt, -2, 2) for shape, dt in SHAPES]


def loss_fn(params):
    total = 0
    for p, d in zip(params, DATA):
        total = total + (d["a"] * (p - d["c"]) * (p - d["c"]) + torch.tanh(d["d"] * p)).sum().double()
    return total


def stage3_scaled(step):  # the stage-3 shape compressed to 20 steps
    return stage3_cosine(1e-2, 1e-4, 1e-3, 5, 20)(0, step)


def run(name, make_opt, lr_at=None, clip=None, drop_p1=lambda k: False):
    params = [t.clone().requires_grad_(True) for t in INIT]
    opt = make_opt(params)
    traj = [[p.detach().clone()] for p in params]
    grads = [[] for _ in params]
    lrs, norms = [], []
    for k in range(STEPS):
        opt.zero_grad(set_to_none=True)
        if lr_at is not None:
            for g in opt.param_groups:
                g["lr"] = lr_at(k)
            lrs.append(lr_at(k))
        loss_fn(params).backward()
        if drop_p1(k):
            params[1].grad = None
        if clip is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, clip[0], norm_type=clip[1], foreach=False)))
        for i, p in enumerate(params):
            grads[i].append(p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
        opt.step()
        for i, p in enumerate(params):
            traj[i].append(p.detach().clone())
    for i in range(len(params)):
        np.save(OUT / f"{name}_p{i}.npy", torch.stack(traj[i]).numpy())
        np.save(OUT / f"{name}_g{i}.npy", torch.stack(grads[i]).numpy())
    if lrs:
        np.save(OUT / f"{name}_lr.npy", np.array(lrs, dtype=np.float64))
    if norms:
        np.save(OUT / f"{name}_norm.npy", np.array(norms, dtype=np.float64))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.npy"):
        old.unlink()
    for i, d in enumerate(DATA):
        for k, v in d.items():
            np.save(OUT / f"data_{k}{i}.npy", v.numpy())

    run("adamw",
        lambda ps: torch.optim.AdamW([{"params": [ps[0]], "lr": 1e-2, "weight_decay": 0.05},
                                      {"params": [ps[1]], "lr": 5e-3, "weight_decay": 0.0}], foreach=False),
        drop_p1=lambda k: k % 4 == 3)
    run("adamw_sched",
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.05, foreach=False),
        lr_at=stage3_scaled, clip=(0.5, 2.0))
    run("sgd", lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, weight_decay=0.05, foreach=False))
    run("sgd_nesterov",
        lambda ps: torch.optim.SGD(ps, lr=5e-3, momentum=0.9, nesterov=True, weight_decay=0.01, foreach=False),
        clip=(1.0, math.inf))

    for name, (fn, positions) in SCHEDULES.items():
        np.save(OUT / f"sched_{name}_epoch.npy", np.array([e for e, _ in positions], dtype=np.int64))
        np.save(OUT / f"sched_{name}_step.npy", np.array([s for _, s in positions], dtype=np.int64))
        np.save(OUT / f"sched_{name}_lr.npy", np.array([fn(e, s) for e, s in positions], dtype=np.float64))

    files = sorted(OUT.glob("*.npy"))
    print(f"wrote {len(files)} files, {sum(f.stat().st_size for f in files)} bytes to {OUT}")


if __name__ == "__main__":
    main()
