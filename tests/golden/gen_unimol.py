"""Golden data for models/unimol: the Uni-Mol encoder as 3D-MoLM runs it, built from unimol-tools'
own modules (unimol_tools 0.1.6: models/transformers.py TransformerEncoderWithPair, models/unimol.py
GaussianLayer and NonLinearHead — Uni-Mol's code) with random weights; no download.

The forward is 3D-MoLM's SimpleUniMolModel.forward (lsh0520/3D-MoLM model/unimol.py), transcribed:
padding mask (None when the batch has none), embed_tokens, gbf -> gbf_proj -> [B*H, N, N] bias,
TransformerEncoderWithPair, which returns the atom representations after its final LayerNorm.

Writes data/unimol/:
  tiny.pt                   the `tiny` model (2 layers, 32 wide, 4 heads, FFN 64, 16 kernels) saved as
                            Uni-Mol checkpoints are: torch.save({"model": state_dict, "args": Namespace})
  inputs.safetensors        tokens [3,24] i64, distances [3,24,24] f32, edge_types [3,24,24] i64:
                            3 molecules of 5, 11 and 17 atoms (+[CLS]/[SEP]), padded to 24 as D3Collater
  expected_f32.safetensors  atoms [3,24,32], padding [3,24] (u8), loss_weights [3,24,32], and
                            "grad.<name>" of every parameter and "grad_distances" for
                            loss = sum(atoms * loss_weights)
  expected_f64.safetensors  the same with the model and inputs in float64; GaussianLayer's .float()
                            casts are lifted for this run (gaussian_f64 below) so that every step
                            is double on both sides and the comparison can be tight
  cid1_f32.safetensors      atoms [1,16,32] of the `tiny` model on the real CID 1 conformer
                            (../shared/data/conformers/Conformer3D_COMPOUND_CID_1.sdf) as unimol-tools
                            featurizes it (coords2unimol, computed here from the SDF by
                            gen_unimol_features.cid1_features; the coordinates are not committed):
                            the end-to-end check SDF -> molm features -> encoder. Skipped, and the
                            committed file kept, when the SDF is absent
  paper_keys.txt            "<name> <shape>" of every parameter of the paper-size encoder, in order,
                            and its parameter count (reference-model.md §9.1, §9.5)
Run with an environment that has unimol-tools next to torch 2.1.2 (see README.md, gen_unimol_features.py).
"""
import argparse
import math
import pathlib
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from unimol_tools.models.transformers import TransformerEncoderWithPair
from unimol_tools.models.unimol import GaussianLayer, NonLinearHead

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from gen_unimol_features import SDF, cid1_features  # noqa: E402  (same directory)

OUT = pathlib.Path(__file__).resolve().parent / "data" / "unimol"
V = 31  # 30 dictionary symbols + [MASK]


class UniMolEncoder(nn.Module):
    """Uni-Mol's modules under Uni-Mol's attribute names (so the state dict has the checkpoint's keys)."""

    def __init__(self, layers, dim, heads, ffn, kernels):
        super().__init__()
        self.padding_idx = 0
        self.embed_tokens = nn.Embedding(V, dim, self.padding_idx)
        self.encoder = TransformerEncoderWithPair(
            encoder_layers=layers, embed_dim=dim, ffn_embed_dim=ffn, attention_heads=heads, emb_dropout=0.1,
            dropout=0.1, attention_dropout=0.1, activation_dropout=0.0, max_seq_len=512, activation_fn="gelu",
            no_final_head_layer_norm=True)
        self.gbf_proj = NonLinearHead(kernels, heads, "gelu")
        self.gbf = GaussianLayer(kernels, V * V)

    def forward(self, tokens, dist, edge_type):  # 3D-MoLM SimpleUniMolModel.forward
        padding_mask = tokens.eq(self.padding_idx)
        if not padding_mask.any():
            padding_mask = None
        x = self.embed_tokens(tokens)
        n = dist.size(-1)
        bias = self.gbf_proj(self.gbf(dist, edge_type)).permute(0, 3, 1, 2).contiguous().view(-1, n, n)
        out = self.encoder(x, padding_mask=padding_mask, attn_mask=bias)
        return out[0], padding_mask


