#!/usr/bin/env python3
"""PyTorch peer of bench_llama: transformers' LlamaForCausalLM / LlamaDecoderLayer (with PEFT LoRA) on the
shapes bench_llama measures, on MOLM_NUM_THREADS threads.

  llama_decode   tinyllama-1.1b:p16+48  f32, bf16  22 layers, 2048 wide, 32/4 heads, FFN 5632, vocab 32000:
                                                   model.generate(16 prompt ids, greedy, 48 new tokens,
                                                   min_new_tokens 48, KV cache on); a LogitsProcessor records
                                                   time.perf_counter() at each of its 48 calls (one after each
                                                   forward), tok/s = 47 / (last - first): the 47 single-token
                                                   steps, the prefill left out, as bench_llama. Median of 3
                                                   runs after a full warm-up run.
  llama_prefill  tinyllama-1.1b:p16     f32, bf16  the 16-token prompt forward with the KV cache made and
                                                   logits of the last position only (as bench_llama's
                                                   prefill and generate's first step): model.model(ids,
                                                   use_cache=True), then lm_head on the last row; tok/s,
                                                   median.
  llama_decode   llama2-7b:p16+48       bf16       the same decode on Llama-2-7B's shape (32 layers, 4096
                                                   wide, 32/32 heads, FFN 11008), in a child process (so its
                                                   peak RSS is its own: extra field peak_rss_gib), one run
                                                   after a 4-token warm-up. MOLM_BENCH_LLAMA_7B=0 skips it.
  llama_layer_fwd, llama_layer_lora_fwd_bwd   llama2-7b-layer:1x128  f32, bf16
                                                   one LlamaDecoderLayer of Llama-2-7B on x [1, 128, 4096],
                                                   eval mode, called with the arguments LlamaModel gives it
                                                   (causal mask, position ids / rotary tables: captured from
                                                   a 1-layer LlamaModel's forward by a pre-hook, so they are
                                                   what this transformers version builds). fwd: under
                                                   no_grad. lora_fwd_bwd: PEFT LoRA (r 8, alpha 32, dropout
                                                   0, q/k/v/o/gate/up/down) via get_peft_model on that
                                                   1-layer LlamaModel, only the decoder layer timed; x
                                                   requires grad, loss = sum(y.float() * w.float()) with a
                                                   fixed random w, backward; grads zeroed each step. steps/s.

Weights are random and built without initialisation cost: nn.Linear / nn.Embedding reset_parameters and
transformers' _init_weights are skipped during construction, then every tensor but the RMSNorm weights
(ones) is filled with one repeated random row (speed does not depend on the values), as bench_llama. A bf16
model is constructed in bf16 (torch's default dtype set to bfloat16 while building, as
from_pretrained(torch_dtype=torch.bfloat16) does; a 7B model never exists in f32): weights bf16, no
autocast; LoRA adapters stay f32 as PEFT makes them.

Env: MOLM_NUM_THREADS (default: all cores), MOLM_BENCH_LLAMA_7B=0 (skip the 7B line),
MOLM_BENCH_LLAMA_ONLY=decode|7b|layer (one group, like bench_llama --only), MOLM_BENCH_LLAMA_ATTN=eager|sdpa
(attention implementation; default: the transformers version's own, recorded as "attn_implementation": eager
in 4.35, sdpa in later ones), MOLM_BENCH_LLAMA_LAYERS=N (for checking the script: N layers instead of 22 / 32
in the decode models; the shapes then get a ":Nlayers" suffix so they never stand for the real figures).

Prints one JSON line per figure: {"bench", "shape", "dtype", "threads", "value", "unit", "peer_name",
"seconds", "torch_version", "transformers_version", ...} (the 7B line adds "peak_rss_gib" and "build_s",
the LoRA lines "peft_version" and "lora_dtype").
"""
import contextlib
import json
import os
import resource
import subprocess
import sys
import time

import torch
import transformers
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM, LlamaModel, LogitsProcessor, LogitsProcessorList

from budget import median_seconds

try:  # transformers 5
    from transformers.initialization import no_init_weights
except ImportError:  # transformers 4
    from transformers.modeling_utils import no_init_weights

TINYLLAMA = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                 num_attention_heads=32, num_key_value_heads=4, rms_norm_eps=1e-5, max_position_embeddings=2048)
LLAMA2_7B = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32, rms_norm_eps=1e-5, max_position_embeddings=4096)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROMPT, NEW_TOKENS, LAYER_TOKENS = 16, 48, 128
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def threads():
    return int(os.environ.get("MOLM_NUM_THREADS") or len(os.sched_getaffinity(0)))


