#!/usr/bin/env python3
"""Golden data for tests/golden/attention_test.cpp: attention with an additive bias and a key padding
mask, Hugging Face Llama's rotary embedding, and Uni-Mol's Gaussian basis kernel, all from PyTorch.

Writes tests/golden/data/attention/*.npy (a few KB). Needs torch 2.1 and transformers 4.35.
Run from anywhere:  python3 tests/golden/gen_attention.py
"""
import pathlib

import numpy as np
import torch
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

OUT = pathlib.Path(__file__).resolve().parent / "data" / "attention"


def save(name, t):
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    np.save(OUT / f"{name}.npy", np.ascontiguousarray(a))


def attention():
    """softmax(q kᵀ·scale + bias + mask) v in float64, mask = -inf on padding keys; grads of a loss
    that weighs the output and the finite scores."""
    g = torch.Generator().manual_seed(1)
    B, H, Lq, Lk, D, Dv = 2, 2, 3, 5, 4, 3
    q = torch.rand(B, H, Lq, D, generator=g, dtype=torch.float64) * 2 - 1
    k = torch.rand(B, H, Lk, D, generator=g, dtype=torch.float64) * 2 - 1
    v = torch.rand(B, H, Lk, Dv, generator=g, dtype=torch.float64) * 2 - 1
    bias = torch.rand(B, 1, Lq, Lk, generator=g, dtype=torch.float64) * 2 - 1  # broadcast over heads
    pad = torch.tensor([[False, False, False, True, True], [False] * Lk])
    w_out = torch.rand(B, H, Lq, Dv, generator=g, dtype=torch.float64) + 0.5
    w_scores = torch.rand(B, H, Lq, Lk, generator=g, dtype=torch.float64) + 0.5
    for t in (q, k, v, bias):
        t.requires_grad_(True)
    mask = torch.zeros(B, 1, 1, Lk, dtype=torch.float64).masked_fill(pad[:, None, None, :], float("-inf"))
    scores = q @ k.transpose(-1, -2) * D**-0.5 + bias + mask
    out = torch.softmax(scores, dim=-1) @ v
    finite_scores = torch.where(torch.isfinite(scores), scores, torch.zeros_like(scores))
    loss = (out * w_out).sum() + (finite_scores * w_scores).sum()
    loss.backward()
    for name, t in dict(q=q, k=k, v=v, bias=bias, pad=pad, w_out=w_out, w_scores=w_scores, out=out,
                        scores=scores, dq=q.grad, dk=k.grad, dv=v.grad, dbias=bias.grad).items():
        save(f"attn_{name}", t)


def rotary():
    """transformers 4.35 LlamaRotaryEmbedding + apply_rotary_pos_emb in float32."""
    g = torch.Generator().manual_seed(2)
    B, H, T, D = 2, 2, 5, 8
    rope = LlamaRotaryEmbedding(D, max_position_embeddings=16)
    cos, sin = rope(torch.zeros(1, dtype=torch.float32), seq_len=16)  # [16, D]
    position_ids = torch.tensor([[0, 1, 2, 3, 4], [3, 4, 5, 6, 7]])
    q = (torch.rand(B, H, T, D, generator=g) * 2 - 1).requires_grad_(True)
    w = torch.rand(B, H, T, D, generator=g) + 0.5
    q_embed, _ = apply_rotary_pos_emb(q, q.detach(), cos, sin, position_ids)
    (q_embed * w).sum().backward()
    for name, t in dict(position_ids=position_ids, q=q, w=w, q_embed=q_embed, dq=q.grad).items():
        save(f"rope_{name}", t)
    # Llama-7B's head dim and context: a few rows of the 2048-position tables.
    big = LlamaRotaryEmbedding(128, max_position_embeddings=2048)
    rows = torch.tensor([0, 1, 7, 100, 511, 1000, 2047])
    save("rope128_positions", rows)
    save("rope128_cos", big.cos_cached[rows])
    save("rope128_sin", big.sin_cached[rows])


def gaussian_layer(dist, edge_type, means, stds, mul, bias):
    """Uni-Mol's GaussianLayer, re-stated from reference-model.md §2.4: x = mul[e]·d + bias[e] in
    dist's dtype; g_k = exp(-((x - mu_k)/s_k)^2 / 2) / (sqrt(2·3.14159)·s_k), s_k = |stds_k| + 1e-5,
    in float32; result in the parameters' dtype."""
    K = means.shape[-1]
    m = mul[edge_type].to(dist.dtype)  # [B,N,N,1]
    b = bias[edge_type].to(dist.dtype)
    x = (m * dist.unsqueeze(-1) + b).expand(-1, -1, -1, K).float()
    mu = means.float().view(-1)
    s = stds.float().view(-1).abs() + 1e-5
    a = (2 * 3.14159) ** 0.5
    return (torch.exp(-0.5 * (((x - mu) / s) ** 2)) / (a * s)).to(means.dtype)


def gaussian():
    g = torch.Generator().manual_seed(3)
    B, N, K, V = 2, 6, 8, 31
    E = V * V
    # Uni-Mol-like batch: [CLS] atoms [SEP] then padding; edge type tok_i·31 + tok_j, 0 on padding pairs.
    tokens = torch.tensor([[1, 4, 4, 6, 2, 0], [1, 5, 4, 7, 6, 2]])
    coords = torch.rand(B, N, 3, generator=g, dtype=torch.float64) * 3
    dist = torch.cdist(coords, coords).float()
    dist[tokens == 0] = 0
    dist.transpose(1, 2)[tokens == 0] = 0
    edge = tokens[:, :, None] * V + tokens[:, None, :]
    edge[(tokens == 0)[:, :, None] | (tokens == 0)[:, None, :]] = 0
    means = torch.rand(1, K, generator=g) * 3
    stds = torch.rand(1, K, generator=g) * 3
    stds[0, 2] = -stds[0, 2]  # |std| is what counts
    mul = torch.rand(E, 1, generator=g) + 0.5
    bias = torch.rand(E, 1, generator=g) - 0.5
    w = torch.rand(B, N, N, K, generator=g) + 0.5
    for t in (dist, means, stds, mul, bias):
        t.requires_grad_(True)
    out = gaussian_layer(dist, edge, means, stds, mul, bias)
    (out * w).sum().backward()
    for name, t in dict(dist=dist, edge=edge, means=means, stds=stds, mul=mul, bias=bias, w=w, out=out,
                        ddist=dist.grad, dmeans=means.grad, dstds=stds.grad, dmul=mul.grad, dbias=bias.grad).items():
        save(f"gbf_{name}", t)
    # bf16 parameters (stored as the float32 values they hold), float32 distances: output in bf16.
    with torch.no_grad():
        p16 = [t.detach().to(torch.bfloat16) for t in (means, stds, mul, bias)]
        out16 = gaussian_layer(dist.detach(), edge, *p16)
    save("gbf_bf16_params", torch.cat([p.float().view(-1) for p in p16]))
    save("gbf_bf16_out", out16.float())


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    attention()
    rotary()
    gaussian()
    total = sum(p.stat().st_size for p in OUT.glob("*.npy"))
    print(f"wrote {len(list(OUT.glob('*.npy')))} files, {total} bytes, to {OUT}")
