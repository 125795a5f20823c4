#!/usr/bin/env python3
"""Golden torch.save checkpoints for tests/io/torch_checkpoint_test.cpp (torch 2.1.2, numpy 1.26).

Writes tests/golden/data/torch/:
  plain.pt            torch.save of an OrderedDict state dict: every dtype molm has (f64 f32 f16 bf16 i64
                      i32 u8 bool), a transposed (non-contiguous) tensor, a slice with a storage offset and
                      strides, two tensors sharing one storage, an nn.Parameter, a 0-d and an empty tensor
  lightning.ckpt      a Lightning-style checkpoint: epoch, global_step, state_dict (f32 + bf16),
                      optimizer_states (an Adam state), lr_schedulers, hyper_parameters (an AttributeDict
                      holding an argparse.Namespace), pytorch-lightning_version
  unimol.pt           a Uni-Mol / Uni-Core-style checkpoint: args (argparse.Namespace), model, extra_state
                      with a numpy float64 scalar and a numpy float32 array, optimizer_history,
                      last_optimizer_state; numpy globals written as numpy.core.multiarray, as numpy 1.x
                      (and the real mol_pre_no_h_220816.pt) do; records 64-byte aligned
  zip64.pt            plain.pt's records in a ZIP64 archive (64-bit sizes and offsets everywhere,
                      ZIP64 end of central directory); torch.load reads it
  zip64_local.pt      the same with ZIP64 extras in the local headers only (zipfile's force_zip64)
  deflated.pt         the same, every entry deflated (torch.load reads it; molm inflates and copies)
  *.expected.safetensors   every tensor of the file above (contiguous), by the dotted path molm gives it
  int8.pt             an f32 and an int8 tensor (int8 has no molm dtype)
  legacy.pt           torch.save(..., _use_new_zipfile_serialization=False)
  mal_*.pt            data.pkl calls os.system, posix.system, builtins.eval (Python 2 name),
                      subprocess.Popen, builtins.getattr via STACK_GLOBAL, torch + 'os.system', or hides
                      os.system next to valid weights
  recursive.pt        a list that contains itself; deep.pt: lists nested 1000 deep
  placeholder_in_state_dict.pt   an argparse.Namespace where a tensor belongs
  bad_view.pt         a tensor view reaching past its storage; short_record.pt: a record shorter than
                      its storage; missing_record.pt: a storage without a record; big_endian.pt
  bomb_pkl.pt         data.pkl deflated, declares 100 bytes, inflates to 2 MB
  bomb_declared.pt    data.pkl deflated, declares 200 MB from about 2 KB
  bomb_storage.pt     a storage record deflated, declares 16 bytes, inflates to 1 MB
  overlap.zip         two central directory records pointing at the same data; duplicate.zip: a name twice

Values are deterministic (seeded); torch.save writes a random .data/serialization_id, so bytes differ per run.
Run from anywhere:  python3 tests/golden/gen_torch_checkpoints.py
"""
import argparse
import collections
import io
import pathlib
import pickle
import struct
import sys
import types
import zipfile
import zlib

import numpy as np
import torch
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parent / "data" / "torch"
GEN = torch.Generator().manual_seed(20240612)


def uniform(shape, low=-1.0, high=1.0):
    return low + (high - low) * torch.rand(shape, generator=GEN, dtype=torch.float64)


# ---- naming: the dotted paths molm's TorchCheckpoint::tensors() gives ------------------------------

def flatten(obj, prefix, out):
    def child(key, value):
        flatten(value, f"{prefix}.{key}" if prefix else str(key), out)

    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, np.ndarray):
        out[prefix] = torch.from_numpy(obj.copy())
    elif isinstance(obj, dict):
        for k, v in obj.items():
            child(k, v)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            child(i, v)
    elif isinstance(obj, argparse.Namespace):
        for k, v in vars(obj).items():
            child(k, v)
    return out


def save_expected(name, obj):
    tensors = {k: v.detach().contiguous().clone() for k, v in flatten(obj, "", {}).items()}
    save_file(tensors, str(OUT / f"{name}.expected.safetensors"))


# ---- zip writing by hand: aligned records, optional ZIP64 ---------------------------------------------

