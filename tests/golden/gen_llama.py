#!/usr/bin/env python3
"""Golden values for tests/golden/llama_test.cpp and tests/cli/llama.sh: a tiny random
transformers 4.35.2 LlamaForCausalLM (GQA) in the file layouts 3D-MoLM loads, its training forward
(plain, with a spliced soft prompt, with PEFT 0.6.2 LoRA) with losses and gradients, and HF `generate`
(greedy and beam search, from input_ids and from inputs_embeds) one prompt at a time.

The model: LlamaConfig(vocab 96, hidden 32, FFN 64, 2 layers, 4 heads, 2 key/value heads, 128 positions,
rms_norm_eps 1e-6, rope_theta 10000, untied lm_head, bos 1, eos 2, pad 0), built after
torch.manual_seed(0) with initializer_range 0.5 (HF's default 0.02 gives near-uniform next-token
distributions; at 0.5 the top-1/top-2 logit gaps of the greedy runs stay far above float32 rounding, see
generate.json's "margins") and then lm_head row 2 (EOS) multiplied by 1.3, so that EOS ends some
generations and not others (on the first 20 candidate prompts, factor 1.0 gives EOS in 4 beam results,
2.0 in all 20; with 1.3 the 20 kept prompts end with EOS in 6 greedy, 6 greedy_penalised, 15 beam,
14 beam_embeds, 7 greedy_embeds, 6 beam_soft, 14 beam_lp1 results, the others run to 32 tokens).
Row 0 (pad) of embed_tokens is zero (HF's init zeroes padding_idx). Id 95 plays 3D-MoLM's `<mol>` (the
model knows nothing special about it).

Writes tests/golden/data/llama/ (about 0.63 MB):
  tiny/config.json, tiny/generation_config.json, tiny/model.safetensors
        model.save_pretrained(dir, safe_serialization=True), f32; generation_config.json is kept as
        save_pretrained writes it (bos 1, eos 2, pad 0)
  tiny_bin_fp16/    the same model .half(), save_pretrained(safe_serialization=False, max_shard_size="30KB"):
        pytorch_model-00001-of-00002.bin, pytorch_model-00002-of-00002.bin, pytorch_model.bin.index.json,
        config.json ("torch_dtype": "float16"), generation_config.json — the layout of 3D-MoLM's
        llama-2-7b-hf folder (torch.save zip shards of fp16 tensors)
  tiny_st_bf16/     the same model in bf16, save_pretrained(safe_serialization=True, max_shard_size="30KB"):
        model-00001-of-00002.safetensors, model-00002-of-00002.safetensors, model.safetensors.index.json,
        config.json ("torch_dtype": "bfloat16"), generation_config.json
  lora_adapter/adapter_model.safetensors, lora_adapter/adapter_config.json
        PeftModel.save_pretrained(dir, safe_serialization=True) of the LoRA below (README.md dropped);
        names as get_peft_model_state_dict gives them ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
  forward_f32.safetensors, forward_f64.safetensors
        input_ids       i64 [2,24]   ids in [3,94]; row 0 unpadded with `<mol>` (95) at positions 4..11;
                                     row 1 LEFT-padded by 5 pad tokens (id 0) with `<mol>` at 8..15
        attention_mask  i64 [2,24]   0 on the 5 pads of row 1
        labels          i64 [2,24]   input_ids with -100 on pads and on the "prompt" prefix (row 0: 0..13,
                                     row 1: 0..16), as the reference masks prompt and pad positions
        valid           i64 [2,24]   1 where attention_mask is 1: the positions whose logits are comparable
        logits [2,24,96], loss []    the plain model on input_ids (+ mask, labels); HF's shifted causal-LM
                                     loss (mean cross-entropy of logits[:, :-1] against labels[:, 1:]).
                                     No position_ids are passed: HF 4.35 uses 0..T-1 over the padded row
                                     (forward() derives nothing from the mask)
        mol_rows        [2,8,32]     seeded N(0,1) soft-prompt rows (drawn in f32; the f64 file holds the
                                     same values)
        inputs_embeds   [2,24,32]    embed_tokens(input_ids) with the 8 `<mol>` positions of row b replaced
                                     by mol_rows[b] in order (3D-MoLM's row-major splice)
        soft_logits [2,24,96], soft_loss []   the plain model on inputs_embeds (+ mask, labels)
        grad.mol_rows   [2,8,32]     d soft_loss / d mol_rows
        lora_logits [2,24,96], lora_loss []   the LoRA model on the same inputs_embeds
        grad.<adapter name>          d lora_loss / d every LoRA weight (28 tensors; <adapter name> as in
                                     lora_adapter/adapter_model.safetensors)
        lora_grad.mol_rows [2,8,32]  d lora_loss / d mol_rows
      Float tensors are f32 in forward_f32 and f64 in forward_f64. Logits at pad positions are NOT
      comparable: HF 4.35 adds a padding mask and a causal mask of finfo(dtype).min each, so in the query
      row of left pad i every key is masked; keys masked once hold finfo.min (+ the score, absorbed), keys
      masked twice -inf (finfo.min + finfo.min overflows), and the softmax is uniform over the once-masked
      keys 0..i and 5..23 (future ones included). Pad rows influence neither the valid positions (pad keys
      are masked there) nor the losses (their labels are -100).
  generate.json      20 prompts and, per prompt, the new token ids (prompt stripped; a final EOS included)
                     of model.generate in 7 settings, with the kwargs of each setting; beam settings also
                     give sequences_scores; plus the smallest decision margins (see below)
  generate_mol_rows.npy  f32 [8,32] seeded N(0,1) rows spliced in the `beam_soft` setting
  tiny_keys.txt, paper_keys.txt   "name<TAB>d0,d1" of LlamaForCausalLM's state_dict in order, then
                     "# parameters N": the tiny model and 3D-MoLM's base (hidden 4096, 32 layers, 32 heads,
                     kv 32, FFN 11008, vocab 32002 after the resize, rms_norm_eps 1e-6, untied), the latter
                     built on the meta device

LoRA (forward files, adapter): PEFT 0.6.2 LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, the seven
projections, bias="none", task_type="CAUSAL_LM") on the tiny model, lora_A as PEFT initialises it after
torch.manual_seed(1), every lora_B set to seeded N(0, 0.1²) values (PEFT's zero B would make the checks
trivial). Dropout is 0 (3D-MoLM trains with 0.1) because dropout masks cannot be matched across
implementations.

f64 ("forward_f64", and the f64 generation check): model.double() alone is not a double-precision model in
transformers 4.35.2 — LlamaRMSNorm computes in float32, attention softmax runs with dtype=torch.float32,
LlamaForCausalLM.forward ends with logits.float(), and the rotary inv_freq/cos/sin are computed in float32.
For the f64 run these casts are lifted (`to_f64` below: RMSNorm, softmax and logits stay in f64, RoPE
tables recomputed in f64), so both sides can compute in double and compare tightly. Also, with a 2-D
attention_mask HF 4.35.2 cannot run an f64 Llama at all: _make_causal_mask calls torch.full(...,
finfo(float64).min) in the default dtype (RuntimeError: value cannot be converted to type float without
overflow), so f64 runs set torch's default dtype to float64 meanwhile (`f64_run`). (Unlifted, the f32
softmax would also turn the finfo(f64).min of pad rows into -inf: NaN rows.) f32 results are HF's own
forward; the script checks that the lifted forward (Llama64) gives the same bits on the f32 model.

generate.json settings (each call batch 1, eos_token_id=2, pad_token_id=0, output_scores=True,
return_dict_in_generate=True; the exact kwargs are stored under "settings"):
  greedy            input_ids; do_sample=False, num_beams=1, max_new_tokens=32
  greedy_penalised  input_ids; num_beams=1, repetition_penalty=1.2, min_new_tokens=8, max_new_tokens=32
  beam              input_ids; num_beams=5, repetition_penalty=1.2, length_penalty=0.8, min_new_tokens=8,
                    max_new_tokens=32, early_stopping=False (3D-MoLM's test settings, shorter)
  beam_embeds       as beam, but inputs_embeds=embed_tokens(prompt) [1,L,32] and attention_mask ones, no
                    input_ids. transformers 4.35.2 then starts the token history at [[bos_token_id]] = [[1]]
                    (generation_config's bos; _maybe_initialize_input_ids_for_generation), not empty: the
                    returned sequences are [1, new...] (the 1 is stripped here), the repetition penalty
                    covers token 1 from the first step on, max_length = max_new_tokens + 1,
                    min_new_tokens counts from 1, and the beam length penalty divides by 1 + the new
                    tokens (EOS excluded). The prompt ids are not in the history (no penalty on them)
  greedy_embeds     as greedy_penalised, from inputs_embeds
  beam_soft         as beam, from inputs_embeds of prompt ids, the 8 rows of generate_mol_rows.npy, then the
                    prompt's 2 "soft_suffix" ids
  beam_lp1          input_ids; num_beams=5, repetition_penalty=1.2, length_penalty=1.0, min_new_tokens=8,
                    max_new_tokens=32 (the inference notebook's settings, shorter)
Beam search in 4.35.2 (what the C++ side must repeat): scores are log_softmax(logits), then the
processors (repetition penalty on these log-probs: every token in the history, prompt ids included for
input_ids calls, gets its log-prob multiplied by 1.2; EOS -inf while fewer than min_new_tokens are new),
plus the beam's running sum; top 2*num_beams over beams x vocab; an EOS candidate of rank < num_beams
becomes a finished hypothesis with score sum / len(history without EOS) ** length_penalty, where the
history of an input_ids call includes the prompt; is_done (early_stopping=False) compares the worst kept
hypothesis with (the best of the step's 2*num_beams candidate sums) / (len(history) + 1) **
length_penalty; at max_length the open beams are added the same way; sequences_scores is the best
hypothesis's score (float32). Generated ids may be 0 (the pad id): only EOS ends a row. Greedy: the same
processors act on the raw logits (a positive logit of a token in the history is divided by 1.2, a
negative one multiplied), then argmax.

Prompt selection: candidates are drawn in sequence from torch.Generator().manual_seed(PROMPT_SEED) (length
uniform in 2..12, ids uniform in [3,94], then 2 suffix ids). A candidate is kept when every setting gives
the same tokens with the f64 model (to_f64) as with the f32 model and no decision of its f32 runs is
within MIN_MARGIN (3e-4, about 70x the largest f32-f64 difference of sequences_scores) of flipping;
"prompt_selection" in generate.json lists the 6 rejected candidates and why (one had a 3.8e-6 tie between
two beams' candidates at step 30 that f64 still ordered the same way). The margins (generate.json
"margins", over the kept prompts, in f32): greedy settings, top1 - top2 of each step's processed scores;
beam settings, per step the 5th kept non-EOS candidate vs the best dropped one and rank 4 vs 5 when one of
them is EOS, BeamHypotheses.add's score vs worst_score and is_done's comparison, and the best vs the
second-best final hypothesis (a second call with num_return_sequences=5, which only changes finalize).

    # one command: peft alone would upgrade torch and transformers
    pip install peft==0.6.2 accelerate==0.25.0 torch==2.1.2 transformers==4.35.2 "numpy<2" safetensors==0.4.1
    python3 tests/golden/gen_llama.py     # re-runs itself with PYTHONHASHSEED=0; deterministic, ~30 s
"""
import contextlib
import copy
import json
import math
import os
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.generation.beam_search import BeamHypotheses
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.llama import modeling_llama
from transformers.utils import logging as hf_logging

