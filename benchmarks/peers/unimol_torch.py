#!/usr/bin/env python3
"""PyTorch peer of bench_unimol: the Uni-Mol encoder at the paper shape with random weights, run as
3D-MoLM runs it — Uni-Core's TransformerEncoderWithPair (bmm attention whose pre-softmax logits
become the next layer's bias), GaussianLayer and NonLinearHead — on the same batches (16 × 34 and
64 × 64 atoms, padded to a multiple of 8), forward under no_grad and forward+backward of a weighted
sum, in f32 and under torch.autocast("cpu", bfloat16). Same threads (MOLM_NUM_THREADS).

The modules come from unimol-tools when it is importable (the code the golden test runs); otherwise
from the transcription below, which is the same code (unimol_tools/models/transformers.py and
unimol.py, 0.1.6) reduced to the eval-mode path.
Prints {"bench", "shape", "dtype", "threads", "value" (molecules/s), "unit", "peer_name"} lines.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

from budget import median_seconds

try:
    from unimol_tools.models.transformers import TransformerEncoderWithPair
    from unimol_tools.models.unimol import GaussianLayer, NonLinearHead
except ImportError:  # the same modules, transcribed (eval mode: dropout is the identity)
    class SelfMultiheadAttention(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads, self.head_dim = heads, dim // heads
            self.scaling = self.head_dim ** -0.5
            self.in_proj = nn.Linear(dim, 3 * dim)
            self.out_proj = nn.Linear(dim, dim)

        def forward(self, x, attn_bias):
            b, n, c = x.shape
            q, k, v = self.in_proj(x).chunk(3, dim=-1)
            split = lambda t: t.view(b, n, self.heads, self.head_dim).transpose(1, 2).contiguous().view(
                b * self.heads, n, self.head_dim)
            q, k, v = split(q) * self.scaling, split(k), split(v)
            w = torch.bmm(q, k.transpose(1, 2))
            w += attn_bias
            o = torch.bmm(F.softmax(w, dim=-1), v)
            o = o.view(b, self.heads, n, self.head_dim).transpose(1, 2).contiguous().view(b, n, c)
            return self.out_proj(o), w

    class Layer(nn.Module):
        def __init__(self, dim, ffn, heads):
            super().__init__()
            self.self_attn = SelfMultiheadAttention(dim, heads)
            self.self_attn_layer_norm = nn.LayerNorm(dim)
            self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
            self.final_layer_norm = nn.LayerNorm(dim)

        def forward(self, x, bias):
            a, w = self.self_attn(self.self_attn_layer_norm(x), bias)
            x = x + a
            return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x)))), w

    class TransformerEncoderWithPair(nn.Module):
        def __init__(self, encoder_layers, embed_dim, ffn_embed_dim, attention_heads, **_):
            super().__init__()
            self.emb_layer_norm = nn.LayerNorm(embed_dim)
            self.final_layer_norm = nn.LayerNorm(embed_dim)
            self.layers = nn.ModuleList([Layer(embed_dim, ffn_embed_dim, attention_heads) for _ in range(encoder_layers)])

        def forward(self, emb, attn_mask, padding_mask):
            n = emb.size(1)
            x = self.emb_layer_norm(emb)
            x = x * (1 - padding_mask.unsqueeze(-1).type_as(x))
            bias = attn_mask.view(x.size(0), -1, n, n).masked_fill_(padding_mask[:, None, None, :], float("-inf"))
            bias = bias.view(-1, n, n)
            for layer in self.layers:
                x, bias = layer(x, bias)
            return (self.final_layer_norm(x),)

    class NonLinearHead(nn.Module):
        def __init__(self, input_dim, out_dim, activation_fn):
            super().__init__()
            self.linear1, self.linear2 = nn.Linear(input_dim, input_dim), nn.Linear(input_dim, out_dim)

        def forward(self, x):
            return self.linear2(F.gelu(self.linear1(x)))

    class GaussianLayer(nn.Module):
        def __init__(self, K, edge_types):
            super().__init__()
            self.K = K
            self.means, self.stds = nn.Embedding(1, K), nn.Embedding(1, K)
            self.mul, self.bias = nn.Embedding(edge_types, 1), nn.Embedding(edge_types, 1)
            nn.init.uniform_(self.means.weight, 0, 3)
            nn.init.uniform_(self.stds.weight, 0, 3)
            nn.init.constant_(self.bias.weight, 0)
            nn.init.constant_(self.mul.weight, 1)

        def forward(self, x, edge_type):
            x = self.mul(edge_type).type_as(x) * x.unsqueeze(-1) + self.bias(edge_type).type_as(x)
            x = x.expand(-1, -1, -1, self.K).float()
            mean, std = self.means.weight.float().view(-1), self.stds.weight.float().view(-1).abs() + 1e-5
            a = (2 * 3.14159) ** 0.5
            return (torch.exp(-0.5 * (((x - mean) / std) ** 2)) / (a * std)).type_as(self.means.weight)

V, DIM, HEADS, FFN, K, LAYERS = 31, 512, 64, 2048, 128, 15


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(V, DIM, 0)
        self.encoder = TransformerEncoderWithPair(encoder_layers=LAYERS, embed_dim=DIM, ffn_embed_dim=FFN,
                                                  attention_heads=HEADS, emb_dropout=0.1, dropout=0.1,
                                                  attention_dropout=0.1, activation_dropout=0.0, max_seq_len=512,
                                                  activation_fn="gelu", no_final_head_layer_norm=True)
        self.gbf_proj = NonLinearHead(K, HEADS, "gelu")
        self.gbf = GaussianLayer(K, V * V)

    def forward(self, tokens, dist, edge_type):  # 3D-MoLM SimpleUniMolModel.forward
        padding_mask = tokens.eq(0)
        x = self.embed_tokens(tokens)
        n = dist.size(-1)
        bias = self.gbf_proj(self.gbf(dist, edge_type)).permute(0, 3, 1, 2).contiguous().view(-1, n, n)
        return self.encoder(x, padding_mask=padding_mask, attn_mask=bias)[0]


def batch(molecules, atoms, gen):
    n = atoms + 2
    N = (n + 7) // 8 * 8
    tokens = torch.zeros((molecules, N), dtype=torch.long)
    kinds = torch.randint(4, 12, (molecules, n), generator=gen)
    kinds[:, 0], kinds[:, -1] = 1, 2
    tokens[:, :n] = kinds
    xyz = torch.rand((molecules, n, 3), generator=gen, dtype=torch.float64) * 8 - 4
    dist = torch.zeros((molecules, N, N))
    dist[:, :n, :n] = torch.cdist(xyz, xyz).float()
    edge = torch.zeros((molecules, N, N), dtype=torch.long)
    edge[:, :n, :n] = kinds[:, :, None] * V + kinds[:, None, :]
    return tokens, dist, edge




def main():
    # --only TEXT: only the figures whose "bench shape dtype" contains TEXT (as bench_unimol --only)
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv[:-1] else ""
    threads = int(os.environ.get("MOLM_NUM_THREADS") or len(os.sched_getaffinity(0)))
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(2026)
    model = Encoder().eval()
    for molecules, atoms in ((16, 34), (64, 64)):
        tokens, dist, edge = batch(molecules, atoms, gen)
        weights = torch.rand((molecules, tokens.shape[1], DIM), generator=gen)
        for dname in ("f32", "bf16"):
            autocast = dname == "bf16"

            def forward():
                with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                    model(tokens, dist, edge)

            def forward_backward():
                model.zero_grad()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                    loss = (model(tokens, dist, edge).float() * weights).sum()
                loss.backward()

            for name, fn in (("unimol_forward", forward), ("unimol_forward_backward", forward_backward)):
                if only not in f"{name[len('unimol_'):]} paper:{molecules}x{atoms} {dname}":
                    continue
                t = median_seconds(fn, warmup=1, min_reps=3, min_time_s=3.0)  # bench_unimol's budget
                print(json.dumps({"bench": name, "shape": f"paper:{molecules}x{atoms}", "dtype": dname,
                                  "threads": threads, "value": molecules / t, "unit": "molecules/s",
                                  "peer_name": "torch"}), flush=True)


if __name__ == "__main__":
    main()
