#!/usr/bin/env python3
"""PyTorch peer of bench_core, on MOLM_NUM_THREADS threads: torch.sum and torch.mean of 64 MiB of
float32 (16 Mi elements), in GB/s read; eager_chain, y = y * a + b 500 times on 64-element float32
vectors (1,000 ops) under torch.no_grad() and recording the graph, in thousands of ops per second.
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


if __name__ == "__main__":
    main()
