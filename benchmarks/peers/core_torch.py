#!/usr/bin/env python3
"""PyTorch peer of bench_core, on MOLM_NUM_THREADS threads: torch.sum and torch.mean of 64 MiB of
float32 (16 Mi elements), in GB/s read; eager_chain, y = y * a + b 500 times on 64-element float32
vectors (1,000 ops) under torch.no_grad() and recording the graph, in thousands of ops per second;
layer_norm, softmax (+ additive key-padding mask), gelu, silu at BERT-layer shapes in float32 and
bfloat16, forward and forward + backward, in millions of input elements per second (bench_core's
header lists the shapes); bert_layer, transformers' BertLayer (post-LN, eager attention, no dropout)
768 wide at 16×72 tokens with a key-padding mask, in f32 and under torch.autocast("cpu", bfloat16),
forward and forward + backward of a weighted sum, in tokens per second.
Prints one JSON line per figure: {"bench", "shape", "dtype", "threads", "value" (median), "unit",
"peer_name"}.
"""
import json
import os

import torch
import torch.nn.functional as F
from torch import nn

from budget import median_seconds


class BertLayer(nn.Module):
    """transformers 4.35 BertLayer (BertSelfAttention eager path, BertSelfOutput, BertIntermediate,
    BertOutput), eval mode: dropout is the identity."""

    def __init__(self, width=768, heads=12, ffn=3072):
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.query, self.key, self.value = nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width)
        self.dense, self.attention_norm = nn.Linear(width, width), nn.LayerNorm(width, eps=1e-12)
        self.intermediate, self.output = nn.Linear(width, ffn), nn.Linear(ffn, width)
        self.output_norm = nn.LayerNorm(width, eps=1e-12)

    def split(self, t):
        b, n, _ = t.shape
        return t.view(b, n, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, mask):  # mask: additive [B, 1, 1, L]
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / self.head_dim ** 0.5 + mask
        ctx = torch.matmul(F.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        ctx = ctx.view(x.shape[0], x.shape[1], -1)
        h = self.attention_norm(self.dense(ctx) + x)
        return self.output_norm(self.output(F.gelu(self.intermediate(h))) + h)

N = 16 << 20


def main():
    threads = int(os.environ.get("MOLM_NUM_THREADS") or len(os.sched_getaffinity(0)))
    torch.set_num_threads(threads)
    x = torch.randn(N, generator=torch.Generator().manual_seed(11))
    gb = N * 4 / 1e9
    for bench, fn, name in (("sum", torch.sum, "torch.sum"), ("mean", torch.mean, "torch.mean")):
        t = median_seconds(lambda: fn(x).item(), min_time_s=1.0)
        print(json.dumps({"bench": bench, "shape": str(N), "dtype": "f32", "threads": threads, "value": gb / t,
                          "unit": "GB/s", "peer_name": name}), flush=True)

    g = torch.Generator().manual_seed(11)
    a, b, y0 = torch.randn(64, generator=g), torch.randn(64, generator=g), torch.randn(64, generator=g) * 0.01
    y0_grad = y0.detach().requires_grad_()

    def chain(start):
        y = start
        for _ in range(500):
            y = y * a + b
        return y[0].item()

    def chain_no_grad():
        with torch.no_grad():
            chain(y0)

    for variant, fn in (("no_grad", chain_no_grad), ("grad", lambda: chain(y0_grad))):
        t = median_seconds(fn, min_time_s=1.0)
        print(json.dumps({"bench": "eager_chain", "shape": "1000x64:" + variant, "dtype": "f32", "threads": threads,
                          "value": 1000 / t / 1e3, "unit": "kop/s", "peer_name": "torch eager"}), flush=True)

    mask = torch.zeros(16, 1, 1, 72)
    mask[0::2, :, :, 52:] = float("-inf")
    cases = (
        ("layer_norm", (1152, 768), lambda x, w, b: torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, 1e-12)),
        ("softmax", (16, 12, 72, 72), lambda x, w, b: torch.softmax(x + mask.to(x.dtype), -1)),
        ("gelu", (1152, 3072), lambda x, w, b: torch.nn.functional.gelu(x)),
        ("silu", (1152, 3072), lambda x, w, b: torch.nn.functional.silu(x)),
    )
    for name, shape, op in cases:
        for dtype, dname in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
            x, dy = torch.randn(*shape, generator=g).to(dtype), torch.randn(*shape, generator=g).to(dtype)
            w = (torch.randn(shape[-1], generator=g) * 0.1 + 1).to(dtype)
            b = (torch.randn(shape[-1], generator=g) * 0.1).to(dtype)
            xg, wg, bg = (t.detach().requires_grad_() for t in (x, w, b))

            def fwd():
                with torch.no_grad():
                    op(x, w, b)

            def fwd_bwd():
                op(xg, wg, bg).backward(dy)
                xg.grad = wg.grad = bg.grad = None

            shape_s = "x".join(str(d) for d in shape)
            for suffix, fn in (("_fwd", fwd), ("_fwd_bwd", fwd_bwd)):
                t = median_seconds(fn, min_time_s=0.5)
                print(json.dumps({"bench": name + suffix, "shape": shape_s, "dtype": dname, "threads": threads,
                                  "value": x.numel() / t / 1e6, "unit": "Melem/s", "peer_name": "torch"}), flush=True)

    layer = BertLayer().eval()
    hidden = torch.randn(16, 72, 768, generator=g)
    hidden_grad = hidden.detach().requires_grad_()
    out_weights = torch.rand(16, 72, 768, generator=g)
    padding = torch.zeros(16, 1, 1, 72)
    padding[0::2, :, :, 52:] = torch.finfo(torch.float32).min  # HF's extended attention mask
    for dname in ("f32", "bf16"):
        autocast = dname == "bf16"

        def layer_fwd():
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                layer(hidden, padding)

        def layer_fwd_bwd():
            layer.zero_grad()
            hidden_grad.grad = None
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = (layer(hidden_grad, padding).float() * out_weights).sum()
            loss.backward()

        for suffix, fn in (("_fwd", layer_fwd), ("_fwd_bwd", layer_fwd_bwd)):
            t = median_seconds(fn, min_time_s=1.0)
            print(json.dumps({"bench": "bert_layer" + suffix, "shape": "16x72x768", "dtype": dname,
                              "threads": threads, "value": 16 * 72 / t, "unit": "tokens/s", "peer_name": "torch"}),
                  flush=True)


if __name__ == "__main__":
    main()
