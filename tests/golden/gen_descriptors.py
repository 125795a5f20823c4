#!/usr/bin/python3
"""Golden RDKit descriptors, functional groups and scaffolds for tests/chem/descriptors_test.cpp.

Run with Debian's Python RDKit 2022.09.3 (/usr/bin/python3; the pyenv `python3` has no rdkit), the
same RDKit that molm::chem links, so every value must come out identical:

    /usr/bin/python3 tests/golden/gen_descriptors.py

Molecules: every 12th line of RDKit's NCI sample (/usr/share/RDKit/Data/NCI/first_5K.smi) and a
handful of tricky SMILES (salts, charges, metals, isotopes, stereo, macrocycles, acyclic, lone atoms,
aromatic heterocycles, scaffold corner cases). Each is parsed with Chem.MolFromSmiles, as
chem::parse_smiles does. Writes tests/golden/data/descriptors/descriptors.tsv: a header line
naming the columns, then one molecule a line, tab-separated:

    smiles status mw exact logp tpsa hbd hba rotb rings arom heavy charge formula fr murcko generic

status is "ok", or "invalid" for an NCI line RDKit rejects (chem::parse_smiles must reject it too;
its other columns are empty). Floats are written with repr, so they read back bit-exact. fr lists
the nonzero fr_* counts in FragmentDescriptors.csv order as "fr_ester:1 fr_ether:2" (names as
Descriptors.fr_* has them). murcko / generic are empty for an acyclic molecule; generic is "<error>"
where Python's MakeScaffoldGeneric raises (the C++ must throw there too).
"""
import os
import pathlib
import sys

try:
    from rdkit import Chem, RDConfig, rdBase
except ImportError:  # a pyenv python3 without rdkit (the regeneration loop): hand over to Debian's
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", __file__] + sys.argv[1:])
    raise
from rdkit.Chem import Crippen, Descriptors, Fragments, rdMolDescriptors
from rdkit.Chem.Scaffolds import MurckoScaffold

assert rdBase.rdkitVersion == "2022.09.3", rdBase.rdkitVersion

NCI = pathlib.Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
OUT = pathlib.Path(__file__).resolve().parent / "data" / "descriptors" / "descriptors.tsv"
STRIDE = 12
COLUMNS = ["smiles", "status", "mw", "exact", "logp", "tpsa", "hbd", "hba", "rotb", "rings", "arom", "heavy", "charge",
           "formula", "fr", "murcko", "generic"]

