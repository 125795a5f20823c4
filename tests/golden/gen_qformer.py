#!/usr/bin/env python3
"""Golden data for the Q-Former and the stage-1 losses (reference-model.md §3, §4.1-4.4, §9.2, §9.5): the
LAVIS Q-Former and 3D-MoLM's Blip2Qformer.forward as transcribed in qformer_reference.py (same directory, shared
with benchmarks/peers/qformer_torch.py; its docstring names the sources, LAVIS Qformer.py c6bec01 and 3D-MoLM
blip2qformer.py 9dbd993, and what it writes out instead of transformers). No lavis install; transformers 4.35.2
only for BertModel / BertTokenizer in the MiniLM check.

Also from lsh0520/3D-MoLM (9dbd993742a05d458da0aa472a22d7da2bf1a56c), here: model/blip2qformer.py
Blip2Qformer.__init__'s `_query` copy (minilm_stage1), model/dist_funs.py pl_concat_all_gather (the
gathered features carry no gradient, the local rank's own rows included: the two simulated ranks),
model/blip2_stage1.py on_save_checkpoint (buffers and frozen parameters dropped from the saved keys).

Quirks kept (reference-model.md §3.4, §11 items 1, 18):
  - the cross-attention mask is the Uni-Mol padding mask, TRUE AT PADDING, put through transformers'
    invert_attention_mask: (1 - m) * finfo(dtype).min, so a molecule with padding attends only to its
    (identical) padding rows, a molecule without padding in a padded batch gets finfo.min everywhere (uniform
    softmax; its backward still sends the uniform-softmax gradient to the scores), and a batch without any
    padding has no mask (None -> all ones -> 0 added) and attends to every row;
  - the self-attention masks use (1 - m) * -10000 (LAVIS' get_extended_attention_mask), not finfo.min;
  - the query rows go through the embedding LayerNorm; the generation pass (d) reuses pass (a)'s cached
    query keys/values with their gradient (positions restart at 0, causal text with the 8 query keys as prefix);
  - word_embeddings has padding_idx = 0 (its lookup sends no gradient to row 0), the tied decoder does;
  - GTM negatives: fixed indices (`neg_graph_idx` per text, `neg_text_idx` per molecule) replace
    torch.multinomial; every off-diagonal index has nonzero sampling weight in the reference;
  - batch B has no padding at all: the reference crashes there in GTM (it indexes the absent mask); this
    script takes the natural extension, no mask anywhere in pass (c) (every query row attends to every row).
  - world size 1: contrast_global with rank 0 and the gathered features = the local ones detached (in the
    reference dist is initialised even on one GPU, contrast_global calls dist.get_rank(), and all_gather
    returns fresh tensors without gradient).

Writes tests/golden/data/qformer/ (model inputs/outputs in eval mode, no dropout):
  tiny_config.json          the random `tiny` model's sizes (4 layers, 32 wide, 4 heads, FFN 64, vocab 61 with
                            [DEC] = 60, 32 positions, encoder width 16, 4 queries, embed_dim 16)
  tiny.safetensors          its parameters (f32) under the stage-1 names of §9.2 without `blip2qformer.`,
                            including the tied aliases Qformer.cls.predictions.decoder.weight (= word
                            embeddings) and .decoder.bias (= cls.predictions.bias) as copies
  tiny_keys.txt             "<name> <shape as AxB>" of the stage-1 checkpoint keys in state-dict order
                            (state_dict() less the position_ids buffer, as on_save_checkpoint drops it)
  batches.safetensors       per batch X in {A, B, C}: X.graph [B,N,16] f32 (Uni-Mol output before ln_graph;
                            padding rows one repeated random row), X.graph_padding [B,N] u8 (1 = padding),
                            X.text_ids, X.text_mask [B,T] i64, X.neg_graph_idx, X.neg_text_idx [B] i64.
                            A: B 4, N 16, every molecule padded (9, 12, 6, 15 real), texts 12/7/9/5 of T 12;
                            B: B 3, N 8, no padding anywhere, texts of full length T 10;
                            C: B 3, N 16, real 10/16/7 (molecule 1 unpadded), texts 10/12/6 of T 12
  expected_f32.safetensors  model and inputs in f32 (cross mask constant finfo(f32).min), per batch X:
                            X.query_output [B,Nq,H] (pass a), X.text_output [B,T,H] (pass b),
                            X.graph_feats [B,Nq,E], X.text_feats [B,E] (normalised), X.sim_g2t, X.sim_t2g
                            [B,B] (logits, /temperature), X.match_output [3B,Nq+T,H] (pass c; texts
                            [text, text, text_neg], molecules [mol, mol_neg, mol]), X.gtm_logits [3B,2],
                            X.lm_logits [B,T,V] (pass d, before the shift), X.loss_gtc, X.loss_gtm,
                            X.loss_lm, X.loss (0-d), X.grad.<name> (d X.loss / d parameter for every
                            parameter, tied aliases excluded: the word embeddings' gradient includes the
                            decoder's). Two simulated ranks on batch A (rank r = molecules/texts 2r, 2r+1):
                            A.rank{r}.loss_gtc (contrast_global, labels r*2 + b, both ranks' gathered
                            features detached) and A.rank{r}.grad.<name> (zeros where no gradient arrives)
  expected_f64.safetensors  the same with model (the f32 values cast up) and inputs in f64 (finfo(f64).min)
  minilm_text.safetensors   text_ids, text_mask [3,T] i64 (BertTokenizer on MiniLM's vocab.txt, 3 sentences
                            padded to the longest), last_hidden_state [3,T,384] f32 of transformers' BertModel
                            from ../shared/data/models/minilm-l6 (token-type table zeroed: the Q-Former has
                            none) and qformer_text_output, pass (b) of the MiniLM Q-Former below (asserted
                            equal within 1e-5)
  minilm_new.json           how the MiniLM-initialised stage-1 model below gets every tensor not copied from
                            MiniLM (none is stored): "tensors" = {name, shape, amplitude} of the formula tensors,
                            "constants" = {name, shape, value} of the constant ones. Formula (exact integer
                            arithmetic, the C++ side computes the same): h = FNV-1a 64 of the UTF-8 name (offset
                            0xcbf29ce484222325, prime 0x100000001b3); element i (row-major) z = h + (i + 1) *
                            0x9E3779B97F4A7C15, then splitmix64's finaliser (z ^= z >> 30, z *= 0xBF58476D1CE4E5B9,
                            z ^= z >> 27, z *= 0x94D049BB133111EB, z ^= z >> 31; all mod 2^64), u = (z >> 11) *
                            2^-53, value = f32(amplitude * (2u - 1)) with the product in f64. Amplitudes: 0.02 *
                            sqrt(3) (uniform with §3.3's N(0, 0.02) standard deviation) for the cross-attention
                            query/key/value/output.dense weights, dec_row [1,384] (the [DEC] word-embedding row
                            30522), query_tokens and cls.predictions.transform.dense.weight; 1/sqrt(384) (PyTorch's
                            nn.Linear default bound) for graph_proj, text_proj, gtm_head weights and biases.
                            Constants as §3.3: their other biases 0, LayerNorm weights 1 / biases 0,
                            cls.predictions.bias 0 (all 30523, [DEC] included), ln_graph (1, 0).
                            FORMULA_CHECKS pins two values
  minilm_stage1.safetensors a stage-1 model initialised from MiniLM as §3.3 maps SciBERT (6 layers, 384, 12
                            heads, FFN 1536, vocab 30522 + [DEC] (id 30522), cross-attention in layers 0/2/4 from
                            width 32, 8 queries, embed_dim 256; MiniLM's tensors read from ../shared/data, never
                            copied here, the rest from minilm_new.json): the batch M.* (B 3, N 16, W 32, T 12 real
                            MiniLM ids) and in f32 M.query_output, M.text_output, M.gtm_logits, M.loss_gtc,
                            M.loss_gtm, M.loss_lm, M.loss, M.gradsum.<name> = [sum, sum of squares, sum |g|] (f64
                            of the f32 gradient) and M.gradhead.<name> = its first min(64, numel) values (f32)
  paper_keys.txt            the paper-size stage-1 keys (12 layers, 768, 12 heads, 3072, vocab 31091, 512
                            positions, width 512, 8 queries, embed_dim 256) as tiny_keys.txt, then
                            "parameters 178864501" (unique trainable values, checked against §9.5)

Run (deterministic; one CPU thread; needs ../shared/data/models/minilm-l6):
    /tmp/venv-torch/bin/python tests/golden/gen_qformer.py
with torch 2.1.2, numpy, transformers 4.35.2, safetensors (README.md).
"""
import copy
import json
import math
import os
import pathlib
import struct
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import BertTokenizer  # noqa: E402
from transformers import BertModel as HFBertModel  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from qformer_reference import (Stage1, contrast_global, local_features, qformer_config,  # noqa: E402
                               randomise, stage1_forward)  # (same directory)

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "data" / "qformer"
MINILM = HERE.parents[2] / "shared" / "data" / "models" / "minilm-l6"