def write_zip(path, entries, zip64=False, align=64):
    """Stored entries [(name, bytes)], data aligned to `align` bytes with a padding extra field."""
    out = bytearray()
    central = []
    for name, data in entries:
        name_b = name.encode()
        crc = zlib.crc32(data)
        offset = len(out)
        extra = b""
        if zip64:
            extra += struct.pack("<HHQQ", 0x0001, 16, len(data), len(data))
        pad = (-(offset + 30 + len(name_b) + len(extra) + 4)) % align
        extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # torch's "FB" padding field
        size32 = 0xFFFFFFFF if zip64 else len(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0, 0, 0, 0x21, crc, size32, size32,
                           len(name_b), len(extra))
        out += name_b + extra + data
        central.append((name_b, crc, len(data), offset))
    cd_offset = len(out)
    for name_b, crc, size, offset in central:
        if zip64:
            extra = struct.pack("<HHQQQ", 0x0001, 24, size, size, offset)
            size32, off32 = 0xFFFFFFFF, 0xFFFFFFFF
        else:
            extra, size32, off32 = b"", size, offset
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45 if zip64 else 20, 45 if zip64 else 20, 0, 0, 0, 0x21,
                           crc, size32, size32, len(name_b), len(extra), 0, 0, 0, 0, off32)
        out += name_b + extra
    cd_size = len(out) - cd_offset
    if zip64:
        eocd64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(central), len(central), cd_size, cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), cd_size, cd_offset, 0)
    pathlib.Path(path).write_bytes(bytes(out))


def overlap_zip(path):
    """Two central directory records ("archive/data/0", "archive/data/1") for one local header and its data."""
    write_zip(path, [("archive/data/0", b"0123456789abcdef")], align=1)
    data = bytearray(pathlib.Path(path).read_bytes())
    cd = data.find(b"PK\x01\x02")
    eocd = data.find(b"PK\x05\x06")
    record = bytes(data[cd:eocd])
    twin = record.replace(b"archive/data/0", b"archive/data/1")
    cd_size = len(record) * 2
    out = data[:cd] + record + twin + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, cd_size, cd, 0)
    pathlib.Path(path).write_bytes(bytes(out))


def torch_bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def entries_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def replace_entry(entries, suffix, data):
    return [(n, data if n.endswith(suffix) else d) for n, d in entries]


# ---- hand-made pickles for the malformed files ----------------------------------------------------------

class FakeStorage:
    def __init__(self, key, numel, storage_type="FloatStorage"):
        self.key, self.numel, self.storage_type = key, numel, storage_type


class FakeTensor:
    """Pickles as torch does: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", getattr(torch, obj.storage_type), obj.key, "cpu", obj.numel)
        return None


def fake_pickle(obj):
    buf = io.BytesIO()
    StoragePickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def torch_zip(path, pkl, records=None, byteorder=b"little", archive="archive"):
    entries = [(f"{archive}/data.pkl", pkl), (f"{archive}/byteorder", byteorder)]
    for key, data in (records or {}).items():
        entries.append((f"{archive}/data/{key}", data))
    entries.append((f"{archive}/version", b"3\n"))
    write_zip(path, entries)


def patch_declared_size(path, name, size):
    """Overwrite an entry's uncompressed size in its local header and its central directory record."""
    data = bytearray(pathlib.Path(path).read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    cd = data.find(b"PK\x01\x02")
    while cd >= 0:
        n = struct.unpack_from("<H", data, cd + 28)[0]
        if data[cd + 46:cd + 46 + n] == name.encode():
            struct.pack_into("<I", data, cd + 24, size)
            pathlib.Path(path).write_bytes(bytes(data))
            return
        cd = data.find(b"PK\x01\x02", cd + 4)
    raise RuntimeError("central record not found")


def deflated_zip(path, entries, deflate):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries:
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED)


# ---- the files -----------------------------------------------------------------------------------------------

def plain_state_dict():
    sd = collections.OrderedDict()
    sd["f64"] = uniform((2, 3))
    sd["f32"] = uniform((3, 4)).float()
    sd["f16"] = uniform((5,), -100, 100).half()
    sd["bf16"] = uniform((2, 2), -1e4, 1e4).bfloat16()
    sd["i64"] = torch.randint(-2**62, 2**62, (4,), generator=GEN, dtype=torch.int64)
    sd["i32"] = torch.randint(-2**31, 2**31 - 1, (3,), generator=GEN, dtype=torch.int32)
    sd["u8"] = torch.randint(0, 256, (6,), generator=GEN, dtype=torch.uint8)
    sd["bool"] = torch.rand((5,), generator=GEN) > 0.5
    sd["transposed"] = uniform((3, 4)).float().t()           # strides (1, 4)
    big = uniform((4, 6)).float()
    sd["sliced"] = big[1:3, 1::2]                              # offset 7, strides (6, 2); saves big's storage
    shared = uniform((12,)).float()
    sd["shared_a"] = shared[:6].view(2, 3)
    sd["shared_b"] = shared.view(3, 4)[1:]                     # same storage, offset 4
    sd["param"] = torch.nn.Parameter(uniform((3,)).float())
    sd["scalar"] = torch.tensor(2.5, dtype=torch.float64)
    sd["empty"] = torch.zeros((0, 3), dtype=torch.float32)
    assert not sd["transposed"].is_contiguous() and sd["sliced"].storage_offset() == 7
    assert sd["shared_a"].untyped_storage().data_ptr() == sd["shared_b"].untyped_storage().data_ptr()
    return sd


