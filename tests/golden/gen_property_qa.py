#!/usr/bin/env python3
"""Golden values for include/molm/metrics/property_qa.hpp: 3D-MoLM's computed-property QA scores
(read_generalist_results.py; reference-model.md §7.3) on ~240 crafted prediction/target pairs.

`reference_scores` transcribes the script's numeric branch: re.findall(r'-?\\d+\\.\\d+'), the first
match, the per-task windows, valid ratio = valid / all items of the task, MAE = np.mean(np.abs(
np.array(pred) - np.array(target))) over the valid items. Two departures, both where the script
cannot run: a task with no items is left out (the script divides by zero) and a task with no valid
item gets MAE NaN (np.mean([]), written as null). Tasks the script does not know get molm's
window 0 <= x < 1000, as property_qa.hpp gives them. The "corrected" syntax is molm's opt-in
r'-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?' with SCF Energy judged in eV (-1e7 < x < 0).

Recorded (tests/golden/data/property_qa/property_qa.json): the items (task, prediction, target),
for every distinct string the first match of both patterns (text, float value) or null, and the
per-task n / valid / MAE in both syntaxes.

  python3 tests/golden/gen_property_qa.py
"""
import json
import math
import pathlib
import random
import re

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/golden/data/property_qa"

REFERENCE = r'-?\d+\.\d+'
CORRECTED = r'-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?'
REFERENCE_TASKS = ['HOMO', 'LUMO', 'HOMO-LUMO Gap', 'SCF Energy', 'Molecular Weight', 'LogP',
                   'Topological Polar Surface Area', 'Complexity']
MOLM_TASKS = ['Hydrogen Bond Donor Count', 'Hydrogen Bond Acceptor Count', 'Ring Count']


def valid(task, x, corrected):
    # The script's if/elif chain (read_generalist_results.py), molm's window for other tasks.
    if task in ['HOMO', 'LUMO', 'HOMO-LUMO Gap']:
        return -20 < x < 20
    if task in ['SCF Energy']:
        return (-1e7 < x < 0) if corrected else (-5 < x < 0)
    if task in ['LogP']:
        return -30 < x < 50
    if task in ['Topological Polar Surface Area']:
        return 0 <= x < 2000
    if task in ['Complexity']:
        return 0 <= x < 10000
    if task in ['Molecular Weight']:
        return 0 < x < 4000
    return 0 <= x < 1000


def scores(items, corrected):
    pattern = CORRECTED if corrected else REFERENCE
    counter, prediction, targets = {}, {}, {}
    for t, p, g in items:
        if t in ['Description', 'Caption']:
            continue
        counter[t] = counter.get(t, 0) + 1
        prediction.setdefault(t, [])
        targets.setdefault(t, [])
        pre_matches = re.findall(pattern, p)
        tar_matches = re.findall(pattern, g)
        if len(pre_matches) > 0 and valid(t, float(pre_matches[0]), corrected):
            prediction[t].append(float(pre_matches[0]))
            targets[t].append(float(tar_matches[0]))
    order = [t for t in REFERENCE_TASKS if t in counter] + [t for t in counter if t not in REFERENCE_TASKS]
    out = {}
    for key in order:
        error = np.array(prediction[key]) - np.array(targets[key])
        mae = float(np.mean(np.abs(error))) if len(error) else None
        out[key] = {"n": counter[key], "valid": len(prediction[key]), "valid_ratio": len(prediction[key]) / counter[key],
                    "mae": mae}
    return out


# Predictions that probe the pattern: integers, scientific notation, signs, several numbers, no
# number, unicode digits and minus signs, malformed decimals.
CRAFTED = [
    "The {task} for the input molecule is {v:.3f} eV.", "{v:.2f}", "{v:.1f} g/mol", "{v:.0f}", "{i}",
    "The value is {v:.3e} eV.", "{v:.3e}", "{v:.3E}", "about -{a:.2f} or maybe {v:.2f}", "{v:.2f} and {w:.2f}",
    "no number here", "", "   ", "N/A", "-.5", "5.", "1.2.3", "--{a:.2f}", "- {a:.2f}", "+{a:.2f}",
    "\u2212{a:.2f}", "{a:.2f}-{b:.2f}", "x{v:.2f}y", "1,234.56", "{i}.{j}", "-{i}.", ".{j}", "{a:.2f}e",
    "{a:.2f}e+", "{a:.2f}e+5x", "1e5", "-1E-3", "1.5e400", "1e-400", "0.0", "-0.0", "-0.00",
    "0." + "0" * 330 + "1", "9" * 400 + ".5", "\u0663.\u0665", "\uff11\uff12.\uff15", "\U0001d7cf.\U0001d7d3",
    "\u0968\u096a.\u096b", "\u00b2.5", "\u2155 1.5", "\u2460.\u2461 2.5", "{v:.2f}\u00a0eV", "1\u202f234.5",
    "The {task} is {v:.4f}, not {w:.4f}.", "Respond: {v:.6f}", "{a:.3f}{b:.3f}", "-{a}-{b:.2f}",
    "1.5-2.5", "e1.5", "1.e5 2.5", "12e3.5", "-e-1.5", "1.2e-3e4", "3.14159\n2.71", "\t-7.25\t",
]