TINY = {"num_hidden_layers": 4, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
        "vocab_size": 61, "max_position_embeddings": 32, "layer_norm_eps": 1e-12, "encoder_width": 16,
        "num_query_tokens": 4, "cross_attention_freq": 2, "embed_dim": 16, "ln_graph_eps": 1e-5,
        "pad_token_id": 0, "dec_token_id": 60, "temperature": 0.1, "lm_label_smoothing": 0.1}
PAPER_COUNT = 178_864_501  # reference-model.md §9.5


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------
def shape_str(t):
    return "x".join(str(d) for d in t.shape) if t.dim() else "scalar"


def checkpoint_keys(model):
    """state_dict() keys kept by Blip2Stage1.on_save_checkpoint: those naming a trainable parameter."""
    lines = []
    for k, v in model.state_dict().items():
        try:
            if not model.get_parameter(k).requires_grad:
                continue
        except AttributeError:  # buffers (Qformer.bert.embeddings.position_ids)
            continue
        lines.append(f"{k} {shape_str(v)}")
    return lines


def params(model):
    """name -> Parameter, tied aliases (cls.predictions.decoder.*) excluded (named_parameters de-duplicates)."""
    return dict(model.named_parameters())


def grads(model, loss, prefix):
    names, ps = zip(*params(model).items())
    gs = torch.autograd.grad(loss, ps, allow_unused=True)
    return {f"{prefix}.{n}": (torch.zeros_like(p) if g is None else g).detach().clone().contiguous()
            for n, p, g in zip(names, ps, gs)}