def fake_lightning_module():
    """pytorch_lightning is not installed: register a module with the same AttributeDict so the pickle names it."""
    mod = types.ModuleType("pytorch_lightning.utilities.parsing")

    class AttributeDict(dict):
        pass

    AttributeDict.__module__ = mod.__name__
    AttributeDict.__qualname__ = "AttributeDict"
    mod.AttributeDict = AttributeDict
    for name in ("pytorch_lightning", "pytorch_lightning.utilities"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules[mod.__name__] = mod
    return AttributeDict


def lightning_checkpoint():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(uniform(p.shape).float())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    model(uniform((2, 4)).float()).sum().backward()
    opt.step()
    sched.step()
    state = collections.OrderedDict((f"model.{k}", v) for k, v in model.state_dict().items())
    state["model.query_tokens"] = uniform((1, 2, 3)).bfloat16()
    AttributeDict = fake_lightning_module()
    hp = AttributeDict(args=argparse.Namespace(lr=1e-4, mode="pretrain", num_query_token=8), precision="bf16")
    return {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.0.2",
        "state_dict": state,
        "loops": {"fit_loop": {"epoch_progress": {"total": {"ready": 4}}}},
        "callbacks": {},
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [sched.state_dict()],
        "hyper_parameters": hp,
    }


def unimol_checkpoint():
    model = collections.OrderedDict()
    model["embed_tokens.weight"] = uniform((31, 8)).float()
    model["gbf.means.weight"] = uniform((1, 4)).float()
    model["encoder.layers.0.self_attn.in_proj.weight"] = uniform((24, 8)).float()
    model["encoder.layers.0.self_attn.in_proj.bias"] = uniform((24,)).float()
    args = argparse.Namespace(arch="unimol_base", encoder_layers=15, encoder_embed_dim=512, lr=[1e-4], seed=1,
                              mode="train", no_seed_provided=False)
    return {
        "args": args,
        "model": model,
        "optimizer_history": [{"criterion_name": "UniMolLoss", "optimizer_name": "Adam",
                               "lr_scheduler_state": {"best": np.float64(0.5)}, "num_updates": 1000}],
        "extra_state": {"metrics": {"best": np.float64(0.25), "count": np.int64(7)},
                        "train_iterator": {"epoch": 2, "shuffle": True},
                        "mean_std": np.arange(6, dtype=np.float32).reshape(2, 3) / 4},
        "last_optimizer_state": {"state": {0: {"exp_avg": uniform((3,)).float()}}, "param_groups": [{"lr": 1e-4}]},
    }


def malicious_pickles():
    def reduce_global(module, name, arg=b"X\x02\x00\x00\x00id"):
        return b"\x80\x02c" + module + b"\n" + name + b"\n" + arg + b"\x85R."

    def stack_global(module, name):
        s = lambda t: b"\x8c" + bytes([len(t)]) + t  # SHORT_BINUNICODE
        return b"\x80\x04" + s(module) + s(name) + b"\x93" + s(b"id") + b"\x85R."

    hidden = fake_pickle({"state_dict": {"w": FakeTensor(FakeStorage("0", 2), 0, [2], [1])}})
    assert hidden.endswith(b"ss.")  # inner['w'] = tensor; outer['state_dict'] = inner; STOP
    hidden = hidden[:-3] + b"X\x01\x00\x00\x00x" + reduce_global(b"os", b"system")[2:-1] + b"sss."  # inner['x'] = os.system('id')
    return {
        "mal_os_system": reduce_global(b"os", b"system"),
        "mal_posix_system": reduce_global(b"posix", b"system"),
        "mal_builtin_eval": reduce_global(b"__builtin__", b"eval", b"X\x0c\x00\x00\x00print('pwn')"),
        "mal_subprocess": reduce_global(b"subprocess", b"Popen"),
        "mal_stack_getattr": stack_global(b"builtins", b"getattr"),
        "mal_stack_os": stack_global(b"os", b"system"),
        "mal_dotted": stack_global(b"torch", b"os.system"),
        "mal_hidden": hidden,
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for f in OUT.iterdir():
        f.unlink()

    # -- real checkpoints + expected values
    sd = plain_state_dict()
    torch.save(sd, OUT / "plain.pt")
    save_expected("plain", sd)

    ck = lightning_checkpoint()
    torch.save(ck, OUT / "lightning.ckpt")
    save_expected("lightning", ck)

    um = unimol_checkpoint()
    entries = entries_of(torch_bytes(um))
    pkl = next(d for n, d in entries if n.endswith("/data.pkl"))
    pkl = pkl.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"numpy._core" not in pkl
    write_zip(OUT / "unimol.pt", replace_entry(entries, "/data.pkl", pkl))
    save_expected("unimol", um)

    write_zip(OUT / "zip64.pt", entries_of((OUT / "plain.pt").read_bytes()), zip64=True)
    back = torch.load(OUT / "zip64.pt")
    assert all(torch.equal(back[k], sd[k]) for k in sd)

    # the same records with ZIP64 extras in the local headers only (Python's force_zip64), and deflated
    with zipfile.ZipFile(OUT / "zip64_local.pt", "w") as z:
        for name, data in entries_of((OUT / "plain.pt").read_bytes()):
            with z.open(zipfile.ZipInfo(name), "w", force_zip64=True) as f:
                f.write(data)
    deflated_zip(OUT / "deflated.pt", entries_of((OUT / "plain.pt").read_bytes()),
                 {n for n, _ in entries_of((OUT / "plain.pt").read_bytes())})
    for path in ("zip64_local.pt", "deflated.pt"):
        back = torch.load(OUT / path)
        assert all(torch.equal(back[k], sd[k]) for k in sd)

    for path in ("unimol.pt",):
        back = torch.load(OUT / path)
        assert torch.equal(back["model"]["embed_tokens.weight"], um["model"]["embed_tokens.weight"])

    torch.save({"f32": uniform((3,)).float(), "i8": torch.tensor([-3, 0, 5], dtype=torch.int8)}, OUT / "int8.pt")
    torch.save({"w": uniform((2,)).float()}, OUT / "legacy.pt", _use_new_zipfile_serialization=False)

    # -- malicious and malformed pickles in valid containers
    two_floats = struct.pack("<2f", 1.5, -2.0)
    for name, pkl in malicious_pickles().items():
        torch_zip(OUT / f"{name}.pt", pkl, {"0": two_floats})
    torch_zip(OUT / "recursive.pt", b"\x80\x02]q\x00h\x00a.")
    torch_zip(OUT / "deep.pt", b"\x80\x02" + b"]" * 1000 + b"a" * 999 + b".")
    torch.save({"state_dict": {"w": torch.ones(2), "args": argparse.Namespace(lr=0.1)}},
               OUT / "placeholder_in_state_dict.pt")

    torch_zip(OUT / "bad_view.pt", fake_pickle({"w": FakeTensor(FakeStorage("0", 4), 2, [2, 2], [2, 1])}),
              {"0": struct.pack("<4f", 1, 2, 3, 4)})
    torch_zip(OUT / "short_record.pt", fake_pickle({"w": FakeTensor(FakeStorage("0", 4), 0, [4], [1])}),
              {"0": two_floats})
    torch_zip(OUT / "missing_record.pt", fake_pickle({"w": FakeTensor(FakeStorage("7", 2), 0, [2], [1])}),
              {"0": two_floats})
    torch_zip(OUT / "big_endian.pt", fake_pickle({"w": FakeTensor(FakeStorage("0", 2), 0, [2], [1])}),
              {"0": two_floats}, byteorder=b"big")

    # -- zip bombs
    good = fake_pickle({"w": FakeTensor(FakeStorage("0", 4), 0, [4], [1])})
    four_floats = struct.pack("<4f", 1, 2, 3, 4)
    base = [("archive/data.pkl", good), ("archive/byteorder", b"little"), ("archive/data/0", four_floats)]
    deflated_zip(OUT / "bomb_pkl.pt", replace_entry(base, "data.pkl", good + b"\0" * 2_000_000), {"archive/data.pkl"})
    patch_declared_size(OUT / "bomb_pkl.pt", "archive/data.pkl", 100)
    deflated_zip(OUT / "bomb_declared.pt", replace_entry(base, "data.pkl", good + b"\0" * 2_000_000),
                 {"archive/data.pkl"})
    patch_declared_size(OUT / "bomb_declared.pt", "archive/data.pkl", 200_000_000)
    deflated_zip(OUT / "bomb_storage.pt", replace_entry(base, "data/0", four_floats + b"\0" * 1_000_000),
                 {"archive/data/0"})
    patch_declared_size(OUT / "bomb_storage.pt", "archive/data/0", 16)

    # -- malformed containers: two entries sharing their data; one name twice
    overlap_zip(OUT / "overlap.zip")
    with zipfile.ZipFile(OUT / "duplicate.zip", "w") as z:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z.writestr("archive/data.pkl", b"\x80\x02N.")
            z.writestr("archive/data.pkl", b"\x80\x02K\x01.")

    total = sum(f.stat().st_size for f in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
