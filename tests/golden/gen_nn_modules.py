#!/usr/bin/env python3
"""Golden values for tests/golden/nn_modules_test.cpp: small PyTorch (2.1.2) modules, named as the
checkpoints molm loads name them, with their weights, an input, the output and the input gradients.

For each case the folder tests/golden/data/nn_modules/<case>/ holds
  state_dict/<parameter name>.npy     one f64 file per entry of module.state_dict(), named by its key
and, for each dtype (f64, f32), <dtype>/ holds
  x.npy (context.npy, bias.npy)       inputs (bias: the additive attention bias or mask)
  y.npy, dx.npy (dcontext.npy, ...)   the output and the gradients of L = sum(y * w), where
                                      w = linspace(0.5, 1.5, y.numel()) in f64, cast, shaped as y
The f32 module holds the f64 weights rounded to f32. The C++ test loads state_dict/ by name with
Module::load_state_dict (strict; for f32 the conversions are reported), so a wrong parameter name on
either side fails it. Run from anywhere:

    python3 tests/golden/gen_nn_modules.py

Cases (C = 8 channels, B = 2, L = 3 or 4):
  linear      nn.Linear(5, 4)                                   names weight, bias
  mlp         fc1 -> GELU(erf) -> fc2                            Uni-Mol's fc1/fc2
  bert_self   BERT self-attention: query/key/value, additive -10000 key mask [B,1,1,L]
  bert_cross  BERT cross-attention: keys/values from a context of width 6 (Q-Former: 512)
  llama       HF-Llama attention: q/k/v/o_proj without bias, causal, 4 query heads sharing 2 kv heads
  unimol      Uni-Mol self-attention: fused in_proj (q|k|v rows) + out_proj, additive bias [B,H,L,L]
The attention modules are written out by hand here (not nn.MultiheadAttention, whose names differ).
"""
import math
import pathlib
import shutil

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent / "data" / "nn_modules"
DTYPES = {"f64": torch.float64, "f32": torch.float32}


def split_heads(t, heads):  # [B, L, H*D] -> [B, H, L, D]
    b, l, c = t.shape
    return t.view(b, l, heads, c // heads).transpose(1, 2)


def merge_heads(t):  # [B, H, L, D] -> [B, L, H*D]
    b, h, l, d = t.shape
    return t.transpose(1, 2).reshape(b, l, h * d)


def attention(q, k, v, bias=None, causal=False):
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if bias is not None:
        s = s + bias
    if causal:
        lq, lk = s.shape[-2:]
        s = s.masked_fill(torch.ones(lq, lk, dtype=torch.bool).triu(1 + lk - lq), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 12)
        self.fc2 = nn.Linear(12, 8)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class BertSelfAttention(nn.Module):  # LAVIS/HF BertSelfAttention without dropout
    def __init__(self, hidden=8, heads=2, kv_width=8):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(kv_width, hidden)
        self.value = nn.Linear(kv_width, hidden)

    def forward(self, x, context=None, bias=None):
        c = x if context is None else context
        q, k, v = (split_heads(p(t), self.heads) for p, t in ((self.query, x), (self.key, c), (self.value, c)))
        return merge_heads(attention(q, k, v, bias))


class LlamaAttention(nn.Module):  # HF LlamaAttention without rotary embedding
    def __init__(self, hidden=8, heads=4, kv_heads=2):
        super().__init__()
        self.heads, self.kv_heads = heads, kv_heads
        d = hidden // heads
        self.q_proj = nn.Linear(hidden, heads * d, bias=False)
        self.k_proj = nn.Linear(hidden, kv_heads * d, bias=False)
        self.v_proj = nn.Linear(hidden, kv_heads * d, bias=False)
        self.o_proj = nn.Linear(heads * d, hidden, bias=False)

    def forward(self, x):
        q = split_heads(self.q_proj(x), self.heads)
        rep = self.heads // self.kv_heads  # HF repeat_kv: kv head h serves query heads h*rep .. h*rep+rep-1
        k = split_heads(self.k_proj(x), self.kv_heads).repeat_interleave(rep, dim=1)
        v = split_heads(self.v_proj(x), self.kv_heads).repeat_interleave(rep, dim=1)
        return self.o_proj(merge_heads(attention(q, k, v, causal=True)))


class UniMolSelfAttention(nn.Module):  # Uni-Core SelfMultiheadAttention, eval mode
    def __init__(self, hidden=8, heads=2):
        super().__init__()
        self.heads = heads
        self.in_proj = nn.Linear(hidden, 3 * hidden)
        self.out_proj = nn.Linear(hidden, hidden)

    def forward(self, x, bias):
        q, k, v = (split_heads(t, self.heads) for t in self.in_proj(x).chunk(3, dim=-1))
        return self.out_proj(merge_heads(attention(q, k, v, bias)))


def run(case, make, inputs, forward, grads):
    torch.manual_seed(1234)
    module = make().double()
    folder = OUT / case
    (folder / "state_dict").mkdir(parents=True)
    for name, t in module.state_dict().items():
        np.save(folder / "state_dict" / f"{name}.npy", t.numpy())
    for tag, dtype in DTYPES.items():
        (folder / tag).mkdir()
        m = make().to(dtype)
        m.load_state_dict(module.state_dict())  # f32: the f64 weights rounded, as molm's copy_ rounds them
        xs = {k: v.to(dtype).clone().requires_grad_(k in grads) for k, v in inputs.items()}
        y = forward(m, xs)
        w = torch.linspace(0.5, 1.5, y.numel(), dtype=torch.float64).to(dtype).reshape(y.shape)
        (y * w).sum().backward()
        for k, v in xs.items():
            np.save(folder / tag / f"{k}.npy", v.detach().numpy())
        for k in grads:
            np.save(folder / tag / f"d{k}.npy", xs[k].grad.numpy())
        np.save(folder / tag / "y.npy", y.detach().numpy())


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    g = torch.Generator().manual_seed(20240611)

    def rnd(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1

    key_mask = torch.zeros(2, 1, 1, 4, dtype=torch.float64)
    key_mask[1, :, :, 3] = -10000.0  # the second sequence has one padding token (BERT's extended mask)
    run("linear", lambda: nn.Linear(5, 4), {"x": rnd(2, 3, 5)}, lambda m, a: m(a["x"]), ["x"])
    run("mlp", Mlp, {"x": rnd(2, 3, 8)}, lambda m, a: m(a["x"]), ["x"])
    run("bert_self", BertSelfAttention, {"x": rnd(2, 4, 8), "bias": key_mask},
        lambda m, a: m(a["x"], bias=a["bias"]), ["x"])
    run("bert_cross", lambda: BertSelfAttention(kv_width=6), {"x": rnd(2, 3, 8), "context": rnd(2, 5, 6)},
        lambda m, a: m(a["x"], context=a["context"]), ["x", "context"])
    run("llama", LlamaAttention, {"x": rnd(2, 4, 8)}, lambda m, a: m(a["x"]), ["x"])
    run("unimol", UniMolSelfAttention, {"x": rnd(2, 4, 8), "bias": rnd(2, 2, 4, 4)},
        lambda m, a: m(a["x"], a["bias"]), ["x", "bias"])


if __name__ == "__main__":
    main()
