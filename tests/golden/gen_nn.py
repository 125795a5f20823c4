#!/usr/bin/env python3
"""Golden values for tests/golden/nn_test.cpp, computed with PyTorch (2.1.2).

Writes small .npy files to tests/golden/data/nn/: for each case and each dtype (f64, f32) the
inputs, the outputs, a fixed weight w, and the gradients of the weighted-sum loss L = sum(y * w)
with respect to every differentiable input (for a scalar output, L = y). Files are named
<case>_<dtype>_<tensor>.npy. Run from anywhere:

    python3 tests/golden/gen_nn.py

Cases: softmax with a broadcast additive mask (partly and fully -inf rows), log_softmax with a
-inf mask and without, layer_norm with weight and bias, rms_norm (HF LlamaRMSNorm, also in bf16,
forward only, stored as f32), gelu (erf and tanh), cross_entropy with ignore_index and
label_smoothing 0.1 (reductions mean, sum, none) and without smoothing.

Where molm documents a different convention from PyTorch, the expected values are adjusted here,
visibly: a softmax row whose entries are all -inf is 0 with zero gradient in molm (PyTorch: NaN).
"""
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent / "data" / "nn"
DTYPES = {"f64": torch.float64, "f32": torch.float32}
GEN = torch.Generator().manual_seed(20240607)


def uniform(shape, low=-1.0, high=1.0):
    return low + (high - low) * torch.rand(shape, generator=GEN, dtype=torch.float64)


def save(case, dtype, tensors):
    for name, t in tensors.items():
        np.save(OUT / f"{case}_{dtype}_{name}.npy", t.detach().cpu().numpy())


def run_case(case, inputs, grad_names, fn, post=None):
    """inputs: name -> float64 tensor (cast per dtype); grad_names: inputs to differentiate.
    fn(**inputs) returns the output; post(dict) may adjust the expected values."""
    w64 = None
    for dname, dtype in DTYPES.items():
        xs = {k: v.detach().to(dtype).clone().requires_grad_(k in grad_names) if v.is_floating_point() else v
              for k, v in inputs.items()}
        y = fn(**xs)
        if y.dim() == 0:
            loss, w = y, None
        else:
            if w64 is None:
                w64 = uniform(y.shape, 0.5, 1.5)
            w = w64.to(dtype)
            if hasattr(fn, "weight_mask"):  # zero weight where the output is -inf (see log_softmax)
                w = w * fn.weight_mask(y)
            # masked_fill keeps 0 * -inf from making the loss NaN; it passes no gradient where w = 0.
            loss = (y.masked_fill(w == 0, 0) * w).sum()
        grads = torch.autograd.grad(loss, [xs[k] for k in grad_names])
        out = dict(xs)
        out["y"] = y
        if w is not None:
            out["w"] = w
        for k, g in zip(grad_names, grads):
            out["d" + k] = g
        if post:
            post(out)
        save(case, dname, out)


def softmax_mask():
    # Scores [B, H, N, N] = [2, 3, 4, 5] with a mask [2, 1, 4, 5] broadcast over heads:
    # batch 0 row 2 is fully masked, row 0 masks key 1; batch 1 masks keys 3 and 4 of row 1.
    x = uniform((2, 3, 4, 5), -3, 3)
    mask = uniform((2, 1, 4, 5), -2, 0)
    mask[0, 0, 2, :] = -float("inf")
    mask[0, 0, 0, 1] = -float("inf")
    mask[1, 0, 1, 3:] = -float("inf")

    def post(out):
        # molm: a fully masked row is 0 with zero gradient; PyTorch gives NaN exactly there.
        full = torch.isinf(out["mask"]).all(-1, keepdim=True)
        for k in ("y", "dx"):
            assert torch.isnan(out[k]).eq(full.expand_as(out[k])).all(), k
            out[k] = torch.where(full, 0.0, out[k])
        assert torch.isnan(out["dmask"]).eq(full).all()
        out["dmask"] = torch.where(full, 0.0, out["dmask"])

    run_case("softmax_mask", {"x": x, "mask": mask}, ["x", "mask"], lambda x, mask: torch.softmax(x + mask, -1), post)