OUT = pathlib.Path(__file__).resolve().parent / "data" / "llama"
V, D, T = 96, 32, 24
BOS, EOS, PAD, MOL = 1, 2, 0, 95
INIT_RANGE = 0.5
EOS_FACTOR = 1.3
PROMPT_SEED = 20240701
DATA_SEED = 20240702
LORA_SEED = 20240703
N_PROMPTS = 20
MIN_MARGIN = 3e-4  # smallest accepted decision margin (f32), ~70x the largest f32-f64 sequences_score difference
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PAPER_COUNT = 6_738_432_000  # docs/reference-model.md §9.5, Llama-7B after the resize to 32,002

COMMON = dict(eos_token_id=EOS, pad_token_id=PAD, output_scores=True, return_dict_in_generate=True)
GREEDY = dict(do_sample=False, num_beams=1, max_new_tokens=32)
PENALISED = dict(do_sample=False, num_beams=1, repetition_penalty=1.2, min_new_tokens=8, max_new_tokens=32)
BEAM = dict(do_sample=False, num_beams=5, repetition_penalty=1.2, length_penalty=0.8, min_new_tokens=8,
            max_new_tokens=32, early_stopping=False)
BEAM_LP1 = dict(do_sample=False, num_beams=5, repetition_penalty=1.2, length_penalty=1.0, min_new_tokens=8,
                max_new_tokens=32)