def text_batch(gen, lengths, T):
    ids = torch.zeros((len(lengths), T), dtype=torch.int64)
    mask = torch.zeros((len(lengths), T), dtype=torch.int64)
    for b, n in enumerate(lengths):
        ids[b, 0], ids[b, n - 1] = 1, 2  # [CLS] ... [SEP]
        ids[b, 1:n - 1] = torch.randint(3, 60, (n - 2,), generator=gen)
        mask[b, :n] = 1
    return ids, mask


def graph_batch(gen, real, N, W):
    """Uni-Mol-like output: random rows, the padding rows of a molecule all equal (one random row repeated)."""
    g = torch.randn((len(real), N, W), generator=gen)
    pad = torch.zeros((len(real), N), dtype=torch.uint8)
    for b, n in enumerate(real):
        if n < N:
            g[b, n:] = torch.randn((W,), generator=gen)
            pad[b, n:] = 1
    return g, pad


def make_batches(gen):
    spec = {"A": ([9, 12, 6, 15], 16, [12, 7, 9, 5], 12),
            "B": ([8, 8, 8], 8, [10, 10, 10], 10),
            "C": ([10, 16, 7], 16, [10, 12, 6], 12)}
    out = {}
    for x, (real, N, lengths, T) in spec.items():
        g, pad = graph_batch(gen, real, N, TINY["encoder_width"])
        ids, mask = text_batch(gen, lengths, T)
        B = len(real)
        out.update({f"{x}.graph": g, f"{x}.graph_padding": pad, f"{x}.text_ids": ids, f"{x}.text_mask": mask,
                    f"{x}.neg_graph_idx": (torch.arange(B) + 1) % B, f"{x}.neg_text_idx": (torch.arange(B) + 2) % B})
    return out


def unpack(batches, x, dtype):
    pad = batches[f"{x}.graph_padding"].bool()
    mask = pad if pad.any() else None  # SimpleUniMolModel: padding_mask None when the batch has none
    return (batches[f"{x}.graph"].to(dtype), mask, batches[f"{x}.text_ids"], batches[f"{x}.text_mask"],
            batches[f"{x}.neg_graph_idx"], batches[f"{x}.neg_text_idx"])


