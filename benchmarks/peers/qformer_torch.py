#!/usr/bin/env python3
"""PyTorch peer of bench_qformer: 3D-MoLM's stage-1 training step on the `paper` Q-Former (12 layers,
768 wide, 12 heads, FFN 3072, vocabulary 31091, 8 queries, encoder width 512, embed_dim 256) — ln_graph,
passes (a)-(d), GTC, GTM on 3B pairs, LM — forward under no_grad ("fwd") and forward + loss.backward()
("fwd_bwd"), in f32 and under torch.autocast("cpu", bfloat16), eval mode (dropout off) on both sides.
Batch 16, texts of 64 tokens (real lengths cycling 64, 48, 32, 57), Uni-Mol rows given directly
(the encoder is frozen and not part of the step): N = 40 rows (real rows cycling 36, 40, 31, 33, 38,
35, 29, 37: molecules 1 and 9 unpadded, the rest padded, so the reference's inverted cross-attention
mask takes both of its non-trivial forms). Hard negatives fixed on both sides: text b's negative
molecule is b+1 mod B, molecule b's negative text b+2 mod B. Same threads (MOLM_NUM_THREADS).

The model is tests/golden/qformer_reference.py, the transcription of LAVIS' Q-Former and 3D-MoLM's
Blip2Qformer.forward that tests/golden/gen_qformer.py's golden data come from, imported from there
(it writes out what the original takes from transformers, so the peer needs PyPI torch only).
Weights: its `randomise` recipe (every term away from 0 and 1) with f32 draws, seeded.

Writes the weights and inputs both sides use to MOLM_BENCH_QFORMER_DIR (default
/tmp/molm-bench-qformer)/step.safetensors (about 0.7 GB; rewritten every run, by a plain writer, no
safetensors package): the stage-1 names of reference-model.md §9.2 (tied aliases stored once) and
input.* tensors. bench_qformer loads it, checks its f32 loss against this script's and times the same
step.

MOLM_BENCH_REPS (default 3) timed steps per figure after MOLM_BENCH_WARMUP (default 1) untimed ones,
as bench_qformer. Prints {"bench", "shape", "dtype", "threads", "value" (steps/s), "unit", "peer_name",
"seconds" (median), and on fwd lines "loss", "loss_gtc", "loss_gtm", "loss_lm"} lines.
"""
import ctypes
import json
import os
import pathlib
import sys

import torch

from budget import median_seconds

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "golden"))
from qformer_reference import Config, Stage1, randomise, stage1_forward  # noqa: E402  (torch only)

PAPER = dict(vocab_size=31091, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
             intermediate_size=3072, max_position_embeddings=512, layer_norm_eps=1e-12, pad_token_id=0,
             encoder_width=512, query_length=8, cross_attention_freq=2, embed_dim=256, temperature=0.1,
             dec_token_id=31090, add_cross_attention=True, hidden_dropout_prob=0.1,
             attention_probs_dropout_prob=0.1, initializer_range=0.02, hidden_act="gelu")
B, T, N = 16, 64, 40
TEXT_LENGTHS = (64, 48, 32, 57)
MOLECULE_ROWS = (36, 40, 31, 33, 38, 35, 29, 37)  # real rows ([CLS] + atoms + [SEP]) of N = 40
CLS, SEP, FIRST_WORD = 102, 103, 105  # SciBERT's [CLS], [SEP], first ordinary token
SHAPE = f"paper:{B}x{T}x{N}"


# ---------------------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------------------
def make_inputs(gen, cfg):
    W = cfg.encoder_width
    graph = torch.randn((B, N, W), generator=gen)
    pad = torch.zeros((B, N), dtype=torch.uint8)
    for b in range(B):
        n = MOLECULE_ROWS[b % len(MOLECULE_ROWS)]
        if n < N:  # Uni-Mol's padding rows: one repeated row
            graph[b, n:] = torch.randn((W,), generator=gen)
            pad[b, n:] = 1
    ids = torch.zeros((B, T), dtype=torch.int64)
    mask = torch.zeros((B, T), dtype=torch.int64)
    for b in range(B):
        n = TEXT_LENGTHS[b % len(TEXT_LENGTHS)]
        ids[b, 0], ids[b, n - 1] = CLS, SEP
        ids[b, 1:n - 1] = torch.randint(FIRST_WORD, cfg.dec_token_id, (n - 2,), generator=gen)
        mask[b, :n] = 1
    return {"input.graph": graph, "input.graph_padding": pad, "input.text_ids": ids, "input.text_mask": mask,
            "input.neg_graph_idx": (torch.arange(B) + 1) % B, "input.neg_text_idx": (torch.arange(B) + 2) % B}


SAFETENSORS_DTYPES = {torch.float32: "F32", torch.int64: "I64", torch.uint8: "U8"}


def save_safetensors(path, tensors):
    """A plain safetensors writer (torch only): 8-byte header length, JSON header padded to 8 bytes, data
    ordered by element size so every tensor is aligned when mapped; written to a temporary name, then renamed."""
    order = sorted(tensors, key=lambda k: -tensors[k].element_size())
    header, offset = {}, 0
    for k in order:
        t = tensors[k]
        n = t.numel() * t.element_size()
        header[k] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for k in order:
            t = tensors[k].contiguous()
            f.write(ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()))
    os.replace(tmp, path)


def main():
    threads = int(os.environ.get("MOLM_NUM_THREADS") or len(os.sched_getaffinity(0)))
    torch.set_num_threads(threads)
    reps = int(os.environ.get("MOLM_BENCH_REPS") or 3)
    warmup = int(os.environ.get("MOLM_BENCH_WARMUP") or 1)
    cfg = Config(**PAPER)
    gen = torch.Generator().manual_seed(2026)
    model = Stage1(cfg, cfg.encoder_width, cfg.embed_dim, cfg.temperature, cfg.dec_token_id).eval()
    randomise(model, gen, torch.float32)
    inputs = make_inputs(gen, cfg)

    directory = os.environ.get("MOLM_BENCH_QFORMER_DIR", "/tmp/molm-bench-qformer")
    os.makedirs(directory, exist_ok=True)
    aliases = ("Qformer.cls.predictions.decoder.weight", "Qformer.cls.predictions.decoder.bias")
    weights = {k: v for k, v in model.state_dict().items() if not k.endswith("position_ids") and k not in aliases}
    save_safetensors(os.path.join(directory, "step.safetensors"), {**weights, **inputs})

    pad = inputs["input.graph_padding"].bool()
    batch = (inputs["input.graph"], pad if pad.any() else None, inputs["input.text_ids"], inputs["input.text_mask"],
             inputs["input.neg_graph_idx"], inputs["input.neg_text_idx"])
    for dname in ("f32", "bf16"):
        autocast = dname == "bf16"

        def forward():
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                return stage1_forward(model, *batch)

        def forward_backward():
            model.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = stage1_forward(model, *batch)["loss"]
            loss.backward()

        r = forward()
        losses = {k: float(r[k]) for k in ("loss_gtc", "loss_gtm", "loss_lm", "loss")}
        for mode, fn in (("fwd", forward), ("fwd_bwd", forward_backward)):
            t = median_seconds(fn, warmup=warmup, min_reps=reps, min_time_s=0, max_reps=reps)
            line = {"bench": f"qformer_stage1_{mode}", "shape": SHAPE, "dtype": dname, "threads": threads,
                    "value": 1 / t, "unit": "steps/s", "peer_name": "torch", "seconds": t}
            if mode == "fwd":
                line.update(losses)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
