#!/usr/bin/env python3
"""llama.cpp peer of bench_llama's TinyLlama decode line (llama-cpp-python, ggml's CPU backend), on
MOLM_NUM_THREADS threads.

  llama_decode@llama.cpp  tinyllama-1.1b:p16+48  f32, f16, bf16, int8 (Q8_0)
      A GGUF file of TinyLlama-1.1B's shape (llama architecture, 22 layers, 2048 wide, 32/4 heads, FFN 5632,
      vocab 32000, rms_norm_eps 1e-5, rope base 10000) with random weights is written with the `gguf`
      package: every 2-D tensor in the named type (the RMSNorm weights f32 ones, as llama.cpp's converter
      keeps 1-D tensors), each a repeated random row (speed does not depend on the values; Q/K are in
      llama.cpp's permuted layout in a real file, which random weights make irrelevant), and a minimal valid
      SentencePiece-style vocabulary of 32000 tokens (<unk>, <s>, </s>, the 256 byte tokens, then plain
      ones), never used (tokens are fed as ids). It is loaded with llama_cpp.Llama(path, n_threads=T,
      n_threads_batch=T, n_ctx=128, logits_all=False, verbose=False) (mmap on, llama.cpp's default), and
      decoded greedily as bench_llama does: Llama.eval of the 16 prompt ids, then 47 steps of argmax over
      the last logits + a single-token Llama.eval; tok/s = 47 / the time from the prompt's end to the last
      step's end (the prefill left out). Median of 3 runs after a warm-up run (which also pages the mapped
      file in). "prefill_tok_s" is recorded too.
      bf16 only where this llama.cpp's ggml has the type (GGML_TYPE_BF16), else skipped.

Files go to MOLM_BENCH_LLAMACPP_DIR (default /tmp/molm-bench-llamacpp), one at a time (f32 is 4.4 GB),
each deleted after its run. MOLM_BENCH_LLAMA_LAYERS=N (checking the script) writes N layers instead of 22;
the shape then gets a ":Nlayers" suffix.

Prints one JSON line per figure: {"bench", "shape", "dtype", "threads", "value" (tok/s), "unit",
"peer_name", "runs", "prefill_tok_s", "gguf_type", "llama_cpp_python_version"}.
"""
import ctypes
import json
import os
import time

import gguf
import llama_cpp
import numpy as np

N_VOCAB, N_EMBD, N_LAYER, N_FF, N_HEAD, N_HEAD_KV, N_CTX_TRAIN = 32000, 2048, 22, 5632, 32, 4, 2048
PROMPT, NEW_TOKENS = 16, 48
Q = gguf.GGMLQuantizationType


def threads():
    return int(os.environ.get("MOLM_NUM_THREADS") or len(os.sched_getaffinity(0)))


def n_layer():
    return int(os.environ.get("MOLM_BENCH_LLAMA_LAYERS") or N_LAYER)


def tensors():
    """(name, [out, in]) of every tensor, in llama.cpp's names; 1-D ones as [n]."""
    head_dim = N_EMBD // N_HEAD
    out = [("token_embd.weight", [N_VOCAB, N_EMBD])]
    for i in range(n_layer()):
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", [N_EMBD]),
                (b + "attn_q.weight", [N_EMBD, N_EMBD]),
                (b + "attn_k.weight", [N_HEAD_KV * head_dim, N_EMBD]),
                (b + "attn_v.weight", [N_HEAD_KV * head_dim, N_EMBD]),
                (b + "attn_output.weight", [N_EMBD, N_EMBD]),
                (b + "ffn_norm.weight", [N_EMBD]),
                (b + "ffn_gate.weight", [N_FF, N_EMBD]),
                (b + "ffn_up.weight", [N_FF, N_EMBD]),
                (b + "ffn_down.weight", [N_EMBD, N_FF])]
    out += [("output_norm.weight", [N_EMBD]), ("output.weight", [N_VOCAB, N_EMBD])]
    return out