SETTINGS = {  # name: (input, kwargs)
    "greedy": ("input_ids", GREEDY),
    "greedy_penalised": ("input_ids", PENALISED),
    "beam": ("input_ids", BEAM),
    "beam_embeds": ("inputs_embeds", BEAM),
    "greedy_embeds": ("inputs_embeds", PENALISED),
    "beam_soft": ("inputs_embeds+mol", BEAM),
    "beam_lp1": ("input_ids", BEAM_LP1),
}


def tiny_config(**kw):
    return LlamaConfig(vocab_size=V, hidden_size=D, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0,
                       tie_word_embeddings=False, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                       hidden_act="silu", **kw)


def tiny_model():
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_config(initializer_range=INIT_RANGE)).eval()
    with torch.no_grad():
        model.lm_head.weight[EOS] *= EOS_FACTOR
    return model


# ---------------------------------------------------------------------------------------------------------
# a real double-precision model: transformers 4.35.2 casts to float32 in four places


class RMSNorm64(modeling_llama.LlamaRMSNorm):
    def forward(self, hidden_states):  # HF's formula without the .to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


class Llama64(LlamaForCausalLM):
    """LlamaForCausalLM.forward without its final logits.float() (pretraining_tp 1)."""

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                         output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                         return_dict=True)
        logits = self.lm_head(out.last_hidden_state)
        loss = None
        if labels is not None:  # HF: CrossEntropyLoss()(shift_logits.view(-1, V), shift_labels.view(-1))
            loss = F.cross_entropy(logits[..., :-1, :].contiguous().view(-1, self.config.vocab_size),
                                   labels[..., 1:].contiguous().view(-1))
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=out.past_key_values,
                                      hidden_states=out.hidden_states, attentions=out.attentions)