def expected(model32, batches, dtype):
    model = copy.deepcopy(model32).to(dtype).eval()
    assert model.Qformer.cls.predictions.decoder.weight is model.Qformer.bert.embeddings.word_embeddings.weight
    assert model.Qformer.cls.predictions.decoder.bias is model.Qformer.cls.predictions.bias
    out = {}
    for x in ("A", "B", "C"):
        r = stage1_forward(model, *unpack(batches, x, dtype))
        out.update(grads(model, r["loss"], f"{x}.grad"))
        out.update({f"{x}.{k}": v.detach().clone().contiguous() for k, v in r.items()})
    # two simulated ranks on batch A
    graph, mask, ids, tmask, _, _ = unpack(batches, "A", dtype)
    halves = [slice(0, 2), slice(2, 4)]
    feats = [local_features(model, graph[s], mask[s], ids[s], tmask[s]) for s in halves]
    graph_all = torch.cat([f["graph_feats"] for f in feats], dim=0).detach()  # all_gather: no gradient
    text_all = torch.cat([f["text_feats"] for f in feats], dim=0).detach()
    for r, f in enumerate(feats):
        _, _, loss = contrast_global(model, f["graph_feats"], f["text_feats"], graph_all, text_all, r)
        out[f"A.rank{r}.loss_gtc"] = loss.detach().clone()
        out.update(grads(model, loss, f"A.rank{r}.grad"))
    return out


# ---------------------------------------------------------------------------------------------------------
# MiniLM
# ---------------------------------------------------------------------------------------------------------
MINILM_SENTENCES = ["The molecule is a monocarboxylic acid.",
                    "Benzene is an aromatic hydrocarbon with a planar ring of six carbon atoms.",
                    "It is a conjugate base of ethanol."]
MINILM_M_SENTENCES = ["The molecule is an alcohol.",
                      "Its ring opens in water and the salt that forms tastes bitter to most people who try it.",
                      "A sulfonamide antibiotic."]


# The MiniLM-initialised model's new tensors are not stored: Python and C++ compute them from their name with
# exact integer arithmetic (splitmix64 over FNV-1a 64), listed in minilm_new.json.
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
GOLDEN_GAMMA, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
MASK64 = (1 << 64) - 1
NORMAL_AMPLITUDE = 0.02 * math.sqrt(3)  # uniform with N(0, 0.02)'s standard deviation (§3.3 initializer_range)


