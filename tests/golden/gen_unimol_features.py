#!/usr/bin/env python3
"""Golden Uni-Mol input features for tests/golden/unimol_features_test.cpp.

Featurizes molecules with fixed coordinates through the reference code path, unimol-tools'
`coords2unimol` (unimol_tools/data/conformer.py, unimol-tools 0.1.6 from PyPI), and pads batches
with its `pad_1d_tokens` / `pad_coords` / `pad_2d` (the same functions as Uni-Core's
collate_tokens / collate_tokens_2d and 3D-MoLM's collate_tokens_coords), configured as 3D-MoLM's
D3Collater: pad to a multiple of 8, tokens with [PAD], coordinates, distances AND edge types with 0.

Two places where unimol-tools differs from 3D-MoLM, and what this script does about them:
- unimol-tools' own `Dictionary.__init__` pre-inserts [CLS], [UNK], [PAD], [SEP] (ids 0-3 in that
  order), Uni-Core's (used by 3D-MoLM and the released weights) does not, so dict.txt's order
  gives [PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3. `coords2unimol` takes the dictionary as an argument, so
  it is handed a Uni-Core-semantics dictionary here (asserted below).
- `coords2unimol` returns float32 coordinates, D3Dataset float64 (the same values: float32 numbers
  centred in float32, then concatenated with float64 zeros). Stored as float64.
Every molecule is also featurized by a transcription of D3Dataset_cid.__getitem__ (3D-MoLM
data_provider/unimol_dataset.py) and asserted bit-identical to coords2unimol's output.

Inputs: a few SMILES embedded once here (RDKit ETKDG, seed 42, MMFF); their coordinates are
stored, so the C++ test never needs RDKit. Outputs go to tests/golden/data/unimol_features/:
<name>_{xyz,tokens,coord,distance,edge_type}.npy per molecule, batch_<all|small>_*.npy, and
molecules.json (names, SMILES, atom symbols, batches).

The shared PubChem conformer of CID 1 (read with its hydrogens, removeHs=False) is featurized the
same way, but its coordinates are shared data and must not be committed in any form: only its
tokens and edge types (functions of the element types alone) are stored, cid1_{tokens,edge_type}.npy,
and for coordinates and distances cid1_digest.json holds dtype, shape and the FNV-1a 64 hash of the
exact bytes (C order, little-endian) of coord (float64) and distance (float32); C++ tests that read
the SDF compare against those (tests/chem/featurize_rdkit_test.cpp). `cid1_features` is also used
by gen_unimol.py. Without the SDF, CID 1's files are left as they are.

Run with a Python that has unimol-tools, rdkit, scipy, torch:

    python3 tests/golden/gen_unimol_features.py
"""
import json
import pathlib

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import AllChem
from scipy.spatial import distance_matrix

try:
    from unimol_tools.data.conformer import coords2unimol
    from unimol_tools.data.dictionary import Dictionary as ToolsDictionary
    from unimol_tools.utils.util import pad_1d_tokens, pad_2d, pad_coords
except ImportError as e:  # not in the common golden environment; see tests/golden/README.md
    raise SystemExit(f"gen_unimol_features.py needs unimol-tools (pip install --no-deps, see README): {e}")

HERE = pathlib.Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data"
OUT = HERE / "data" / "unimol_features"
DICT_TXT = SHARED / "unimol" / "dict.txt"
SDF = SHARED / "conformers" / "Conformer3D_COMPOUND_CID_1.sdf"

SMILES = [  # (name, SMILES): small, but every path: unknown elements, ions, one heavy atom
    ("ethanol", "CCO"),
    ("water", "O"),
    ("grignard", "C[Mg]Br"),  # Mg is not in the dictionary -> [UNK]
    ("sodium_acetate", "[Na+].CC(=O)[O-]"),
    ("boronic_acid", "OB(O)c1ccc(F)cc1Cl"),
    ("tms_triflate", "C[Si](C)(C)OS(=O)(=O)C(F)(F)F"),
    ("copper_sulfate", "[Cu+2].[O-]S(=O)(=O)[O-]"),  # Cu -> [UNK]
    ("dummy_atom", "*CCN"),  # RDKit symbol "*" -> [UNK]
]


class UniCoreDictionary(ToolsDictionary):
    """unimol-tools' Dictionary with Uni-Core's constructor: no symbols pre-inserted."""

    def __init__(self, *, bos="[CLS]", pad="[PAD]", eos="[SEP]", unk="[UNK]"):
        self.bos_word, self.unk_word, self.pad_word, self.eos_word = bos, unk, pad, eos
        self.symbols, self.count, self.indices = [], [], {}
        self.specials = {bos, unk, pad, eos}


def reference_d3dataset(atoms, coordinates, dictionary):
    """D3Dataset_cid.__getitem__ of 3D-MoLM, minus the LMDB and the crop (no molecule here needs one)."""
    atoms = np.array(atoms)
    coordinates = coordinates.astype(np.float32)
    mask_hydrogen = atoms != "H"
    if sum(mask_hydrogen) > 0:
        atoms = atoms[mask_hydrogen]
        coordinates = coordinates[mask_hydrogen]
    assert 0 < len(atoms) <= 256
    atom_vec = torch.from_numpy(dictionary.vec_index(atoms)).long()
    coordinates = coordinates - coordinates.mean(axis=0)
    atom_vec = torch.cat([torch.LongTensor([dictionary.bos()]), atom_vec, torch.LongTensor([dictionary.eos()])])
    coordinates = np.concatenate([np.zeros((1, 3)), coordinates, np.zeros((1, 3))], axis=0)
    edge_type = atom_vec.view(-1, 1) * len(dictionary) + atom_vec.view(1, -1)
    dist = distance_matrix(coordinates, coordinates).astype(np.float32)
    return atom_vec.numpy(), coordinates, edge_type.numpy(), dist