TRICKY = [
    # salts and several fragments
    "[Na+].[Cl-]", "CC(=O)[O-].[Na+]", "C[NH3+].[Cl-]", "Cc1ccccc1.O.O", "c1ccccc1.C1CCCCC1",
    "OC(=O)CC(O)(CC(=O)O)C(=O)O.c1ccc2ccccc2c1",
    # charged
    "C[N+](C)(C)C", "[O-][n+]1ccccc1", "O=[N+]([O-])c1ccc(cc1)C(=O)[O-]", "[NH4+]",
    # metals
    "[Fe+2].[Cl-].[Cl-]", "[Fe].c1cc[cH-]c1.c1cc[cH-]c1", "C[Mg]Br", "N[Pt](N)(Cl)Cl", "[Cu]1OC(=O)CN1",
    # isotopes
    "[2H]C([2H])([2H])O", "[13CH3]c1ccccc1", "[13cH]1ccccc1CC", "[2H]c1ccccc1", "[18OH2]",
    # stereo
    "C[C@H](N)C(=O)O", "F/C=C/F", "C[C@H]1CC[C@@H](O)CC1", "O[C@H]1[C@@H](O)[C@H](O)[C@@H](O)[C@H](O)[C@@H]1O",
    # macrocycles
    "C1CCCCCCCCCCC1", "O=C1CCCCCCCCCCCCCCO1",
    "[C@H]1(O[C@H]2[C@H](C)[C@@H](O[C@@H]3O[C@H](C)C[C@H](N(C)C)[C@H]3O)[C@](C)(O)C[C@@H](C)C(=O)[C@H](C)[C@@H](O)[C@](C)(O)[C@@H](CC)OC(=O)[C@@H]2C)C[C@@](C)(OC)[C@@H](O)[C@H](C)O1",  # erythromycin, rooted at a sugar
    # acyclic
    "CCCCO", "CC(C)CC(=O)O", "CCOC(C)=O", "NCCCC[C@H](N)C(=O)O",
    # lone atoms and tiny molecules
    "C", "[He]", "O", "[Na+]", "[HH]", "[CH3]", "*c1ccccc1", "[H]C([H])([H])[H]",
    # aromatic heterocycles
    "c1ccncc1", "c1cc[nH]c1", "c1ccoc1", "c1ccsc1", "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "c1ccc2[nH]ccc2c1",
    "Cn1ccnc1", "c1cn[nH]n1", "c1ccc2ncccc2c1", "O=c1cc[nH]cc1",
    # scaffold corner cases: exocyclic double bonds, linkers, spiro, fused, bridged, hypervalent atoms
    "O=C1CCCCC1", "C=C1CCCCC1", "CC(=O)c1ccccc1", "O=S1(=O)CCCC1", "N#Cc1ccccc1", "C1CCC2(CC1)CCCC2",
    "C1CC1C1CC1", "c1ccc(cc1)Oc1ccccn1", "O=P1(O)OCCO1", "C1CC2CCC1C2", "CC1=CC(=O)C=CC1=O",
    "O=C(O)C1=CC=CC=C1OC(C)=O", "CC(C)(C)c1ccc(cc1)S(=O)(=O)N", "FS(F)(F)(F)(F)c1ccccc1",
    "c1ccc2c(c1)c1ccccc1[nH]2", "CC1(C)CC1", "C1=CC=C2C=CC=CC2=C1", "OB(O)c1ccccc1", "C[Si](C)(C)c1ccccc1",
    "O=C1NC(=O)C(=O)N1", "C1CCN(CC1)C(=O)c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
]


# The fr_* descriptors in FragmentDescriptors.csv order, each once: the file lists fr_sulfone twice
# (identical lines); Python's module keeps one function per name (the last), Descriptors has 85.
FR_NAMES = list(dict.fromkeys(name for name, _ in Fragments.fns))
assert len(FR_NAMES) == len([n for n, _ in Descriptors._descList if n.startswith("fr_")]) == 85


def generic_scaffold(mol):
    try:
        return Chem.MolToSmiles(MurckoScaffold.MakeScaffoldGeneric(MurckoScaffold.GetScaffoldForMol(mol)))
    except Exception:  # e.g. a 5-valent atom of the scaffold made carbon
        return "<error>"


def record(smiles):
    m = Chem.MolFromSmiles(smiles)
    if m is None:  # a few NCI lines do not sanitize; chem::parse_smiles must reject them too
        return [smiles, "invalid"] + [""] * (len(COLUMNS) - 2)
    fr = {}
    for name in FR_NAMES:
        count = getattr(Descriptors, name)(m)
        if count:
            fr[name] = count
    values = [smiles, "ok", Descriptors.MolWt(m), Descriptors.ExactMolWt(m), Crippen.MolLogP(m), Descriptors.TPSA(m),
              Descriptors.NumHDonors(m), Descriptors.NumHAcceptors(m), Descriptors.NumRotatableBonds(m),
              rdMolDescriptors.CalcNumRings(m), rdMolDescriptors.CalcNumAromaticRings(m),
              Descriptors.HeavyAtomCount(m), Chem.GetFormalCharge(m), rdMolDescriptors.CalcMolFormula(m),
              " ".join(f"{k}:{v}" for k, v in fr.items()), MurckoScaffold.MurckoScaffoldSmiles(mol=m),
              generic_scaffold(m)]
    return [repr(v) if isinstance(v, float) else str(v) for v in values]


def main():
    smiles = []
    with open(NCI) as f:
        for i, line in enumerate(f):
            if i % STRIDE == 0 and line.split():
                smiles.append(line.split()[0])
    smiles += TRICKY
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for s in smiles:
            row = record(s)
            assert len(row) == len(COLUMNS) and not any("\t" in v or "\n" in v for v in row), row
            f.write("\t".join(row) + "\n")
    print(f"wrote {len(smiles)} molecules to {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
