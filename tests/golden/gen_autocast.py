#!/usr/bin/env python3
"""Golden values for tests/golden/autocast_test.cpp: PyTorch 2.1.2's CPU autocast to bfloat16.

A small chain with one op of each autocast rule molm documents (include/molm/autograd/autocast.hpp),
run under torch.autocast("cpu", dtype=torch.bfloat16) on f32 leaves:

    h = F.linear(x, W, b)              bf16 (operands rounded, f32 accumulator, rounded once)
    n = F.layer_norm(h, [24], g, beta) bf16 (bf16 input, f32 parameters)
    a = F.gelu(n)                      bf16
    r = a + x2                         f32  (type promotion)
    m = r @ M                          bf16
    s = F.softmax(m, -1)               bf16
    ce = F.cross_entropy(m.view(10, 6), t, label_smoothing=0.1)   f32
    loss = ce + (s.float() * w).sum()

Writes to tests/golden/data/autocast/: the f32 leaves, every intermediate as float32 .npy (bf16 values
are exact in float32), dtypes.json (each intermediate's torch dtype), the loss and the gradient of
every leaf (f32). Run: python3 tests/golden/gen_autocast.py
"""
import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent / "data" / "autocast"
GEN = torch.Generator().manual_seed(20261207)


def uniform(*shape, low=-1.0, high=1.0):
    return (low + (high - low) * torch.rand(shape, generator=GEN, dtype=torch.float64)).float()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    leaves = {
        "x": uniform(2, 5, 64), "W": uniform(24, 64, low=-0.2, high=0.2), "b": uniform(24),
        "g": uniform(24, low=0.5, high=1.5), "beta": uniform(24, low=-0.1, high=0.1),
        "x2": uniform(2, 5, 24), "M": uniform(24, 6, low=-0.5, high=0.5),
    }
    fixed = {"t": torch.randint(0, 6, (10,), generator=GEN), "w": uniform(2, 5, 6, low=0.5, high=1.5)}
    p = {k: v.clone().requires_grad_(True) for k, v in leaves.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = F.linear(p["x"], p["W"], p["b"])
        n = F.layer_norm(h, [24], p["g"], p["beta"])
        a = F.gelu(n)
        r = a + p["x2"]
        m = r @ p["M"]
        s = F.softmax(m, -1)
        ce = F.cross_entropy(m.view(10, 6), fixed["t"], label_smoothing=0.1)
        loss = ce + (s.float() * fixed["w"]).sum()
    loss.backward()
    steps = {"h": h, "n": n, "a": a, "r": r, "m": m, "s": s, "ce": ce, "loss": loss}
    for k, v in {**leaves, **steps}.items():
        np.save(OUT / f"{k}.npy", v.detach().float().numpy())
    np.save(OUT / "t.npy", fixed["t"].numpy())
    np.save(OUT / "w.npy", fixed["w"].numpy())
    for k, v in p.items():
        np.save(OUT / f"d{k}.npy", v.grad.numpy())
    dtypes = {k: str(v.dtype).replace("torch.", "") for k, v in steps.items()}
    dtypes.update({f"d{k}": str(v.grad.dtype).replace("torch.", "") for k, v in p.items()})
    (OUT / "dtypes.json").write_text(json.dumps(dtypes, indent=1, sort_keys=True) + "\n")
    print(json.dumps(dtypes))


if __name__ == "__main__":
    main()
