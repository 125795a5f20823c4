#!/usr/bin/env python3
"""Python peer of bench_text, on the 3,301 ChEBI-20 validation descriptions, one thread:
transformers 4.35's slow BertTokenizer (SciBERT vocab.txt, + [DEC]) and LlamaTokenizer (Llama-2
tokenizer.model as 3D-MoLM configures it) `tokenize()` of each description (MB/s of UTF-8), and
NLTK 3.8.1 meteor_score / rouge-score 0.1.2 RougeScorer(rouge1, rouge2, rougeL) of each description
against the same deterministic perturbation bench_text makes (drops, swaps, plurals) (pairs/s). Median of 3 runs. Prints
{"bench", "shape", "dtype", "value", "unit", "peer_name"} lines. Missing data or packages leave a
figure out (bench_text then reports peer null). Named *_torch.py so benchmarks/run.sh runs it with
its Python.
"""
import json
import os
import pathlib
import sys
import tempfile
from budget import median_seconds
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(os.environ.get("MOLM_DATA_DIR") or ROOT.parent / "shared" / "data")


def descriptions():
    lines = (DATA / "chebi20/validation.txt").read_text(encoding="utf-8").split("\n")[1:]
    return [line.split("\t")[2] for line in lines if line.count("\t") >= 2]


def hypothesis(reference):
    kept = [w for i, w in enumerate(reference.split()) if i % 7 != 3]
    for i in range(len(kept) - 1):
        if i % 5 == 1:
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
    for i in range(len(kept)):
        if i % 6 == 2:
            kept[i] += "s"
    return " ".join(kept)




def median_seconds_3(fn):
    """3 timed runs, no warm-up: bench_text's budget."""
    return median_seconds(fn, warmup=0, min_reps=3, min_time_s=0, max_reps=3)


def emit(bench, shape, dtype, value, unit, peer_name):
    print(json.dumps({"bench": bench, "shape": shape, "dtype": dtype, "value": value, "unit": unit,
                      "peer_name": peer_name}), flush=True)


def main():
    if not (DATA / "chebi20/validation.txt").exists():
        print(f"text_torch.py: no {DATA}/chebi20/validation.txt", file=sys.stderr)
        return
    refs = descriptions()
    shape = f"chebi20_val{len(refs)}"
    nbytes = sum(len(r.encode("utf-8")) for r in refs)

    try:
        from transformers import BertTokenizer, LlamaTokenizer
        vocab = DATA / "tokenizers/scibert/vocab.txt"
        if vocab.exists():
            bert = BertTokenizer(str(vocab))
            bert.add_special_tokens({"bos_token": "[DEC]"})
            s = median_seconds_3(lambda: [bert.tokenize(r) for r in refs])
            emit("tokenize_wordpiece_scibert", shape, "utf8", nbytes / s / 1e6, "MB/s", "BertTokenizer (slow)")
        model = DATA / "tokenizers/llama2/tokenizer.model"
        if model.exists():
            llama = LlamaTokenizer(str(model), legacy=True)
            llama.add_special_tokens({"pad_token": "[PAD]"})
            llama.add_special_tokens({"additional_special_tokens": ["<mol>"]})
            s = median_seconds_3(lambda: [llama.tokenize(r) for r in refs])
            emit("tokenize_llama2", shape, "utf8", nbytes / s / 1e6, "MB/s", "LlamaTokenizer (slow)")
    except ImportError as e:
        print(f"text_torch.py: {e}", file=sys.stderr)

    hyps = [hypothesis(r) for r in refs]
    try:
        from rouge_score import rouge_scorer
        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
        s = median_seconds_3(lambda: [scorer.score(r, h) for r, h in zip(refs, hyps)])
        emit("rouge_1_2_L", shape, "f64", len(refs) / s, "pairs/s", "rouge-score RougeScorer")
    except ImportError as e:
        print(f"text_torch.py: {e}", file=sys.stderr)

    try:
        sys.path.insert(0, str(ROOT / "tests/golden"))
        from gen_caption_metrics import open_wordnet  # WordNet from Debian's wordnet-base, nothing downloaded
        from nltk.translate.meteor_score import meteor_score
        if pathlib.Path("/usr/share/wordnet/index.noun").exists():
            with tempfile.TemporaryDirectory() as tmp:
                wn = open_wordnet(pathlib.Path(tmp))
                pairs = [([r.split()], h.split()) for r, h in zip(refs, hyps)]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = median_seconds_3(lambda: [meteor_score(r, h, wordnet=wn) for r, h in pairs])
                emit("meteor", shape, "f64", len(refs) / s, "pairs/s", "nltk meteor_score")
    except ImportError as e:
        print(f"text_torch.py: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
