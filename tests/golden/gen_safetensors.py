#!/usr/bin/env python3
"""Golden safetensors file for tests/io/safetensors_test.cpp, written by the reference library.

Writes tests/golden/data/safetensors/reference.safetensors with safetensors.torch.save_file
(safetensors 0.8.0, torch 2.1.2): one tensor of each dtype molm reads (F64, F32, F16, BF16, I64,
I32, U8, BOOL), a scalar (shape []), a zero-size tensor, and a __metadata__ map. Next to it, the
expected values as <name>.npy; F16 and BF16 values are stored as float32 (exact: every 16-bit
float is a float32), since .npy has no bfloat16. Run from anywhere:

    python3 tests/golden/gen_safetensors.py
"""
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parent / "data" / "safetensors"
GEN = torch.Generator().manual_seed(20240611)


def uniform(shape, low=-1.0, high=1.0):
    return low + (high - low) * torch.rand(shape, generator=GEN, dtype=torch.float64)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    tensors = {
        "f64": uniform((2, 3)),
        "f32": uniform((3, 2, 2)).float(),
        "f16": uniform((5,), -100, 100).half(),
        "bf16": uniform((2, 4), -1e4, 1e4).bfloat16(),
        "i64": torch.randint(-2**62, 2**62, (4,), generator=GEN, dtype=torch.int64),
        "i32": torch.randint(-2**31, 2**31 - 1, (2, 2), generator=GEN, dtype=torch.int32),
        "u8": torch.randint(0, 256, (7,), generator=GEN, dtype=torch.uint8),
        "bool": torch.rand((3, 3), generator=GEN) > 0.5,
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "empty": torch.zeros((0, 4), dtype=torch.float32),
        # a name that needs JSON escaping and UTF-8
        "blocks.0.attn.q_proj.weight \"ü\"": uniform((2, 2)).float(),
    }
    metadata = {"format": "pt", "note": "molm golden file ü"}
    save_file(tensors, str(OUT / "reference.safetensors"), metadata=metadata)
    for name, t in tensors.items():
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        safe = name if name.isidentifier() or name.isalnum() else "escaped_name"
        np.save(OUT / f"{safe}.npy", t.numpy())


if __name__ == "__main__":
    main()
