#!/usr/bin/env python3
"""Golden values for tests/golden/llama2c_test.cpp: stories260K (llama2.c format) converted to a
Hugging Face LlamaForCausalLM (transformers 4.35.2) the way HF's convert_llama_weights_to_hf.py does,
its logits on a few tokens, and a 256-token greedy continuation of BOS.

Reads ../shared/data/models/stories260K/stories260K.bin (relative to the repository root) with numpy,
names the arrays as HF does (w1 -> gate_proj, w3 -> up_proj, w2 -> down_proj, lm_head tied to the
embedding), reorders the rows of wq / wk with HF's `permute` (llama2.c rotates interleaved pairs, HF
rotates halves), loads the dict strictly into LlamaForCausalLM and runs it. As a check of the
conversion itself, the logits are compared with a plain numpy forward in llama2.c's own conventions
(run.c: interleaved RoPE on the unpermuted weights); the script stops if they disagree.

Writes tests/golden/data/llama2c/ (about 180 KB; the model itself is not committed):
  tokens.npy                     i64 [T]        the input ids
  logits.npy                     f32 [T, V]     HF logits for tokens (position ids 0..T-1)
  q_proj_0.npy, k_proj_0.npy     f32            model.layers.0.self_attn.{q,k}_proj.weight (permuted)
  k_proj_4.npy                   f32            model.layers.4.self_attn.k_proj.weight
  config.json                                   the HF config the model was built from
  greedy_256.npy                 i64 [256]      the new tokens of model.generate(torch.tensor([[1]]),
                                                do_sample=False, num_beams=1, max_new_tokens=256,
                                                min_new_tokens=256, eos_token_id=2, pad_token_id=0): EOS
                                                (2) is set to -inf at every step because min_new_tokens ==
                                                max_new_tokens, so exactly 256 tokens come out (KV cache,
                                                positions 0..256). The script also checks that every token
                                                is the argmax of the unsuppressed float64 numpy forward,
                                                teacher-forced on [1] + the 256 tokens (so 2 never wins
                                                anyway and this is plain argmax decoding), and prints the
                                                smallest top-1/top-2 logit gaps (0.0042 in f32 and f64).
                                                (eos_token_id=None does not disable EOS in 4.35.2:
                                                generate() then skips the min-new-tokens processor while
                                                greedy_search falls back to generation_config's eos 2.)
  logits_long.npy                f32 [64, V]    HF logits (one teacher-forced forward, no cache) of the
                                                first 64 tokens of [1] + greedy_256

One CPU thread. The committed logits.npy is not bit-reproducible on every machine: rerun on another x86 CPU
with the same torch 2.1.2 wheel it differed by up to 9e-6 (float32 rounding of the matmuls; all other files
byte-identical).

    python3 tests/golden/gen_llama2c.py
"""
import json
import math
import pathlib

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT.parent / "shared" / "data" / "models" / "stories260K" / "stories260K.bin"
OUT = pathlib.Path(__file__).resolve().parent / "data" / "llama2c"
TOKENS = [1, 400, 20, 300, 7, 511]


def read_llama2c(path):
    raw = path.read_bytes()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = np.frombuffer(raw[:28], dtype="<i4").tolist()
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    kv_dim = n_kv * hd
    f = np.frombuffer(raw[28:], dtype="<f4")
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        a = f[pos:pos + n].reshape(shape)
        pos += n
        return a

    w = {"emb": take(vocab, dim), "rms_att": take(n_layers, dim), "wq": take(n_layers, dim, dim),
         "wk": take(n_layers, kv_dim, dim), "wv": take(n_layers, kv_dim, dim), "wo": take(n_layers, dim, dim),
         "rms_ffn": take(n_layers, dim), "w1": take(n_layers, hidden, dim), "w2": take(n_layers, dim, hidden),
         "w3": take(n_layers, hidden, dim), "rms_final": take(dim)}
    take(2 * seq_len * hd // 2)  # freq_cis_real, freq_cis_imag: unused
    w["wcls"] = w["emb"] if shared else take(vocab, dim)
    assert pos == f.size, "file size does not match the header"
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, vocab=vocab,
               seq_len=seq_len, shared=shared)
    return cfg, w


def permute(w, n_heads, dim1, dim2):  # convert_llama_weights_to_hf.py
    return w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)


def hf_state_dict(c, w):
    t = lambda a: torch.from_numpy(np.array(a))
    hd = c["dim"] // c["n_heads"]
    sd = {"model.embed_tokens.weight": t(w["emb"])}
    for i in range(c["n_layers"]):
        p = f"model.layers.{i}."
        sd[p + "self_attn.q_proj.weight"] = permute(t(w["wq"][i]), c["n_heads"], c["dim"], c["dim"])
        sd[p + "self_attn.k_proj.weight"] = permute(t(w["wk"][i]), c["n_kv"], c["n_kv"] * hd, c["dim"])
        sd[p + "self_attn.v_proj.weight"] = t(w["wv"][i])
        sd[p + "self_attn.o_proj.weight"] = t(w["wo"][i])
        sd[p + "mlp.gate_proj.weight"] = t(w["w1"][i])
        sd[p + "mlp.up_proj.weight"] = t(w["w3"][i])
        sd[p + "mlp.down_proj.weight"] = t(w["w2"][i])
        sd[p + "input_layernorm.weight"] = t(w["rms_att"][i])
        sd[p + "post_attention_layernorm.weight"] = t(w["rms_ffn"][i])
    sd["model.norm.weight"] = t(w["rms_final"])
    sd["lm_head.weight"] = t(w["wcls"])
    return sd