def to_f64(model):
    """A deep copy in float64 with the float32 casts lifted (model: LlamaForCausalLM or a PEFT model of one)."""
    m = copy.deepcopy(model).double()
    for mod in m.modules():
        if type(mod) is modeling_llama.LlamaRMSNorm:
            mod.__class__ = RMSNorm64
        elif type(mod) is modeling_llama.LlamaRotaryEmbedding:
            mod.inv_freq = 1.0 / (mod.base ** (torch.arange(0, mod.dim, 2, dtype=torch.float64) / mod.dim))
            mod._set_cos_sin_cache(mod.max_position_embeddings, mod.inv_freq.device, torch.float64)
        elif type(mod) is LlamaForCausalLM:
            mod.__class__ = Llama64
    return m


@contextlib.contextmanager
def f64_run():
    """Around every f64 call. LlamaAttention calls nn.functional.softmax(w, dim=-1, dtype=torch.float32): f64
    inputs stay f64. And _make_causal_mask fills torch.full((T, T), finfo(dtype).min) in the default dtype,
    which cannot hold finfo(float64).min (RuntimeError), so the default dtype is float64 meanwhile."""
    orig, default = torch.nn.functional.softmax, torch.get_default_dtype()

    def softmax(input, dim=None, _stacklevel=3, dtype=None):
        return orig(input, dim=dim, _stacklevel=_stacklevel, dtype=None if input.dtype == torch.float64 else dtype)

    torch.nn.functional.softmax = softmax
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.nn.functional.softmax = orig
        torch.set_default_dtype(default)


# ---------------------------------------------------------------------------------------------------------
# training forward


