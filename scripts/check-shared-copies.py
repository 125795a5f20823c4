#!/usr/bin/env python3
"""Report committed files that copy text from ../shared/data (the project never stores it).

Every line of the shared data's text files (gzip included) is cut into 48-character windows every 8
characters; a tracked file that contains any of them is reported with the count and one example. A
SMILES of a well-known molecule can match by coincidence; read each hit before acting on it.

    python3 scripts/check-shared-copies.py [--data DIR] [--window 48]
Exit status 1 when something matched, 0 otherwise.
"""
import argparse
import gzip
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def shared_texts(data):
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
        if b"\0" in raw[:4096]:
            continue  # binary: models, weights
        yield raw.decode("utf-8", errors="replace")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=pathlib.Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--window", type=int, default=48)
    args = parser.parse_args()
    k = args.window
    windows = set()
    for text in shared_texts(args.data):
        for line in text.split("\n"):
            windows.update(line[i:i + k] for i in range(0, len(line) - k + 1, 8))
    found = 0
    for name in subprocess.check_output(["git", "ls-files"], cwd=ROOT, text=True).split("\n"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace").replace("\\n", "\n")
        hits = [text[i:i + k] for i in range(len(text) - k + 1) if text[i:i + k] in windows]
        if hits:
            found += 1
            print(f"{name}: {len(hits)} windows, e.g. {hits[0]!r}")
    print(f"{found} files copy shared text ({len(windows)} windows of {k} characters)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