def fill(template, task, rng, value):
    w = value + rng.uniform(-3, 3)
    return template.format(task=task, v=value + rng.uniform(-1, 1) * abs(value) * 0.1, w=w, a=abs(value) + 0.5,
                           b=rng.uniform(0, 9), i=int(round(value)), j=rng.randint(0, 99))


def target_for(task, v):
    if task == "SCF Energy":
        return f"The {task} for the input molecule is {v:.3e} eV."
    if task in ("HOMO", "LUMO", "HOMO-LUMO Gap"):
        return f"The {task} for the input molecule is {v:.3f} eV."
    unit = " g/mol" if task == "Molecular Weight" else " \u00c5\u00b2" if task == "Topological Polar Surface Area" else ""
    return f"The {task} for the input molecule is {v:.2f}{unit}."


TYPICAL = {"HOMO": (-9, -4), "LUMO": (-3, 2), "HOMO-LUMO Gap": (2, 9), "SCF Energy": (-2.5e5, -2e3),
           "Molecular Weight": (50, 900), "LogP": (-5, 8), "Topological Polar Surface Area": (0, 250),
           "Complexity": (0, 1500), "Hydrogen Bond Donor Count": (0, 8), "Hydrogen Bond Acceptor Count": (0, 12),
           "Ring Count": (0, 6)}


def make_items():
    rng = random.Random(0)
    items = []
    tasks = REFERENCE_TASKS + MOLM_TASKS
    for n, template in enumerate(CRAFTED):
        for k in range(4 if n % 3 == 0 else 3):
            task = tasks[(n * 5 + k * 3) % len(tasks)]
            v = rng.uniform(*TYPICAL[task])
            if task in MOLM_TASKS:
                v = float(round(v))
            items.append((task, fill(template, task, rng, v), target_for(task, v)))
    # Window edges: exactly on and just beside each bound, as the prediction.
    edges = {"HOMO": [-20, 20], "SCF Energy": [-5, 0], "LogP": [-30, 50], "Topological Polar Surface Area": [0, 2000],
             "Complexity": [0, 10000], "Molecular Weight": [0, 4000], "Ring Count": [0, 1000]}
    for task, bounds in edges.items():
        for b in bounds:
            for d in (-0.001, 0.0, 0.001):
                items.append((task, f"{b + d:.3f}", target_for(task, rng.uniform(*TYPICAL[task]))))
    # Mantissa quirk of SCF Energy: a well-formed prediction read as its mantissa.
    for e in (3, 4, 5, 6):
        v = -rng.uniform(1, 9.9) * 10 ** e
        items.append(("SCF Energy", f"{v * (1 + rng.uniform(-0.05, 0.05)):.3e} eV", target_for("SCF Energy", v)))
    # Text tasks are skipped; an unknown task gets molm's window.
    items.append(("Description", "It is 1.5 times larger.", "A 2.5 description."))
    items.append(("Caption", "The molecule is 3.0.", "The molecule is 4.0."))
    items.append(("Boiling Point", "It boils at 351.50 K.", "The Boiling Point for the input molecule is 351.44."))
    items.append(("Boiling Point", "1500.00", "The Boiling Point for the input molecule is 351.44."))
    # A task whose predictions are all invalid (MAE NaN).
    items.append(("Melting Point", "three", "The Melting Point for the input molecule is 3.00."))
    items.append(("Melting Point", "3", "The Melting Point for the input molecule is 3.00."))
    rng.shuffle(items)
    return items


def first(pattern, s):
    m = re.findall(pattern, s)
    return [m[0], float(m[0])] if m else None


def main():
    items = make_items()
    # The float() of every first match must be finite or ±inf/0 as strtod gives; JSON cannot hold inf.
    strings = sorted({s for _, p, g in items for s in (p, g)})
    matches = []
    for s in strings:
        r, c = first(REFERENCE, s), first(CORRECTED, s)
        for m in (r, c):
            if m and math.isinf(m[1]):
                m[1] = "inf" if m[1] > 0 else "-inf"
        matches.append([s, r, c])
    fixture = {
        "generator": "tests/golden/gen_property_qa.py",
        "patterns": {"reference": REFERENCE, "corrected": CORRECTED},
        "items": [list(x) for x in items],
        "first_match": matches,
        "scores": {"reference": scores(items, False), "corrected": scores(items, True)},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "property_qa.json"
    path.write_text(json.dumps(fixture, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes, {len(items)} items, {len(strings)} strings")
    for syntax, s in fixture["scores"].items():
        for task, v in s.items():
            print(f"  {syntax:9s} {task:30s} n {v['n']:3d} valid {v['valid']:3d} mae {v['mae']}")


if __name__ == "__main__":
    main()
