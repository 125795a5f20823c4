#!/usr/bin/env python3
"""PyTorch peer of bench_core: torch.sum and torch.mean of 64 MiB of float32 (16 Mi elements), on
MOLM_NUM_THREADS threads. Prints one JSON line per figure: {"bench", "shape", "dtype", "threads",
"value" (GB/s read, median), "unit", "peer_name"}.
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


if __name__ == "__main__":
    main()