def layers_override():
    n = os.environ.get("MOLM_BENCH_LLAMA_LAYERS")
    return int(n) if n else None


def shape_name(base):
    n = layers_override()
    return base + (f":{n}layers" if n else "")


def emit(line):
    line.update(threads=threads(), peer_name="torch", torch_version=torch.__version__,
                transformers_version=transformers.__version__)
    print(json.dumps(line), flush=True)


# ---------------------------------------------------------------------------------------------------------
# building random models cheaply
# ---------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def without_init(dtype):
    """Construction with no initialisation work, tensors made in `dtype`: nn.Linear / nn.Embedding skip
    reset_parameters (their storage stays torch.empty's), transformers' no_init_weights skips _init_weights,
    and torch's default dtype is `dtype` meanwhile (what from_pretrained(torch_dtype=...) does)."""
    saved = [(cls, cls.reset_parameters) for cls in (nn.Linear, nn.Embedding)]
    old_dtype = torch.get_default_dtype()
    try:
        for cls, _ in saved:
            cls.reset_parameters = lambda self: None
        torch.set_default_dtype(dtype)
        with no_init_weights():
            yield
    finally:
        torch.set_default_dtype(old_dtype)
        for cls, fn in saved:
            cls.reset_parameters = fn


def fill_cheaply(model, gen):
    """Every parameter but the RMSNorm weights (built as ones) one repeated random row, N(0, 0.02)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                continue
            row = torch.randn(p.shape[-1], generator=gen, dtype=torch.float32) * 0.02
            p.copy_(row.to(p.dtype).expand_as(p))


def build(cls, cfg, dtype, seed):
    with without_init(dtype):
        model = cls(cfg)
    fill_cheaply(model, torch.Generator().manual_seed(seed))
    return model.eval()


def llama_config(shape, **overrides):
    kw = dict(shape)
    if layers_override():
        kw["num_hidden_layers"] = layers_override()
    if os.environ.get("MOLM_BENCH_LLAMA_ATTN"):  # e.g. eager, sdpa; default: the transformers version's own
        kw["attn_implementation"] = os.environ["MOLM_BENCH_LLAMA_ATTN"]
    kw.update(overrides)
    return LlamaConfig(**kw)


def attn_implementation(model):
    return getattr(model.config, "_attn_implementation", None) or "eager"


# ---------------------------------------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------------------------------------
class StepClock(LogitsProcessor):
    """Leaves the scores alone; records the time of each call. generate calls its logits processors once per
    forward, right after it: after the prefill, then after each single-token step. (Not a StoppingCriteria:
    transformers 4.35's StoppingCriteriaList is any(...) over its criteria, and the MaxLengthCriteria before a
    custom one ends it at the last token, so a custom criterion misses the last step.)"""

    def __init__(self):
        self.times = []

    def __call__(self, input_ids, scores):
        self.times.append(time.perf_counter())
        return scores


def prompt_ids(vocab_size):
    return torch.tensor([[1 + (i * 7919) % (vocab_size - 1) for i in range(PROMPT)]], dtype=torch.int64)


def decode_tok_s(model, ids, new_tokens):
    """tok/s of generate's single-token steps: (calls - 1) / (last call - first call), the prefill left out."""
    clock = StepClock()
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, logits_processor=LogitsProcessorList([clock]),
                             pad_token_id=0)
    assert out.shape[1] == ids.shape[1] + new_tokens and len(clock.times) == new_tokens, (out.shape, len(clock.times))
    return (len(clock.times) - 1) / (clock.times[-1] - clock.times[0])


def tinyllama_lines():
    cfg = llama_config(TINYLLAMA)
    ids = prompt_ids(cfg.vocab_size)
    for dname, dtype in DTYPES.items():
        model = build(LlamaForCausalLM, cfg, dtype, seed=1)

        def prefill():
            with torch.no_grad():
                hidden = model.model(input_ids=ids, use_cache=True)[0]
                model.lm_head(hidden[:, -1:])

        t = median_seconds(prefill, warmup=1, min_reps=5, min_time_s=1.0)
        emit({"bench": "llama_prefill", "shape": shape_name("tinyllama-1.1b:p16"), "dtype": dname,
              "value": PROMPT / t, "unit": "tok/s", "seconds": t, "attn_implementation": attn_implementation(model)})
        decode_tok_s(model, ids, NEW_TOKENS)  # warm-up
        runs = sorted(decode_tok_s(model, ids, NEW_TOKENS) for _ in range(3))
        emit({"bench": "llama_decode", "shape": shape_name("tinyllama-1.1b:p16+48"), "dtype": dname,
              "value": runs[1], "unit": "tok/s", "runs": runs, "attn_implementation": attn_implementation(model)})
        del model