def encoded_row(row, qtype):
    """One row of f32 values in the file's encoding: (array to tile, numpy dtype of it)."""
    if qtype == Q.F32:
        return row.astype(np.float32)
    if qtype == Q.F16:
        return row.astype(np.float16)
    if qtype == Q.BF16:  # the top 16 bits of the f32 (round toward zero; values do not matter)
        return (row.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    if qtype == Q.Q8_0:  # [in / 32 blocks × (f16 scale + 32 int8)] bytes
        return gguf.quants.quantize(row.astype(np.float32)[None, :], Q.Q8_0)[0]
    raise ValueError(qtype)


def write_gguf(path, qtype, seed=1):
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tinyllama-1.1b-random")
    w.add_context_length(N_CTX_TRAIN)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(n_layer())
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(N_VOCAB)
    # A minimal SentencePiece ("llama") vocabulary: <unk>, <s>, </s>, the 256 byte tokens, plain pieces.
    T = gguf.TokenType
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [T.UNKNOWN, T.CONTROL, T.CONTROL] + [T.BYTE] * 256
    tokens += [f"\u2581t{i}" for i in range(len(tokens), N_VOCAB)]
    types += [T.NORMAL] * (N_VOCAB - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(N_VOCAB)])
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)

    # Tensor infos first, then each tensor made and written in turn (one in memory at a time).
    rows = []
    for name, shape in tensors():
        if len(shape) == 1:
            data = np.ones(shape, dtype=np.float32)
            rows.append((data, None))
            w.add_tensor_info(name, shape, data.dtype, data.nbytes)
            continue
        row = encoded_row(rng.standard_normal(shape[1], dtype=np.float32) * 0.02, qtype)
        rows.append((row, shape[0]))
        w.add_tensor_info(name, [shape[0], row.shape[0]], row.dtype, shape[0] * row.nbytes, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for row, n_rows in rows:
        w.write_tensor_data(row if n_rows is None else np.tile(row, (n_rows, 1)))
    w.close()


def argmax_last(llm):
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
    return int(logits.argmax())


def decode_run(llm, prompt):
    """(prefill seconds, tok/s of the 47 single-token steps)."""
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    t1 = time.perf_counter()
    for _ in range(NEW_TOKENS - 1):
        llm.eval([argmax_last(llm)])
    t2 = time.perf_counter()
    argmax_last(llm)  # the 48th token (untimed, as in bench_llama it ends the loop)
    return t1 - t0, (NEW_TOKENS - 1) / (t2 - t1)


def main():
    n_threads = threads()
    directory = os.environ.get("MOLM_BENCH_LLAMACPP_DIR", "/tmp/molm-bench-llamacpp")
    os.makedirs(directory, exist_ok=True)
    shape = "tinyllama-1.1b:p16+48" + (f":{n_layer()}layers" if n_layer() != N_LAYER else "")
    prompt = [1 + (i * 7919) % (N_VOCAB - 1) for i in range(PROMPT)]
    has_bf16 = hasattr(llama_cpp, "GGML_TYPE_BF16") or hasattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_BF16")
    kinds = [("f32", Q.F32), ("f16", Q.F16)] + ([("bf16", Q.BF16)] if has_bf16 else []) + [("int8", Q.Q8_0)]
    for dname, qtype in kinds:
        path = os.path.join(directory, f"tinyllama-random-{dname}.gguf")
        try:
            write_gguf(path, qtype)
            llm = llama_cpp.Llama(model_path=path, n_threads=n_threads, n_threads_batch=n_threads, n_ctx=128,
                                  logits_all=False, verbose=False)
            decode_run(llm, prompt)  # warm-up
            runs = sorted(decode_run(llm, prompt) for _ in range(3))
            prefill = sorted(r[0] for r in runs)[1]
            tok_s = sorted(r[1] for r in runs)
            del llm
        finally:
            if os.path.exists(path):
                os.remove(path)
        print(json.dumps({"bench": "llama_decode@llama.cpp", "shape": shape, "dtype": dname, "threads": n_threads,
                          "value": tok_s[1], "unit": "tok/s", "peer_name": "llama.cpp", "runs": tok_s,
                          "prefill_tok_s": PROMPT / prefill, "gguf_type": qtype.name,
                          "llama_cpp_python_version": llama_cpp.__version__}), flush=True)


if __name__ == "__main__":
    main()
