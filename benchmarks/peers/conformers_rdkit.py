#!/usr/bin/env python3
"""Python RDKit peer of bench_conformers: the same calls molm's chem::embed makes, per molecule —
MolFromSmiles, AddHs, EmbedMolecule(ETKDGv3, randomSeed 42, one thread), a useRandomCoords retry
when that fails, MMFFOptimizeMolecule(maxIters=200) when MMFFHasAllMoleculeParams, RemoveHs — over
the first MOLM_BENCH_CONFORMERS_N (default 400) molecules of RDKit's NCI first_5K.smi, single
process and in a multiprocessing.Pool of MOLM_NUM_THREADS processes (how a Python pipeline would
use the cores: RDKit holds the GIL). Median of 3 runs. Prints {"bench", "shape", "dtype", "value"
(molecules/s), "unit", "peer_name"} lines; bench_conformers keys them by dtype "threads=N".
Needs Python RDKit (Debian: python3-rdkit, run with /usr/bin/python3).
"""
import json
import multiprocessing
import os

from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

from budget import median_seconds

RDLogger.DisableLog("rdApp.*")


def nci_smiles(n):
    for base in [os.environ.get("RDDATADIR", ""), os.path.join(os.environ.get("RDBASE", ""), "Data"),
                 "/usr/share/RDKit/Data"]:
        path = os.path.join(base, "NCI", "first_5K.smi")
        if base and os.path.exists(path):
            with open(path) as f:
                return [line.split()[0] for line in f if line.strip()][:n]
    raise SystemExit("first_5K.smi not found (apt-get install rdkit-data)")


def embed(smiles):
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return False
    mh = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = 42
    params.numThreads = 1
    if AllChem.EmbedMolecule(mh, params) < 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mh, params) < 0:
            return False
    if AllChem.MMFFHasAllMoleculeParams(mh):
        AllChem.MMFFOptimizeMolecule(mh, maxIters=200)
    Chem.RemoveHs(mh)
    return True




def main():
    n = int(os.environ.get("MOLM_BENCH_CONFORMERS_N", "400"))
    threads = int(os.environ.get("MOLM_NUM_THREADS", str(os.cpu_count())))
    smiles = nci_smiles(n)
    shape = f"nci{len(smiles)}"
    single = len(smiles) / median_seconds(lambda: [embed(s) for s in smiles], warmup=0, min_reps=3, min_time_s=0, max_reps=3)
    print(json.dumps({"bench": "conformers_etkdgv3_mmff94", "shape": shape, "dtype": "threads=1", "value": single,
                      "unit": "molecules/s", "peer_name": "python-rdkit"}), flush=True)
    if threads > 1:
        with multiprocessing.Pool(threads) as pool:
            rate = len(smiles) / median_seconds(lambda: pool.map(embed, smiles, chunksize=1), warmup=0, min_reps=3,
                                                   min_time_s=0, max_reps=3)
        print(json.dumps({"bench": "conformers_etkdgv3_mmff94", "shape": shape, "dtype": f"threads={threads}",
                          "value": rate, "unit": "molecules/s", "peer_name": f"python-rdkit Pool({threads})"}),
              flush=True)


if __name__ == "__main__":
    main()