def llama7b_child():
    """The 7B line, in its own process (run as `llama_torch.py --7b`)."""
    torch.set_num_threads(threads())
    cfg = llama_config(LLAMA2_7B)
    t0 = time.perf_counter()
    model = build(LlamaForCausalLM, cfg, torch.bfloat16, seed=1)
    build_s = time.perf_counter() - t0
    ids = prompt_ids(cfg.vocab_size)
    decode_tok_s(model, ids, 4)  # warm-up
    value = decode_tok_s(model, ids, NEW_TOKENS)
    emit({"bench": "llama_decode", "shape": shape_name("llama2-7b:p16+48"), "dtype": "bf16", "value": value,
          "unit": "tok/s", "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
          "build_s": build_s, "attn_implementation": attn_implementation(model)})


def llama7b_lines():
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--7b"], stdout=subprocess.PIPE, text=True)
    sys.stdout.write(child.stdout)
    sys.stdout.flush()
    if child.returncode != 0:
        print(f"llama_torch.py: the 7B child failed (exit status {child.returncode}); no llama2-7b line",
              file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------
# one decoder layer
# ---------------------------------------------------------------------------------------------------------
def layer_lines(dname, dtype):
    # A 1-layer LlamaModel (vocabulary cut to 32: the embedding is never used) holding the layer, so that
    # the layer's arguments are what LlamaModel builds and get_peft_model has a PreTrainedModel to wrap.
    cfg = llama_config(LLAMA2_7B, num_hidden_layers=1, vocab_size=32)
    model = build(LlamaModel, cfg, dtype, seed=2)
    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn((1, LAYER_TOKENS, cfg.hidden_size), generator=gen).to(dtype)
    w = torch.randn((1, LAYER_TOKENS, cfg.hidden_size), generator=gen).to(dtype)
    captured = {}

    def capture(module, args, kwargs):
        captured.update(args=args[1:], kwargs=dict(kwargs))

    hook = model.layers[0].register_forward_pre_hook(capture, with_kwargs=True)
    with torch.no_grad():
        model(inputs_embeds=x0, position_ids=torch.arange(LAYER_TOKENS)[None], use_cache=False)
    hook.remove()
    args, kwargs = captured["args"], captured["kwargs"]
    mask = kwargs.get("attention_mask", args[0] if args else None)
    mask_kind = "none (is_causal)" if mask is None else f"{tuple(mask.shape)} {str(mask.dtype).split('.')[-1]}"

    def call(layer, x):
        out = layer(x, *args, **kwargs)
        return out[0] if isinstance(out, tuple) else out

    layer = model.layers[0]

    def forward():
        with torch.no_grad():
            call(layer, x0)

    shape = "llama2-7b-layer:1x128"
    common = {"shape": shape, "dtype": dname, "unit": "steps/s", "attn_implementation": attn_implementation(model),
              "attention_mask": mask_kind}
    t = median_seconds(forward, warmup=1, min_reps=3, min_time_s=3.0)
    emit({"bench": "llama_layer_fwd", "value": 1 / t, "seconds": t, **common})

    import peft
    lora = peft.LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, target_modules=LORA_TARGETS, bias="none")
    peft_model = peft.get_peft_model(model, lora).eval()
    layer = peft_model.base_model.model.layers[0]
    lora_dtypes = {str(p.dtype).split(".")[-1] for n, p in layer.named_parameters() if "lora_" in n}
    x = x0.clone().requires_grad_(True)

    def forward_backward():
        peft_model.zero_grad()
        x.grad = None
        y = call(layer, x)
        (y.float() * w.float()).sum().backward()

    t = median_seconds(forward_backward, warmup=1, min_reps=3, min_time_s=3.0)
    emit({"bench": "llama_layer_lora_fwd_bwd", "value": 1 / t, "seconds": t, "peft_version": peft.__version__,
          "lora_dtype": ",".join(sorted(lora_dtypes)), **common})


def main():
    if sys.argv[1:] == ["--7b"]:
        llama7b_child()
        return
    torch.set_num_threads(threads())
    only = os.environ.get("MOLM_BENCH_LLAMA_ONLY", "")
    # The 7B child first, while this process holds no model (only one 7B model exists at a time).
    if only in ("", "7b") and os.environ.get("MOLM_BENCH_LLAMA_7B") != "0":
        llama7b_lines()
    if only in ("", "decode"):
        tinyllama_lines()
    if only in ("", "layer"):
        for dname, dtype in DTYPES.items():
            layer_lines(dname, dtype)


if __name__ == "__main__":
    main()
