#!/usr/bin/env python3
"""PyTorch peer of bench_gemm: torch.matmul on the same shapes and dtypes, same thread count.

Prints one JSON line per (shape, dtype): {"bench": "gemm", "shape": "MxKxN", "dtype", "threads",
"value" (GFLOP/s, median after warm-up), "unit", "peer_name": "torch"}. Threads: MOLM_NUM_THREADS,
else all cores available to this process. run.sh hands the output to bench_gemm as --peers FILE.
"""
import json
import os
import time

import torch

SHAPES = [(544, 512, 2048), (544, 2048, 512), (128, 4096, 4096), (128, 11008, 4096), (1152, 768, 3072),
          (4096, 4096, 4096)]
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def median_seconds(fn, flops):
    """Same budget as bench.hpp: 2 warm-up calls (1 when big), then >= 5 repetitions and >= 2 s."""
    for _ in range(1 if flops > 2e10 else 2):
        fn()
    samples, start = [], time.perf_counter()
    while len(samples) < 5 or (time.perf_counter() - start < 2.0 and len(samples) < 1000):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    n = len(samples)
    return samples[n // 2] if n % 2 else 0.5 * (samples[n // 2 - 1] + samples[n // 2])


def main():
    threads = int(os.environ.get("MOLM_NUM_THREADS") or len(os.sched_getaffinity(0)))
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(2024)
    for m, k, n in SHAPES:
        for dname, dtype in DTYPES.items():
            a = (torch.rand((m, k), generator=gen) * 2 - 1).to(dtype)
            b = (torch.rand((k, n), generator=gen) * 2 - 1).to(dtype)
            flops = 2.0 * m * k * n
            with torch.no_grad():
                t = median_seconds(lambda: torch.matmul(a, b), flops)
            print(json.dumps({"bench": "gemm", "shape": f"{m}x{k}x{n}", "dtype": dname, "threads": threads,
                              "value": flops / t * 1e-9, "unit": "GFLOP/s", "peer_name": "torch"}), flush=True)


if __name__ == "__main__":
    main()