def llama2c_forward(c, w, tokens):
    """run.c's forward for every position (f64), on the unpermuted weights with interleaved RoPE."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    dim, hd, H, Hkv = c["dim"], c["dim"] // c["n_heads"], c["n_heads"], c["n_kv"]
    T = len(tokens)

    def rms(x, g):
        return g * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-5)

    def rope(x, heads):  # x [T, heads*hd]: rotate pairs (2i, 2i+1) by pos * 10000^(-2i/hd)
        x = x.reshape(T, heads, hd // 2, 2).copy()
        freq = 1.0 / 10000.0 ** (np.arange(0, hd, 2) / hd)
        ang = np.arange(T)[:, None] * freq[None, :]
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        a, b = x[..., 0].copy(), x[..., 1].copy()
        x[..., 0], x[..., 1] = a * cos - b * sin, a * sin + b * cos
        return x.reshape(T, heads * hd)

    x = w["emb"][tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(c["n_layers"]):
        h = rms(x, w["rms_att"][l])
        q, k, v = rope(h @ w["wq"][l].T, H), rope(h @ w["wk"][l].T, Hkv), h @ w["wv"][l].T
        out = np.zeros((T, dim))
        for head in range(H):
            kvh = head // (H // Hkv)
            qs, ks, vs = (q[:, head * hd:(head + 1) * hd], k[:, kvh * hd:(kvh + 1) * hd],
                          v[:, kvh * hd:(kvh + 1) * hd])
            s = qs @ ks.T / np.sqrt(hd) + mask
            p = np.exp(s - s.max(-1, keepdims=True))
            out[:, head * hd:(head + 1) * hd] = (p / p.sum(-1, keepdims=True)) @ vs
        x = x + out @ w["wo"][l].T
        h = rms(x, w["rms_ffn"][l])
        g, u = h @ w["w1"][l].T, h @ w["w3"][l].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ w["w2"][l].T
    return rms(x, w["rms_final"]) @ w["wcls"].T


def greedy_continuation(model, c, w, n):
    """n greedy tokens after BOS, checked against the f64 numpy forward; returns them and the min gaps."""
    with torch.no_grad():
        r = model.generate(torch.tensor([[1]]), do_sample=False, num_beams=1, max_new_tokens=n, min_new_tokens=n,
                           eos_token_id=2, pad_token_id=0, output_scores=True, return_dict_in_generate=True)
    seq = r.sequences[0].tolist()
    assert len(seq) == 1 + n and seq[0] == 1, len(seq)
    assert all(s[0, 2].item() == -math.inf for s in r.scores)  # EOS suppressed at every step
    top = torch.stack([torch.topk(s[0], 2).values for s in r.scores])
    gap32 = (top[:, 0] - top[:, 1]).min().item()
    reference = llama2c_forward(c, w, np.array(seq[:-1]))  # position p predicts seq[p + 1]
    assert (reference.argmax(-1) == np.array(seq[1:])).all(), "a greedy step flips in float64 (or EOS would win)"
    part = np.sort(reference, axis=-1)
    gap64 = (part[:, -1] - part[:, -2]).min()
    return np.array(seq[1:], dtype=np.int64), gap32, gap64


def main():
    torch.set_num_threads(1)
    c, w = read_llama2c(MODEL)
    config = LlamaConfig(hidden_size=c["dim"], intermediate_size=c["hidden"], num_hidden_layers=c["n_layers"],
                         num_attention_heads=c["n_heads"], num_key_value_heads=c["n_kv"], vocab_size=c["vocab"],
                         max_position_embeddings=c["seq_len"], rms_norm_eps=1e-5, rope_theta=10000.0,
                         tie_word_embeddings=c["shared"], hidden_act="silu")
    model = LlamaForCausalLM(config).eval()
    model.load_state_dict(hf_state_dict(c, w), strict=True)
    with torch.no_grad():
        logits = model(torch.tensor([TOKENS])).logits[0].numpy()
    reference = llama2c_forward(c, w, np.array(TOKENS))
    err = np.abs(logits - reference).max()
    print(f"max |HF - llama2.c forward| = {err:.3g} (logits up to {np.abs(reference).max():.3g})")
    assert err < 1e-3, "the converted model disagrees with llama2.c's forward"

    OUT.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    np.save(OUT / "tokens.npy", np.array(TOKENS, dtype=np.int64))
    np.save(OUT / "logits.npy", logits.astype(np.float32))
    np.save(OUT / "q_proj_0.npy", sd["model.layers.0.self_attn.q_proj.weight"].numpy())
    np.save(OUT / "k_proj_0.npy", sd["model.layers.0.self_attn.k_proj.weight"].numpy())
    np.save(OUT / "k_proj_4.npy", sd["model.layers.4.self_attn.k_proj.weight"].numpy())
    (OUT / "config.json").write_text(json.dumps(config.to_diff_dict(), indent=1, sort_keys=True) + "\n")

    greedy, gap32, gap64 = greedy_continuation(model, c, w, 256)
    np.save(OUT / "greedy_256.npy", greedy)
    long_tokens = [1] + greedy.tolist()[:63]
    with torch.no_grad():
        long_logits = model(torch.tensor([long_tokens])).logits[0].numpy()
    err = np.abs(long_logits - llama2c_forward(c, w, np.array(long_tokens))).max()
    assert err < 1e-3, err
    np.save(OUT / "logits_long.npy", long_logits.astype(np.float32))
    print(f"greedy 256: min top1-top2 logit gap {gap32:.3g} (f32 HF), {gap64:.3g} (f64 numpy); "
          f"ids 1/2 at {[i for i, t in enumerate(greedy) if t in (1, 2)]}; long logits vs numpy {err:.3g}")


if __name__ == "__main__":
    main()
