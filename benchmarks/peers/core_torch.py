#!/usr/bin/env python3
"""PyTorch peer of bench_core, on MOLM_NUM_THREADS threads: torch.sum and torch.mean of 64 MiB of
float32 (16 Mi elements), in GB/s read; eager_chain, y = y * a + b 500 times on 64-element float32
vectors (1,000 ops) under torch.no_grad() and recording the graph, in thousands of ops per second;
layer_norm, softmax (+ additive key-padding mask), gelu, silu at BERT-layer shapes in float32 and
bfloat16, forward and forward + backward, in millions of input elements per second (bench_core's
header lists the shapes).
Prints one JSON line per figure: {"bench", "shape", "dtype", "threads", "value" (median), "unit",
"peer_name"}.
"""
import json
import os

import torch

from budget import median_seconds

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


if __name__ == "__main__":
    main()