def reference_features(symbols, xyz, dictionary, name):
    """coords2unimol's features, asserted bit-identical to the D3Dataset transcription."""
    feat = coords2unimol(symbols, xyz, dictionary, max_atoms=256, remove_hs=True)
    tokens, coord, edge, dist = reference_d3dataset(symbols, xyz, dictionary)
    assert np.array_equal(feat["src_tokens"], tokens), name
    assert np.array_equal(feat["src_edge_type"], edge), name
    assert np.array_equal(feat["src_coord"].astype(np.float64), coord), name  # f32 values in both
    assert np.array_equal(feat["src_distance"], dist), name
    return {
        "tokens": tokens.astype(np.int64),
        "coord": coord.astype(np.float64),
        "distance": dist.astype(np.float32),
        "edge_type": edge.astype(np.int64),
    }


def reference_dictionary():
    """dict.txt with Uni-Core's semantics plus [MASK], as 3D-MoLM builds it."""
    dictionary = UniCoreDictionary.load(str(DICT_TXT))
    dictionary.add_symbol("[MASK]", is_special=True)
    assert len(dictionary) == 31 and dictionary.pad() == 0 and dictionary.bos() == 1
    assert dictionary.eos() == 2 and dictionary.unk() == 3 and dictionary.index("[MASK]") == 30
    return dictionary


def cid1_features(dictionary=None):
    """Reference features of the shared CID 1 conformer (hydrogens read, then dropped as the reference does)."""
    mol = Chem.MolFromMolFile(str(SDF), removeHs=False)
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    xyz = mol.GetConformer().GetPositions().astype(np.float64)
    return symbols, reference_features(symbols, xyz, dictionary or reference_dictionary(), "cid1")


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def digest(array):
    """dtype, shape and FNV-1a 64 of the C-order little-endian bytes: checks equality, reveals no value."""
    a = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return {"dtype": str(a.dtype), "shape": list(a.shape), "fnv1a64": f"{fnv1a64(a.tobytes()):016x}"}


def embed(smiles):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=42) == 0, smiles
    try:
        AllChem.MMFFOptimizeMolecule(mol)
    except Exception:  # no MMFF parameters (metals): keep the ETKDG geometry
        pass
    return mol


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*"):
        if SDF.exists() or not old.name.startswith("cid1_"):  # without the SDF, keep CID 1's files
            old.unlink()

    dictionary = reference_dictionary()
    tools_dict = ToolsDictionary.load(str(DICT_TXT))  # the quirk, documented by assertion
    assert [tools_dict.bos(), tools_dict.unk(), tools_dict.pad(), tools_dict.eos()] == [0, 1, 2, 3]

    molecules = [(name, smi, embed(smi)) for name, smi in SMILES]

    index = []
    features = {}
    for name, smiles, mol in molecules:
        symbols = [a.GetSymbol() for a in mol.GetAtoms()]
        xyz = mol.GetConformer().GetPositions().astype(np.float64)
        out = reference_features(symbols, xyz, dictionary, name)
        features[name] = out
        np.save(OUT / f"{name}_xyz.npy", xyz)
        for key, value in out.items():
            np.save(OUT / f"{name}_{key}.npy", value)
        index.append({"name": name, "smiles": smiles, "symbols": symbols})

    def collate(names):
        t = lambda k, dtype: [torch.from_numpy(features[n][k]).to(dtype) for n in names]
        return {
            "tokens": pad_1d_tokens(t("tokens", torch.long), pad_idx=dictionary.pad(), pad_to_multiple=8),
            "coord": pad_coords(t("coord", torch.float64), pad_idx=0, pad_to_multiple=8),
            "edge_type": pad_2d(t("edge_type", torch.long), pad_idx=0, pad_to_multiple=8),
            "distance": pad_2d(t("distance", torch.float32), pad_idx=0, pad_to_multiple=8),
        }

    batches = {"all": [m[0] for m in molecules], "small": ["water", "ethanol", "grignard"]}
    for bname, names in batches.items():
        for key, value in collate(names).items():
            np.save(OUT / f"batch_{bname}_{key}.npy", value.numpy())

    if SDF.exists():  # CID 1: element-derived arrays and digests only, never its coordinates
        symbols, cid1 = cid1_features(dictionary)
        np.save(OUT / "cid1_tokens.npy", cid1["tokens"])
        np.save(OUT / "cid1_edge_type.npy", cid1["edge_type"])
        (OUT / "cid1_digest.json").write_text(json.dumps({
            "sdf": str(SDF.relative_to(SHARED)), "atoms": len(symbols),
            "coord": digest(cid1["coord"]), "distance": digest(cid1["distance"])}, indent=1) + "\n")
    else:
        print(f"note: {SDF} absent, cid1_* left as they are")

    (OUT / "molecules.json").write_text(
        json.dumps({"dictionary": str(DICT_TXT.relative_to(SHARED)), "molecules": index, "batches": batches}, indent=1)
        + "\n"
    )
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
