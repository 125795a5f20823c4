#!/usr/bin/env python3
"""PyTorch peer of bench_gemm: torch.matmul on the same shapes and dtypes, same thread count.

Prints one JSON line per (shape, dtype): {"bench": "gemm", "shape": "MxKxN", "dtype", "threads",
"value" (GFLOP/s, median after warm-up), "unit", "peer_name": "torch"}. Threads: MOLM_NUM_THREADS,
else all cores available to this process. run.sh hands the output to bench_gemm as --peers FILE.
"""
import json
import os

import torch

from budget import median_seconds  # bench.hpp's budget: 2 warm-ups (1 when big), >= 5 reps and >= 2 s

SHAPES = [(544, 512, 2048), (544, 2048, 512), (128, 4096, 4096), (128, 11008, 4096), (1152, 768, 3072),
          (4096, 4096, 4096)]
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}




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
                t = median_seconds(lambda: torch.matmul(a, b), warmup=1 if flops > 2e10 else 2)
            print(json.dumps({"bench": "gemm", "shape": f"{m}x{k}x{n}", "dtype": dname, "threads": threads,
                              "value": flops / t * 1e-9, "unit": "GFLOP/s", "peer_name": "torch"}), flush=True)


if __name__ == "__main__":
    main()