def randomise(model, gen):
    """Every parameter away from its default, so no term hides behind a 0 or a 1."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("layer_norm.bias") or name == "gbf.bias.weight":
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif name == "gbf.mul.weight":
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name in ("gbf.means.weight", "gbf.stds.weight"):
                p.copy_(3 * torch.rand(p.shape, generator=gen))
            elif name == "embed_tokens.weight":
                p.copy_(torch.randn(p.shape, generator=gen))
                p[0] = 0  # the padding row
            else:
                bound = 1 / math.sqrt(p.shape[-1])
                p.copy_(bound * (2 * torch.rand(p.shape, generator=gen) - 1))


def molecules(rng):
    """Tokens, distances and edge types of 3 random molecules, collated as D3Collater does."""
    feats = []
    for atoms in (5, 11, 17):
        tok = np.concatenate([[1], rng.integers(3, 30, atoms), [2]]).astype(np.int64)  # [UNK]=3 included
        xyz = rng.normal(0, 1.6, (atoms, 3)).astype(np.float32)
        xyz = xyz - xyz.mean(0)
        xyz = np.concatenate([np.zeros((1, 3), np.float32), xyz, np.zeros((1, 3), np.float32)])
        d = np.linalg.norm(xyz[:, None, :].astype(np.float64) - xyz[None, :, :].astype(np.float64), axis=-1)
        feats.append((tok, d.astype(np.float32), tok[:, None] * V + tok[None, :]))
    n = max(len(t) for t, _, _ in feats)
    n = (n + 7) // 8 * 8
    B = len(feats)
    tokens = np.zeros((B, n), np.int64)
    dist = np.zeros((B, n, n), np.float32)
    edge = np.zeros((B, n, n), np.int64)
    for b, (t, d, e) in enumerate(feats):
        m = len(t)
        tokens[b, :m], dist[b, :m, :m], edge[b, :m, :m] = t, d, e
    return torch.from_numpy(tokens), torch.from_numpy(dist), torch.from_numpy(edge)


def gaussian_f64(self, x, edge_type):
    """GaussianLayer.forward (unimol_tools/models/unimol.py) without its float32 casts."""
    mul = self.mul(edge_type).type_as(x)
    bias = self.bias(edge_type).type_as(x)
    x = (mul * x.unsqueeze(-1) + bias).expand(-1, -1, -1, self.K)
    mean = self.means.weight.view(-1)
    std = self.stds.weight.view(-1).abs() + 1e-5
    a = (2 * 3.14159) ** 0.5
    return torch.exp(-0.5 * (((x - mean) / std) ** 2)) / (a * std)


ORIGINAL_GAUSSIAN = GaussianLayer.forward


def expected(model, tokens, dist, edge, weights, dtype):
    GaussianLayer.forward = gaussian_f64 if dtype == torch.float64 else ORIGINAL_GAUSSIAN
    model = model.to(dtype).eval()
    dist = dist.detach().clone().to(dtype).requires_grad_(True)
    model.zero_grad()
    atoms, padding = model(tokens, dist, edge)
    (atoms * weights.to(dtype)).sum().backward()
    out = {"atoms": atoms.detach().contiguous(), "padding": padding.to(torch.uint8),
           "loss_weights": weights.to(dtype).contiguous(),
           "grad_distances": dist.grad.contiguous()}
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.detach().contiguous()
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(20261130)
    rng = np.random.default_rng(7)
    model = UniMolEncoder(layers=2, dim=32, heads=4, ffn=64, kernels=16)
    randomise(model, gen)
    tokens, dist, edge = molecules(rng)
    weights = torch.randn((*tokens.shape, 32), generator=gen)

    state = {k: v.clone() for k, v in model.state_dict().items()}
    args = argparse.Namespace(encoder_layers=2, encoder_embed_dim=32, encoder_attention_heads=4)
    torch.save({"model": state, "args": args}, OUT / "tiny.pt")
    save_file({"tokens": tokens, "distances": dist, "edge_types": edge}, OUT / "inputs.safetensors")
    save_file(expected(model, tokens, dist, edge, weights, torch.float32), OUT / "expected_f32.safetensors")
    save_file(expected(model, tokens, dist, edge, weights, torch.float64), OUT / "expected_f64.safetensors")

    if SDF.exists():
        _, feats = cid1_features()
        cid1 = [torch.from_numpy(feats[k])[None] for k in ("tokens", "distance", "edge_type")]
        GaussianLayer.forward = ORIGINAL_GAUSSIAN
        model = model.float().eval()
        with torch.no_grad():
            cid1_atoms, _ = model(*cid1)
        save_file({"atoms": cid1_atoms.contiguous()}, OUT / "cid1_f32.safetensors")
    else:
        print(f"note: {SDF} absent, cid1_f32.safetensors left as it is")

    paper = UniMolEncoder(layers=15, dim=512, heads=64, ffn=2048, kernels=128)
    lines = [f"{k} {list(v.shape)}".replace(" [", " [").replace(", ", ",") for k, v in paper.state_dict().items()]
    count = sum(p.numel() for p in paper.parameters())
    (OUT / "paper_keys.txt").write_text("\n".join(lines) + f"\n# parameters {count}\n")
    print(f"wrote {OUT}; paper encoder: {len(lines)} tensors, {count} parameters")


if __name__ == "__main__":
    main()