def batch():
    g = torch.Generator().manual_seed(DATA_SEED)
    ids = torch.randint(3, V - 1, (2, T), generator=g)
    ids[0, 4:12] = MOL
    ids[1, 8:16] = MOL
    ids[1, :5] = PAD
    mask = torch.ones(2, T, dtype=torch.int64)
    mask[1, :5] = 0
    labels = ids.clone()
    labels[0, :14] = -100
    labels[1, :17] = -100
    mol_rows = torch.randn(2, 8, D, generator=g, dtype=torch.float32)
    return ids, mask, labels, mol_rows


def lora_model(base):
    torch.manual_seed(1)
    config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, target_modules=TARGETS, bias="none",
                        task_type="CAUSAL_LM")
    model = get_peft_model(copy.deepcopy(base), config)
    g = torch.Generator().manual_seed(LORA_SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * 0.1)
    return model.eval()


def adapter_name(param_name):  # PEFT's parameter name -> the adapter file's name
    return param_name.replace(".default.", ".")


def soft_embeds(model, ids, mol_rows):
    emb = model.get_input_embeddings()(ids).clone()
    emb[ids == MOL] = mol_rows.reshape(-1, mol_rows.shape[-1])  # row-major: molecule b fills row b's slots
    return emb


def forward_file(base, peft, dtype):
    ids, mask, labels, mol32 = batch()
    out = {"input_ids": ids, "attention_mask": mask, "labels": labels, "valid": mask.clone()}
    for p in base.parameters():
        p.requires_grad_(False)

    with torch.no_grad():
        r = base(input_ids=ids, attention_mask=mask, labels=labels)
    out["logits"], out["loss"] = r.logits, r.loss
    assert r.logits.dtype == dtype

    mol = mol32.to(dtype).clone().requires_grad_()
    emb = soft_embeds(base, ids, mol)
    r = base(inputs_embeds=emb, attention_mask=mask, labels=labels)
    r.loss.backward()
    out.update({"mol_rows": mol.detach(), "inputs_embeds": emb.detach(), "soft_logits": r.logits.detach(),
                "soft_loss": r.loss.detach(), "grad.mol_rows": mol.grad})

    mol = mol32.to(dtype).clone().requires_grad_()
    r = peft(inputs_embeds=soft_embeds(peft, ids, mol), attention_mask=mask, labels=labels)
    r.loss.backward()
    out.update({"lora_logits": r.logits.detach(), "lora_loss": r.loss.detach(), "lora_grad.mol_rows": mol.grad})
    lora = [(n, p) for n, p in peft.named_parameters() if p.requires_grad]
    assert len(lora) == 28 and all("lora_" in n for n, _ in lora)
    for n, p in lora:
        assert p.grad.dtype == dtype
        out["grad." + adapter_name(n)] = p.grad
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


# ---------------------------------------------------------------------------------------------------------
# generation


class BeamMargins:
    """While beam search runs, measures how close its decisions come to flipping (in f32):
    - "step": per step, the 5th kept non-EOS candidate vs the best dropped non-EOS one, and rank 4 vs rank 5
      when one of them is EOS (an EOS candidate becomes a hypothesis only at rank < num_beams);
    - "heap": BeamHypotheses.add's `score > worst_score` once num_beams hypotheses exist, and is_done's
      `worst_score >= best_sum_logprobs / cur_len ** length_penalty`."""

    def __init__(self, num_beams):
        self.num_beams, self.step, self.heap = num_beams, math.inf, math.inf
        self.orig = (torch.topk, BeamHypotheses.add, BeamHypotheses.is_done)

    def topk(self, input, k, *args, **kwargs):
        result = self.orig[0](input, k, *args, **kwargs)
        if input.dim() == 2 and k == 2 * self.num_beams:
            b = self.num_beams
            for row in input:
                v, i = torch.sort(row, descending=True)
                eos = (i % V) == EOS
                keep = (~eos).nonzero().flatten()
                self.step = min(self.step, (v[keep[b - 1]] - v[keep[b]]).item())
                if eos[b - 1] or eos[b]:
                    self.step = min(self.step, (v[b - 1] - v[b]).item())
        return result

    def __enter__(self):
        bm = self

        def add(hyps, hyp, sum_logprobs, beam_indices=None):
            if len(hyps) >= hyps.num_beams:
                bm.heap = min(bm.heap, abs(sum_logprobs / hyp.shape[-1] ** hyps.length_penalty - hyps.worst_score))
            return bm.orig[1](hyps, hyp, sum_logprobs, beam_indices)

        def is_done(hyps, best_sum_logprobs, cur_len):
            if len(hyps) >= hyps.num_beams and hyps.early_stopping is False:
                bm.heap = min(bm.heap, abs(hyps.worst_score - best_sum_logprobs / cur_len ** hyps.length_penalty))
            return bm.orig[2](hyps, best_sum_logprobs, cur_len)

        torch.topk, BeamHypotheses.add, BeamHypotheses.is_done = self.topk, add, is_done
        return self

    def __exit__(self, *exc):
        torch.topk, BeamHypotheses.add, BeamHypotheses.is_done = self.orig


