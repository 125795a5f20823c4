#!/usr/bin/env python3
"""PyTorch peer of bench_io; also writes the files both sides load.

Writes MOLM_BENCH_IO_DIR (default /tmp/molm-bench-io)/model.safetensors and model.pt: 64 float32
tensors of 2048x2048 (1 GiB), once (kept for later runs). Then times, with a warm page cache,
"load every tensor and sum it" — the moment weights are usable — for safetensors.torch.load_file and
torch.load (the zip format, mmap=False as its default), the same job bench_io times in molm.
Prints one JSON line per figure: {"bench", "shape", "dtype", "threads", "value" (GB/s, median),
"unit", "peer_name"}.
"""
import json
import os

import torch
from safetensors.torch import load_file, save_file

from budget import median_seconds  # 1 warm-up (the page cache), then 5 loads

N_TENSORS, ROWS, COLS = 64, 2048, 2048
SHAPE = f"{N_TENSORS}x{ROWS}x{COLS}"


def files(directory):
    os.makedirs(directory, exist_ok=True)
    st, pt = os.path.join(directory, "model.safetensors"), os.path.join(directory, "model.pt")
    if not (os.path.exists(st) and os.path.exists(pt)):
        gen = torch.Generator().manual_seed(7)
        tensors = {f"layers.{i}.weight": torch.rand((ROWS, COLS), generator=gen) for i in range(N_TENSORS)}
        save_file(tensors, st)
        torch.save(tensors, pt)
    return st, pt




def touch(tensors):
    return sum(float(t.sum()) for t in tensors.values())


def main():
    threads = int(os.environ.get("MOLM_NUM_THREADS") or len(os.sched_getaffinity(0)))
    torch.set_num_threads(threads)
    st, pt = files(os.environ.get("MOLM_BENCH_IO_DIR", "/tmp/molm-bench-io"))
    gb = N_TENSORS * ROWS * COLS * 4 / 1e9
    for bench, path, load, name in (("load_safetensors", st, load_file, "safetensors.torch.load_file"),
                                    ("load_pt", pt, torch.load, "torch.load")):
        t = median_seconds(lambda: touch(load(path)), warmup=1, min_reps=5, min_time_s=0, max_reps=5)
        print(json.dumps({"bench": bench, "shape": SHAPE, "dtype": "f32", "threads": threads, "value": gb / t,
                          "unit": "GB/s", "peer_name": name}), flush=True)


if __name__ == "__main__":
    main()
