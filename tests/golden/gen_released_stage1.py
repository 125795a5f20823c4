"""Synthetic files in the exact layout of 3D-MoLM's released stage-1 checkpoint and Uni-Mol encoder
(reference-model.md §9.1, §9.2), at the paper's shapes, small enough to commit.

Every tensor has its real name, shape and dtype, but is a broadcast view (stride 0 on every axis but
the last) of one random row, which torch.save stores as that row only: the 178.9 M-parameter
stage-1 file is ~100 KB. Readers see ordinary tensors of the full shape.

Writes data/released/:
  stage1.ckpt   a Lightning checkpoint as 3D-MoLM's MyDeepSpeedStrategy saves it: "state_dict" with
                the `blip2qformer.` prefix, bfloat16, the decoder tied to the word embeddings (one
                storage) and `decoder.bias` the same tensor as `predictions.bias`; no optimizer state;
                "hyper_parameters" holding an argparse.Namespace (as save_hyperparameters(args) does)
                inside Lightning's AttributeDict; epoch 49, global_step, loops, callbacks
  unimol.pt     {"model": OrderedDict, "args": Namespace}: the paper Uni-Mol's 193 encoder tensors in
                float32 plus the pretraining heads the real file also holds (lm_head, pair2coord_proj,
                dist_head, final_head_layer_norm), as §9.1 lists them
Key names and shapes come from data/qformer/paper_keys.txt (gen_qformer.py, LAVIS' state_dict order)
and data/unimol/paper_keys.txt (gen_unimol.py). Run: /tmp/venv-torch/bin/python tests/golden/gen_released_stage1.py
(torch 2.1.2; deterministic: seeded).
"""
import argparse
import collections
import pathlib
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "data" / "released"
sys.path.insert(0, str(HERE))
from gen_torch_checkpoints import fake_lightning_module  # noqa: E402  (same directory)


def parse_keys(path, sep):
    keys = []
    for line in path.read_text().splitlines():
        if not line or line.startswith("#") or line.startswith("parameters"):
            continue
        name, shape = line.split()
        shape = shape.strip("[]")
        keys.append((name, [int(d) for d in shape.split(sep)] if shape else []))
    return keys


def broadcast_row(shape, gen, dtype, scale):
    """A tensor of `shape` whose every row is one random row (stride 0 on the leading axes)."""
    row = (torch.rand(shape[-1], generator=gen, dtype=torch.float64) * 2 - 1) * scale
    return row.to(dtype).expand(*shape)


def stage1_state_dict(gen):
    sd = collections.OrderedDict()
    for name, shape in parse_keys(HERE / "data" / "qformer" / "paper_keys.txt", "x"):
        if name == "Qformer.cls.predictions.decoder.weight":
            sd["blip2qformer." + name] = sd["blip2qformer.Qformer.bert.embeddings.word_embeddings.weight"]
        elif name == "Qformer.cls.predictions.decoder.bias":
            sd["blip2qformer." + name] = sd["blip2qformer.Qformer.cls.predictions.bias"]
        else:
            scale = 1.0 if "LayerNorm.weight" in name or name == "ln_graph.weight" else 0.05
            t = broadcast_row(shape, gen, torch.bfloat16, scale)
            if scale == 1.0:
                t = (t.float().abs() + 0.5).to(torch.bfloat16)  # LayerNorm gains near 1 (materialised: [dim] only)
            sd["blip2qformer." + name] = t
    return sd


def unimol_state_dict(gen):
    sd = collections.OrderedDict()
    for name, shape in parse_keys(HERE / "data" / "unimol" / "paper_keys.txt", ","):
        sd[name] = broadcast_row(shape, gen, torch.float32, 0.05)
    heads = [("encoder.final_head_layer_norm.weight", [64]), ("encoder.final_head_layer_norm.bias", [64]),
             ("lm_head.dense.weight", [512, 512]), ("lm_head.dense.bias", [512]),
             ("lm_head.layer_norm.weight", [512]), ("lm_head.layer_norm.bias", [512]),
             ("lm_head.weight", [31, 512]), ("lm_head.bias", [31]),
             ("pair2coord_proj.linear1.weight", [64, 64]), ("pair2coord_proj.linear1.bias", [64]),
             ("pair2coord_proj.linear2.weight", [1, 64]), ("pair2coord_proj.linear2.bias", [1]),
             ("dist_head.dense.weight", [64, 64]), ("dist_head.dense.bias", [64]),
             ("dist_head.layer_norm.weight", [64]), ("dist_head.layer_norm.bias", [64]),
             ("dist_head.out_proj.weight", [1, 64]), ("dist_head.out_proj.bias", [1])]
    for name, shape in heads:
        sd[name] = broadcast_row(shape, gen, torch.float32, 0.05)
    return sd


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(20231201)
    AttributeDict = fake_lightning_module()
    args = argparse.Namespace(filename="stage1", seed=0, mode="pretrain", strategy_name="deepspeed", use_3d=True,
                              gtm=True, lm=True, bert_name="scibert", temperature=0.1, num_query_token=8,
                              cross_attention_freq=2, embed_dim=256, init_lr=1e-4, min_lr=1e-5, warmup_lr=1e-6,
                              warmup_steps=1000, weight_decay=0.05, max_epochs=50, batch_size=64,
                              match_batch_size=64, text_max_len=256, precision="bf16")
    stage1 = stage1_state_dict(gen)
    ckpt = {
        "epoch": 49,
        "global_step": 190000,
        "pytorch-lightning_version": "2.0.2",
        "state_dict": stage1,
        "loops": {"fit_loop": {"epoch_progress": {"total": {"ready": 50}}}},
        "callbacks": {},
        "hyper_parameters": AttributeDict(args=args),
    }
    torch.save(ckpt, OUT / "stage1.ckpt")
    unimol = unimol_state_dict(gen)
    torch.save({"model": unimol, "args": argparse.Namespace(arch="unimol_base", encoder_layers=15)}, OUT / "unimol.pt")

    unique = sum(v.numel() for k, v in stage1.items() if ".decoder." not in k)
    assert unique == 178_864_501, unique  # reference-model.md §9.5
    for f in sorted(OUT.iterdir()):
        print(f.name, f.stat().st_size)


if __name__ == "__main__":
    main()