def draw_prompt(g):
    n = torch.randint(2, 13, (1,), generator=g).item()
    ids = torch.randint(3, V - 1, (n,), generator=g).tolist()
    suffix = torch.randint(3, V - 1, (2,), generator=g).tolist()
    return ids, suffix


def generate(model, name, ids, suffix, mol_rows, **extra):
    """model.generate for one prompt in setting `name`; returns the output and the new tokens."""
    kind, kwargs = SETTINGS[name]
    kwargs = {**kwargs, **COMMON, **extra}
    prompt = torch.tensor([ids])
    emb_layer = model.get_input_embeddings()
    with torch.no_grad():
        if kind == "input_ids":
            r = model.generate(prompt, **kwargs)
            assert r.sequences[0, :len(ids)].tolist() == ids
            return r, r.sequences[0, len(ids):].tolist()
        emb = emb_layer(prompt)
        if kind == "inputs_embeds+mol":
            emb = torch.cat([emb, mol_rows.to(emb.dtype)[None], emb_layer(torch.tensor([suffix]))], dim=1)
        r = model.generate(inputs_embeds=emb, attention_mask=torch.ones(emb.shape[:2], dtype=torch.int64), **kwargs)
        # transformers 4.35.2 starts the history of an inputs_embeds-only call at [[bos_token_id]]
        assert (r.sequences[:, 0] == BOS).all()
        return r, r.sequences[0, 1:].tolist()


def run_setting(model, name, ids, suffix, mol_rows):
    r, new = generate(model, name, ids, suffix, mol_rows)
    assert 1 <= len(new) <= 32 and EOS not in new[:-1], new
    res = {"new_tokens": new}
    if SETTINGS[name][1]["num_beams"] > 1:
        res["sequences_score"] = float(r.sequences_scores[0].item())
    return res


def margins_of(model, name, ids, suffix, mol_rows, expected):
    """The smallest decision margins of one f32 run (see BeamMargins); checks the run against `expected`."""
    kwargs = SETTINGS[name][1]
    if kwargs["num_beams"] == 1:
        r, new = generate(model, name, ids, suffix, mol_rows)
        assert new == expected["new_tokens"]
        top = [torch.topk(s[0].double(), 2).values for s in r.scores]  # processed scores of each step
        return {"greedy_top1_top2": min((t[0] - t[1]).item() for t in top)}
    with BeamMargins(kwargs["num_beams"]) as bm:
        assert run_setting(model, name, ids, suffix, mol_rows) == expected
    # best vs second-best final hypothesis: num_return_sequences only changes finalize()
    r, _ = generate(model, name, ids, suffix, mol_rows, num_return_sequences=kwargs["num_beams"])
    s = r.sequences_scores.tolist()
    assert s[0] == expected["sequences_score"]
    return {"beam_step": bm.step, "beam_heap": bm.heap, "beam_final_best_vs_second": s[0] - s[1]}


