#!/usr/bin/env python3
"""Golden values for tests/golden/lora_test.cpp: LoRA as Hugging Face PEFT 0.6.2 applies it to a tiny
LlamaForCausalLM (transformers 4.35.2), with 3D-MoLM's adapter settings (reference-model.md §5.6:
r 8, alpha 32, dropout 0.1, all seven Llama projections).

Writes tests/golden/data/lora/:
  adapter/adapter_model.safetensors,     what PeftModel.save_pretrained(dir, safe_serialization=True)
  adapter/adapter_config.json            writes (its README.md model card is dropped)
  peft_state_dict.safetensors            get_peft_model(...).state_dict(): base weights and LoRA, under
                                         PEFT's names ("base_model.model.<path>.lora_A.default.weight")
  peft_model.json                        PEFT's state_dict order, named_modules, and the trainable /
                                         total parameter counts print_trainable_parameters() reports
  <layer>/<dtype>/                       for two wrapped layers and dtype f64, f32, bf16:
     x.npy, y.npy, dx.npy, dA.npy, dB.npy   an input, the layer's output in eval mode (dropout off),
                                            and the gradients of L = sum(y * w) for x and lora_A/lora_B
                                            (w = linspace(0.5, 1.5, y.numel()), cast, shaped as y)
     merged_weight.npy                      the base weight after PEFT's merge()

Every value is f32-representable (the model is built in f32), so the f32 adapter file loads exactly
into the f64 model. lora_B is set to random values (PEFT initialises it to zero, which would make
every LoRA check trivial). Dtypes follow PEFT 0.6.2: the LoRA weights are created in f32 whatever the
base dtype, so the bf16 case is a bf16 base layer with f32 adapters (3D-MoLM's set-up); the f64 case
converts the whole model (model.double()), adapters included. bf16 tensors are stored as f32 .npy
(exact; numpy has no bf16).

    # one command: peft alone would upgrade torch and transformers
    pip install peft==0.6.2 accelerate==0.25.0 torch==2.1.2 transformers==4.35.2 "numpy<2"
    python3 tests/golden/gen_lora.py
"""
import json
import os
import pathlib
import shutil
import sys
import tempfile

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

OUT = pathlib.Path(__file__).resolve().parent / "data" / "lora"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LAYERS = ["model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"]  # square and [16, 32]
DTYPES = {"f64": torch.float64, "f32": torch.float32, "bf16": torch.bfloat16}


def tiny_llama():
    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64)
    return LlamaForCausalLM(config)


def peft_model(state_dict=None):
    torch.manual_seed(1234)
    config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=TARGETS, bias="none",
                        task_type="CAUSAL_LM")
    model = get_peft_model(tiny_llama(), config)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return model


def submodule(model, path):
    m = model.base_model.model
    for part in path.split("."):
        m = getattr(m, part)
    return m


def save(folder, name, t):
    np.save(folder / f"{name}.npy", t.detach().to(torch.float64 if t.dtype == torch.float64 else torch.float32).numpy())


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    model = peft_model()
    g = torch.Generator().manual_seed(20240611)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:  # PEFT starts B at zero; random values make the adapter visible
                p.copy_(torch.rand(p.shape, generator=g) * 0.2 - 0.1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    save_file(state, str(OUT / "peft_state_dict.safetensors"), metadata={"format": "pt"})

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    model.print_trainable_parameters()
    info = {
        "trainable_params": trainable,
        "all_params": total,
        "state_dict": [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in state.items()],
        "named_modules": [n for n, _ in model.named_modules()],
    }
    (OUT / "peft_model.json").write_text(json.dumps(info, indent=1) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        (OUT / "adapter").mkdir()
        for f in ("adapter_model.safetensors", "adapter_config.json"):
            shutil.copy(pathlib.Path(tmp) / f, OUT / "adapter" / f)

    for tag, dtype in DTYPES.items():
        m = peft_model(state)
        if dtype == torch.float64:
            m = m.double()  # everything, adapters included
        elif dtype == torch.bfloat16:  # PEFT 0.6.2 keeps the adapters in f32 on a bf16 base model
            for name, p in m.named_parameters():
                if "lora_" not in name:
                    p.data = p.data.to(dtype)
        m.eval()
        for i, path in enumerate(LAYERS):
            layer = submodule(m, path)
            folder = OUT / path / tag
            folder.mkdir(parents=True)
            x = (torch.rand(2, 3, layer.in_features, generator=torch.Generator().manual_seed(7 + i),
                            dtype=torch.float64) * 2 - 1).to(dtype).requires_grad_()
            y = layer(x)
            assert y.dtype == dtype
            w = torch.linspace(0.5, 1.5, y.numel(), dtype=torch.float64).to(dtype).reshape(y.shape)
            (y * w).sum().backward()
            save(folder, "x", x)
            save(folder, "y", y)
            save(folder, "dx", x.grad)
            save(folder, "dA", layer.lora_A["default"].weight.grad)
            save(folder, "dB", layer.lora_B["default"].weight.grad)
            layer.merge()
            save(folder, "merged_weight", layer.weight)


if __name__ == "__main__":
    # PEFT writes target_modules from a Python set: a fixed hash seed makes the file reproducible.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    main()