def log_softmax_mask():
    # log_softmax is -inf at masked entries; the loss weight is 0 there (a finite loss), which is
    # also where molm's zero gradient for masked entries and PyTorch's formula agree.
    x = uniform((3, 7), -3, 3)
    mask = uniform((3, 7), -2, 0)
    mask[0, 2] = mask[1, 0] = mask[1, 6] = mask[2, 3] = -float("inf")

    def fn(x, mask):
        return torch.log_softmax(x + mask, -1)

    fn.weight_mask = lambda y: torch.isfinite(y).to(y.dtype)
    run_case("log_softmax_mask", {"x": x, "mask": mask}, ["x", "mask"], fn)
    run_case("log_softmax", {"x": uniform((4, 9), -4, 4)}, ["x"], lambda x: torch.log_softmax(x, -1))


def layer_norm():
    x = uniform((4, 6, 16), -2, 3)
    w, b = uniform((16,), 0.5, 1.5), uniform((16,))
    run_case("layer_norm", {"x": x, "weight": w, "bias": b}, ["x", "weight", "bias"],
             lambda x, weight, bias: F.layer_norm(x, (16,), weight, bias, 1e-5))


def hf_rms_norm(hidden_states, weight, eps=1e-6):
    """transformers 4.35 LlamaRMSNorm.forward, verbatim in behaviour. For f64 input molm stays in
    double instead of float32, so the f64 case uses the same formula without the float32 cast."""
    input_dtype = hidden_states.dtype
    compute = torch.float64 if input_dtype == torch.float64 else torch.float32
    hidden_states = hidden_states.to(compute)
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    hidden_states = hidden_states * torch.rsqrt(variance + eps)
    return weight * hidden_states.to(input_dtype)


def rms_norm():
    x, w = uniform((4, 6, 16), -2, 3), uniform((16,), 0.5, 1.5)
    run_case("rms_norm", {"x": x, "weight": w}, ["x", "weight"], lambda x, weight: hf_rms_norm(x, weight))
    # bf16 forward: .npy has no bf16, so inputs and output are stored as f32 (exactly representable).
    xb, wb = uniform((8, 64), -3, 3).bfloat16(), uniform((64,), 0.5, 1.5).bfloat16()
    save("rms_norm", "bf16", {"x": xb.float(), "weight": wb.float(), "y": hf_rms_norm(xb, wb).float()})


def gelu():
    x = uniform((64,), -4, 4)
    run_case("gelu_erf", {"x": x}, ["x"], lambda x: F.gelu(x))
    run_case("gelu_tanh", {"x": x}, ["x"], lambda x: F.gelu(x, approximate="tanh"))


def cross_entropy():
    logits = uniform((6, 10), -3, 3)
    targets = torch.tensor([3, -100, 0, 9, -100, 5], dtype=torch.int64)
    for case, smoothing, reduction in (("ce_smooth_mean", 0.1, "mean"), ("ce_smooth_sum", 0.1, "sum"),
                                       ("ce_smooth_none", 0.1, "none"), ("ce_mean", 0.0, "mean")):
        run_case(case, {"logits": logits, "targets": targets}, ["logits"],
                 lambda logits, targets, s=smoothing, r=reduction: F.cross_entropy(
                     logits, targets, ignore_index=-100, label_smoothing=s, reduction=r))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.npy"):
        old.unlink()
    softmax_mask()
    log_softmax_mask()
    layer_norm()
    rms_norm()
    gelu()
    cross_entropy()
    files = sorted(OUT.glob("*.npy"))
    print(f"wrote {len(files)} files, {sum(f.stat().st_size for f in files)} bytes to {OUT}")


if __name__ == "__main__":
    main()