def generate_file(model, model64, mol_rows):
    g = torch.Generator().manual_seed(PROMPT_SEED)
    prompts, rejected = [], []
    margins = {k: math.inf for k in ("greedy_top1_top2", "beam_step", "beam_heap", "beam_final_best_vs_second")}
    max_score_diff = 0.0
    while len(prompts) < N_PROMPTS:
        ids, suffix = draw_prompt(g)
        entry, why = {"ids": ids, "soft_suffix": suffix}, None
        local = dict(margins)
        for name in SETTINGS:
            a = run_setting(model, name, ids, suffix, mol_rows)
            with f64_run():
                b = run_setting(model64, name, ids, suffix, mol_rows)
            if a["new_tokens"] != b["new_tokens"]:
                why = f"{name}: f32 and f64 tokens differ"
                break
            if "sequences_score" in a:
                max_score_diff = max(max_score_diff, abs(a["sequences_score"] - b["sequences_score"]))
            entry[name] = a
            m = margins_of(model, name, ids, suffix, mol_rows, a)
            if min(m.values()) < MIN_MARGIN:
                why = f"{name}: margin {min(m.values()):.3g}"
                break
            for k, v in m.items():
                local[k] = min(local[k], v)
        if why is not None:
            rejected.append({"ids": ids, "soft_suffix": suffix, "why": why})
            continue
        prompts.append(entry)
        margins = local
    settings = {name: {"input": kind, "kwargs": {**kwargs, **COMMON}} for name, (kind, kwargs) in SETTINGS.items()}
    return {"settings": settings, "prompts": prompts, "rejected": rejected, "margins": margins,
            "max_abs_sequences_score_f32_vs_f64": max_score_diff}


