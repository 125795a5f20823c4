#!/usr/bin/env python3
"""Golden values for tests/golden/linalg_test.cpp, computed with PyTorch (2.1.2).

Writes small .npy files to tests/golden/data/linalg/: for each case and each dtype (f64, f32) the
inputs, the output y, a fixed weight w, and the gradients of L = sum(y * w) with respect to every
input. Files are named <case>_<dtype>_<tensor>.npy. Run from anywhere:

    python3 tests/golden/gen_linalg.py

Cases: torch.matmul with broadcast batch dims ([2, 1, 3, 4] @ [5, 4, 2] and a larger
[3, 1, 7, 40] @ [4, 40, 9]), a batched left operand with a shared 2-D right operand, a vector on
the left of a batch, and F.linear on [2, 3, 8] with and without bias.
"""
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent / "data" / "linalg"
DTYPES = {"f64": torch.float64, "f32": torch.float32}
GEN = torch.Generator().manual_seed(20240611)


def uniform(shape, low=-1.0, high=1.0):
    return low + (high - low) * torch.rand(shape, generator=GEN, dtype=torch.float64)


def run_case(case, inputs, fn):
    """inputs: name -> float64 tensor (in fn's argument order), all differentiated; fn(*inputs) is y."""
    w64 = None
    for dname, dtype in DTYPES.items():
        xs = {k: v.to(dtype).clone().requires_grad_(True) for k, v in inputs.items()}
        y = fn(*xs.values())
        if w64 is None:
            w64 = uniform(y.shape, 0.5, 1.5)
        w = w64.to(dtype)
        grads = torch.autograd.grad((y * w).sum(), list(xs.values()))
        out = dict(xs, y=y, w=w)
        out.update({"d" + k: g for k, g in zip(xs, grads)})
        for name, t in out.items():
            np.save(OUT / f"{case}_{dname}_{name}.npy", t.detach().numpy())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.npy"):
        old.unlink()
    run_case("matmul_bcast", {"a": uniform((2, 1, 3, 4)), "b": uniform((5, 4, 2))}, torch.matmul)
    run_case("matmul_bcast_wide", {"a": uniform((3, 1, 7, 40)), "b": uniform((4, 40, 9))}, torch.matmul)
    run_case("matmul_shared_b", {"a": uniform((2, 3, 8, 16)), "b": uniform((16, 6))}, torch.matmul)
    run_case("matmul_vec_batch", {"a": uniform((5,)), "b": uniform((3, 5, 4))}, torch.matmul)
    run_case("linear", {"x": uniform((2, 3, 8)), "weight": uniform((5, 8)), "bias": uniform((5,))}, F.linear)
    run_case("linear_nobias", {"x": uniform((2, 3, 8)), "weight": uniform((5, 8))}, F.linear)
    files = sorted(OUT.glob("*.npy"))
    print(f"wrote {len(files)} files, {sum(f.stat().st_size for f in files)} bytes to {OUT}")


if __name__ == "__main__":
    main()
