#!/usr/bin/env python3
"""Small LMDB files in the two 3D-MoIT layouts (reference-model.md §8.3), for tests/data/moit_lmdb_test.cpp.

Written as the release writes them: single-file environments (subdir=False), values = pickles
(protocol 4 and 5) of dicts holding numpy arrays. Expected values go to expected.json (coordinates
as nested lists of floats that are exact in binary: multiples of 1/1024).

    python3 tests/golden/gen_moit_lmdb.py      # needs numpy and lmdb (pip install lmdb==1.4.1)
"""
import json
import os
import pickle

import lmdb
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "moit")


def conformer(n, k):
    rng = np.random.default_rng(100 + k)
    return (np.round(rng.uniform(-4, 4, size=(n, 3)) * 1024) / 1024).astype(np.float64)


def write(name, records, protocol):
    path = os.path.join(OUT, name)
    for p in (path, path + "-lock"):
        if os.path.exists(p):
            os.remove(p)
    env = lmdb.open(path, subdir=False, map_size=1 << 20)
    with env.begin(write=True) as txn:
        for key, value in records.items():
            txn.put(key.encode(), pickle.dumps(value, protocol=protocol))
    env.close()
    os.remove(path + "-lock")


def main():
    os.makedirs(OUT, exist_ok=True)
    pubchem = {
        "2244": {"atoms": ["C", "C", "O", "O", "H", "H"], "coordinates": [conformer(6, 0), conformer(6, 1)],
                 "smiles": "CC(=O)O", "description": "The molecule is acetic acid-like.",
                 "enriched_description": "An enriched text.", "cid": "2244"},
        "702": {"atoms": ["C", "C", "O", "H"], "coordinates": [conformer(4, 2)], "smiles": "CCO",
                "description": "The molecule is ethanol-like.", "enriched_description": None, "cid": 702},
    }
    pubchemqc = {
        "0": {"cid": "887", "coordinates_list": [conformer(3, 3)], "smi": "CO", "atoms": ["C", "O", "H"]},
    }
    write("pubchem.lmdb", pubchem, protocol=4)
    write("pubchemqc.lmdb", pubchemqc, protocol=5)

    expected = {}
    for file, recs in (("pubchem.lmdb", pubchem), ("pubchemqc.lmdb", pubchemqc)):
        expected[file] = {k: {"atoms": v["atoms"],
                              "conformers": [c.tolist() for c in v.get("coordinates", v.get("coordinates_list"))],
                              "smiles": v.get("smiles", v.get("smi")), "cid": str(v["cid"]),
                              "description": v.get("description") or "",
                              "enriched_description": v.get("enriched_description") or ""}
                          for k, v in recs.items()}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    main()