def fnv1a64(name):
    h = FNV_OFFSET
    for byte in name.encode("utf-8"):
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def formula_value(name, i, amplitude):
    """Reference scalar form: element i (row-major) of tensor `name`, as a Python float holding the f32 value."""
    z = (fnv1a64(name) + (i + 1) * GOLDEN_GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    z = z ^ (z >> 31)
    u = (z >> 11) * 2.0 ** -53
    return float(np.float32(amplitude * (2.0 * u - 1.0)))


def formula_tensor(name, shape, amplitude):
    """formula_value over every element (numpy uint64 arithmetic wraps mod 2^64), as an f32 tensor."""
    n = math.prod(shape)
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(name)) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GOLDEN_GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # < 2^53: exact
    v = (amplitude * (2.0 * u - 1.0)).astype(np.float32)
    for i in (0, n // 2, n - 1):
        assert float(v[i]) == formula_value(name, i, amplitude), (name, i)
    return torch.from_numpy(v.reshape(shape).copy())


def f32_hex(x):
    return f"0x{struct.unpack('<I', struct.pack('<f', x))[0]:08x}"


# two values printed once and fixed here: a change of the formula (or of its constants) fails this check
FORMULA_CHECKS = [  # (name, flat index, amplitude, f32 bits): 0.009135857224464417, -0.010467493906617165
    ("Qformer.bert.encoder.layer.0.crossattention.self.query.weight", 0, NORMAL_AMPLITUDE, "0x3c15ae90"),
    ("gtm_head.bias", 1, 1 / math.sqrt(384), "0xbc2b7fda")]


def check_formula():
    for name, i, a, bits in FORMULA_CHECKS:
        got = f32_hex(formula_value(name, i, a))
        assert got == bits, f"formula_value({name}, {i}) = {got}, expected {bits}"


def minilm_stage1():
    """A stage-1 model initialised from MiniLM as §3.3 maps SciBERT; returns (model, minilm_new.json's content).
    Every tensor not read from MiniLM is a formula tensor or a constant (no random draw)."""
    hf = json.loads((MINILM / "config.json").read_text())
    V = hf["vocab_size"] + 1  # [DEC] = 30522
    cfg = qformer_config(V, hf["hidden_size"], hf["num_hidden_layers"], hf["num_attention_heads"],
                         hf["intermediate_size"], hf["max_position_embeddings"], 32, 8)
    model = Stage1(cfg, 32, 256, temperature=0.1, dec_token_id=V - 1)
    sd = model.state_dict()
    src = load_file(str(MINILM / "model.safetensors"))
    copied = set()
    with torch.no_grad():
        for k, v in src.items():
            if k.startswith(("pooler.", "embeddings.token_type_embeddings")) or k == "embeddings.position_ids":
                continue  # dropped: the Q-Former has no token-type table nor pooler
            name = "Qformer.bert." + k
            if k == "embeddings.word_embeddings.weight":
                sd[name][: v.shape[0]].copy_(v)
            else:
                assert sd[name].shape == v.shape, name
                sd[name].copy_(v)
            copied.add(name)
        # Blip2Qformer.__init__: every parameter whose name contains `_query` gets the value without `_query`
        state_dict = model.Qformer.state_dict()
        for name, param in model.Qformer.named_parameters():
            if "_query" in name:
                param.data.copy_(state_dict[name.replace("_query", "")])
                copied.add("Qformer." + name)

        H = cfg.hidden_size
        linear_amplitude = 1 / math.sqrt(H)  # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        tensors, constants = [], []

        def formula(name, p, a):
            p.copy_(formula_tensor(name, tuple(p.shape), a))
            tensors.append({"name": name, "shape": list(p.shape), "amplitude": a})

        def constant(p, name, value):
            p.fill_(value)
            constants.append({"name": name, "shape": list(p.shape), "value": value})

        for name, p in params(model).items():
            if name == "Qformer.bert.embeddings.word_embeddings.weight":
                assert p.shape[0] == V and p.shape[1] == H
                formula("dec_row", p[V - 1:], NORMAL_AMPLITUDE)  # the [DEC] row; MiniLM's rows copied above
                continue
            if name in copied:
                continue
            if ".crossattention." in name or name.startswith("Qformer.cls.predictions.transform."):
                if name.endswith("LayerNorm.weight"):
                    constant(p, name, 1)
                elif name.endswith("bias"):
                    constant(p, name, 0)
                else:
                    formula(name, p, NORMAL_AMPLITUDE)
            elif name == "Qformer.cls.predictions.bias":
                constant(p, name, 0)  # MiniLM has no MLM head; [DEC]'s entry included
            elif name == "query_tokens":
                formula(name, p, NORMAL_AMPLITUDE)
            elif name.startswith("ln_graph."):
                constant(p, name, 1 if name.endswith("weight") else 0)
            elif name.startswith(("graph_proj.", "text_proj.", "gtm_head.")):
                assert p.shape[-1] == H or name.endswith("bias")
                formula(name, p, linear_amplitude)
            else:
                raise AssertionError(f"unexpected parameter {name}")
    assert model.Qformer.cls.predictions.decoder.weight is model.Qformer.bert.embeddings.word_embeddings.weight
    spec = {"formula": "splitmix64 over FNV-1a 64 of the name; see gen_qformer.py", "tensors": tensors,
            "constants": constants}
    return model.eval(), spec


def write_new_json(spec, path):
    """minilm_new.json, one tensor per line."""
    def block(key):
        return "[\n" + ",\n".join("  " + json.dumps(e) for e in spec[key]) + "\n]"
    path.write_text("{\"formula\": " + json.dumps(spec["formula"]) + ",\n\"tensors\": " + block("tensors")
                    + ",\n\"constants\": " + block("constants") + "}\n")
    assert json.loads(path.read_text()) == spec


def minilm_files(tiny_gen):
    check_formula()
    tok = BertTokenizer.from_pretrained(str(MINILM))
    model, spec = minilm_stage1()
    write_new_json(spec, OUT / "minilm_new.json")

    # 1. text pass vs transformers' BertModel (token-type row zeroed)
    enc = tok(MINILM_SENTENCES, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"].to(torch.int64), enc["attention_mask"].to(torch.int64)
    bert = HFBertModel.from_pretrained(str(MINILM)).eval()
    with torch.no_grad():
        bert.embeddings.token_type_embeddings.weight.zero_()
        ref = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        ours, _ = model.Qformer.bert(ids, attention_mask=mask)
    err = (ref - ours).abs().max().item()
    assert err < 1e-5, f"MiniLM text pass differs from BertModel by {err}"
    save_file({"text_ids": ids.contiguous(), "text_mask": mask.contiguous(), "last_hidden_state": ref.contiguous(),
               "qformer_text_output": ours.contiguous()}, OUT / "minilm_text.safetensors")

    # 2. one stage-1 batch
    enc = tok(MINILM_M_SENTENCES, padding="max_length", max_length=12, truncation=True, return_tensors="pt")
    g, pad = graph_batch(tiny_gen, [11, 14, 8], 16, 32)
    B = 3
    batch = {"M.graph": g, "M.graph_padding": pad, "M.text_ids": enc["input_ids"].to(torch.int64).contiguous(),
             "M.text_mask": enc["attention_mask"].to(torch.int64).contiguous(),
             "M.neg_graph_idx": (torch.arange(B) + 1) % B, "M.neg_text_idx": (torch.arange(B) + 2) % B}
    r = stage1_forward(model, g, pad.bool(), batch["M.text_ids"], batch["M.text_mask"], batch["M.neg_graph_idx"],
                       batch["M.neg_text_idx"])
    out = dict(batch)
    for k in ("query_output", "text_output", "gtm_logits", "loss_gtc", "loss_gtm", "loss_lm", "loss"):
        out[f"M.{k}"] = r[k].detach().clone().contiguous()
    for k, gr in grads(model, r["loss"], "g").items():
        name = k[2:]
        g64 = gr.double()
        out[f"M.gradsum.{name}"] = torch.stack([g64.sum(), (g64 * g64).sum(), g64.abs().sum()])
        out[f"M.gradhead.{name}"] = gr.flatten()[:64].clone()
    save_file(out, OUT / "minilm_stage1.safetensors")
    return err


def main():
    torch.set_num_threads(1)
    hf_logging.set_verbosity_error()
    OUT.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(20261207)

    torch.manual_seed(0)
    t = TINY
    cfg = qformer_config(t["vocab_size"], t["hidden_size"], t["num_hidden_layers"], t["num_attention_heads"],
                         t["intermediate_size"], t["max_position_embeddings"], t["encoder_width"],
                         t["num_query_tokens"], t["cross_attention_freq"])
    model = Stage1(cfg, t["encoder_width"], t["embed_dim"], t["temperature"], t["dec_token_id"])
    randomise(model, gen)
    (OUT / "tiny_config.json").write_text(json.dumps(TINY, indent=2) + "\n")
    save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
               if not k.endswith("position_ids")}, OUT / "tiny.safetensors")
    (OUT / "tiny_keys.txt").write_text("\n".join(checkpoint_keys(model)) + "\n")

    batches = make_batches(gen)
    save_file(batches, OUT / "batches.safetensors")
    save_file(expected(model, batches, torch.float32), OUT / "expected_f32.safetensors")
    save_file(expected(model, batches, torch.float64), OUT / "expected_f64.safetensors")

    err = minilm_files(gen)

    with torch.device("meta"):
        paper = Stage1(qformer_config(31091, 768, 12, 12, 3072, 512, 512, 8), 512, 256)
    count = sum(p.numel() for p in paper.parameters() if p.requires_grad)
    assert count == PAPER_COUNT, count
    (OUT / "paper_keys.txt").write_text("\n".join(checkpoint_keys(paper)) + f"\nparameters {count}\n")
    print(f"wrote {OUT}; MiniLM text pass vs BertModel max |diff| {err:.2e}; paper stage-1 {count} parameters")


if __name__ == "__main__":
    main()