def write_generate_json(data, path):
    """One prompt per line."""
    head = {
        "about": "gen_llama.py: new token ids of model.generate on tiny/ (prompt stripped, final EOS kept), "
                 "one prompt per call; beam_soft splices generate_mol_rows.npy between ids and soft_suffix",
        "eos_token_id": EOS, "pad_token_id": PAD, "mol_token_id": MOL,
        "initializer_range": INIT_RANGE, "eos_lm_head_factor": EOS_FACTOR,
        "prompt_selection": {"seed": PROMPT_SEED, "rule": "drawn in sequence; a candidate is rejected when any "
                             "setting's tokens differ between the f32 and the f64 model or a decision margin of "
                             f"the f32 run is below {MIN_MARGIN}", "rejected": data["rejected"]},
        "margins": data["margins"],
        "max_abs_sequences_score_f32_vs_f64": data["max_abs_sequences_score_f32_vs_f64"],
    }
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"{json.dumps(k)}: {json.dumps(v)},")
    lines.append("\"settings\": {")
    lines.append(",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in data["settings"].items()))
    lines.append("},")
    lines.append("\"prompts\": [")
    lines.append(",\n".join(" " + json.dumps(p) for p in data["prompts"]))
    lines.append("]}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text)["prompts"] == data["prompts"]
    path.write_text(text)


# ---------------------------------------------------------------------------------------------------------


def check_saved(model, f32):
    """The written folders load back (transformers, PEFT) into the same tensors and the same LoRA logits."""
    sd = model.state_dict()
    for folder, dtype in (("tiny", torch.float32), ("tiny_bin_fp16", torch.float16), ("tiny_st_bf16", torch.bfloat16)):
        loaded = LlamaForCausalLM.from_pretrained(OUT / folder, torch_dtype=dtype).state_dict()
        assert loaded.keys() == sd.keys() and all(torch.equal(loaded[k], sd[k].to(dtype)) for k in sd), folder
    base = LlamaForCausalLM.from_pretrained(OUT / "tiny").eval()
    peft = PeftModel.from_pretrained(base, OUT / "lora_adapter").eval()
    ids, mask, labels = f32["input_ids"], f32["attention_mask"], f32["labels"]
    with torch.no_grad():
        r = peft(inputs_embeds=soft_embeds(peft, ids, f32["mol_rows"]), attention_mask=mask, labels=labels)
    assert torch.equal(r.logits, f32["lora_logits"]) and torch.equal(r.loss, f32["lora_loss"])


def keys_file(model, path):
    sd = model.state_dict()
    count = sum(p.numel() for p in model.parameters())
    lines = [f"{k}\t{','.join(str(d) for d in v.shape)}" for k, v in sd.items()]
    path.write_text("\n".join(lines) + f"\n# parameters {count}\n")
    return count


def save_model(model, folder, **kwargs):
    model.save_pretrained(folder, **kwargs)
    return sorted(p.name for p in folder.iterdir())


def main():
    t0 = time.time()
    torch.set_num_threads(1)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    model = tiny_model()
    files = save_model(model, OUT / "tiny", safe_serialization=True)
    assert files == ["config.json", "generation_config.json", "model.safetensors"], files
    files = save_model(copy.deepcopy(model).half(), OUT / "tiny_bin_fp16", safe_serialization=False,
                       max_shard_size="30KB")
    assert files == ["config.json", "generation_config.json", "pytorch_model-00001-of-00002.bin",
                     "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json"], files
    files = save_model(copy.deepcopy(model).to(torch.bfloat16), OUT / "tiny_st_bf16", safe_serialization=True,
                       max_shard_size="30KB")
    assert files == ["config.json", "generation_config.json", "model-00001-of-00002.safetensors",
                     "model-00002-of-00002.safetensors", "model.safetensors.index.json"], files
    tiny_count = keys_file(model, OUT / "tiny_keys.txt")

    with torch.device("meta"):
        paper = LlamaForCausalLM(LlamaConfig(vocab_size=32002, hidden_size=4096, intermediate_size=11008,
                                             num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                                             max_position_embeddings=2048, rms_norm_eps=1e-6,
                                             tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                                             pad_token_id=0))
    assert keys_file(paper, OUT / "paper_keys.txt") == PAPER_COUNT

    # LoRA and its adapter folder
    peft = lora_model(model)
    names = list(get_peft_model_state_dict(peft).keys())
    assert names == [adapter_name(n) for n, p in peft.named_parameters() if p.requires_grad], names
    with tempfile.TemporaryDirectory() as tmp:
        peft.save_pretrained(tmp, safe_serialization=True)
        (OUT / "lora_adapter").mkdir()
        for f in ("adapter_model.safetensors", "adapter_config.json"):
            shutil.copy(pathlib.Path(tmp) / f, OUT / "lora_adapter" / f)

    # forward files
    model64 = to_f64(model)
    f32 = forward_file(model, peft, torch.float32)
    with f64_run():
        f64 = forward_file(model64, to_f64(peft), torch.float64)
        # the lifted f32 path is HF's own: Llama64's forward on the f32 model gives the same bits
        probe = copy.deepcopy(model)
        probe.__class__ = Llama64
        with torch.no_grad():
            r = probe(input_ids=f32["input_ids"], attention_mask=f32["attention_mask"], labels=f32["labels"])
    assert torch.equal(r.logits, f32["logits"]) and torch.equal(r.loss, f32["loss"])
    save_file(f32, OUT / "forward_f32.safetensors", metadata={"format": "pt"})
    save_file(f64, OUT / "forward_f64.safetensors", metadata={"format": "pt"})
    check_saved(model, f32)
    valid = f32["valid"].bool()
    for k in ("logits", "soft_logits", "lora_logits"):
        d = (f64[k] - f32[k].double()).abs()[valid].max().item()
        print(f"{k}: max |f64 - f32| over valid positions {d:.2e}")
    for k in ("loss", "soft_loss", "lora_loss"):
        print(f"{k}: f32 {f32[k].item():.6f}  f64 {f64[k].item():.6f}")

    # generation
    mol_rows = torch.randn(8, D, generator=torch.Generator().manual_seed(PROMPT_SEED + 1), dtype=torch.float32)
    np.save(OUT / "generate_mol_rows.npy", mol_rows.numpy())
    data = generate_file(model, model64, mol_rows)
    write_generate_json(data, OUT / "generate.json")

    for name in SETTINGS:
        lens = [len(p[name]["new_tokens"]) for p in data["prompts"]]
        eos = sum(p[name]["new_tokens"][-1] == EOS for p in data["prompts"])
        print(f"{name:17s} EOS in {eos:2d}/{N_PROMPTS}, full 32 without EOS in "
              f"{sum(n == 32 and p[name]['new_tokens'][-1] != EOS for n, p in zip(lens, data['prompts'])):2d}, "
              f"lengths {lens}")
    print("margins", data["margins"], "rejected", len(data["rejected"]),
          f"max |score f32 - f64| {data['max_abs_sequences_score_f32_vs_f64']:.2e}")
    print(f"tiny model {tiny_count} parameters; wrote {OUT} in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    # PEFT writes target_modules from a Python set: a fixed hash seed makes adapter_config.json reproducible.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    main()
