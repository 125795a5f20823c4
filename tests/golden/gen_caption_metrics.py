#!/usr/bin/env python3
"""Golden values for include/molm/metrics (BLEU, ROUGE, METEOR, the Porter stemmer, WordNet lookups,
Python's str.lower/split) as 3D-MoLM's caption_evaluate computes them (reference-model.md §7.2):
NLTK 3.8.1 corpus_bleu / meteor_score, rouge-score 0.1.2 RougeScorer.

Pairs: ~400 ChEBI-20 validation descriptions (../shared/data/chebi20/validation.txt) as references,
each with a hypothesis made from it by a seeded edit (identical, word drops, swaps, WordNet synonym
replacements, inflections, truncations, shuffles, upper case, unicode, unrelated descriptions,
empty and white-space-only strings).

Recorded (tests/golden/data/caption_metrics/):
- caption_metrics.json: per pair METEOR, sentence BLEU-2/4 and ROUGE-1/2/L (P, R, F); corpus BLEU-2/4
  over all pairs and over each edit kind; tokens for BLEU/METEOR = str.split() of the raw strings,
  ROUGE on the raw strings. Also per-pair METEOR and corpus BLEU in the two piece conventions of
  §7.2 (SciBERT WordPiece pieces, Llama SentencePiece pieces, transformers 4.35.2), compared in
  C++ by tests/text/caption_conventions_test.cpp with molm's tokenizers. Plus NLTK's wordnet.synsets() of ~400 words,
  Porter stems of tricky words, and str.lower()/str.split() of unicode strings.
- porter_chebi.txt: NLTK's Porter stem of every distinct lower-cased str.split() token of the
  validation descriptions, in sorted order, one per line as "<chars dropped from the word><added>"
  (the C++ test rebuilds the word list from the shared data file).

NLTK needs its WordNet corpus; nothing is downloaded: a WordNetCorpusReader reads a temporary copy of
Debian's wordnet-base (/usr/share/wordnet) plus the `lexnames` file Debian lacks, written here.

  pip install nltk==3.8.1 rouge-score==0.1.2 transformers==4.35.2 sentencepiece==0.1.99
  python3 tests/golden/gen_caption_metrics.py
"""
import json
import os
import pathlib
import random
import shutil
import sys
import tempfile
import warnings

import nltk
import numpy as np
import rouge_score
from nltk.corpus.reader.wordnet import WordNetCorpusReader
from nltk.stem.porter import PorterStemmer
from nltk.translate.bleu_score import corpus_bleu, sentence_bleu
from nltk.translate.meteor_score import meteor_score
from rouge_score import rouge_scorer

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("MOLM_DATA_DIR", ROOT.parent / "shared" / "data"))
OUT = ROOT / "tests/golden/data/caption_metrics"
WORDNET = pathlib.Path("/usr/share/wordnet")

LEXNAMES = """adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body
noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive
noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation
noun.shape noun.state noun.substance noun.time verb.body verb.change verb.cognition verb.communication
verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion verb.perception
verb.possession verb.social verb.stative verb.weather adj.ppl""".split()
LEX_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

N_PAIRS = 400
COLUMNS = ["meteor", "bleu2", "bleu4", "rouge1.p", "rouge1.r", "rouge1.f", "rouge2.p", "rouge2.r", "rouge2.f",
           "rougeL.p", "rougeL.r", "rougeL.f", "meteor_scibert", "meteor_llama"]


def value(sample, column):
    name, _, part = column.partition(".")
    return sample[name]["prf".index(part)] if part else sample[name]


def open_wordnet(tmp):
    assert len(LEXNAMES) == 45
    for name in os.listdir(WORDNET):
        if name.startswith(("data.", "index.")) or name.endswith(".exc"):
            shutil.copy(WORDNET / name, tmp / name)
    with open(tmp / "lexnames", "w") as f:
        for i, name in enumerate(LEXNAMES):
            f.write(f"{i:02d}\t{name}\t{LEX_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return WordNetCorpusReader(str(tmp), None)


def read_descriptions():
    lines = (SHARED / "chebi20/validation.txt").read_text(encoding="utf-8").split("\n")[1:]
    return [line.split("\t")[2] for line in lines if line]


UNICODE_WORDS = ["α-D-glucose", "β-lactam", "25 ℃", "naïve", "Ångström", "ÉTHANOL", "İstanbul", "\u212a",
                 "ΣΑΣ", "ὈΔΥΣΣΕΎΣ", "ﬁsh", "straße", "Ǆemal", "日本語", "\u00a0", "\u3000", "\u2003", "x\u0301y", "😀",
                 "Ⅻ", "ｆｕｌｌ"]


def synonym_of(wn, word, rng):
    names = sorted({l.name() for s in wn.synsets(word) for l in s.lemmas() if "_" not in l.name()} - {word})
    return rng.choice(names) if names else None


def inflect(word, rng):
    if not word.isalpha():
        return word
    if word.endswith("e"):
        return word[:-1] + rng.choice(["ing", "ed", "es"])
    return word + rng.choice(["s", "ing", "ed", "ly", "ness", "ation"])


def make_pairs(descriptions, wn):
    rng = random.Random(0)
    short = [d for d in descriptions if len(d) <= 200]
    chosen = rng.sample(short, N_PAIRS - 16) + rng.sample([d for d in descriptions if len(d) > 300], 4)
    kinds = ["identical", "drop", "swap", "synonym", "truncate", "mixed", "inflect", "unrelated", "upper",
             "unicode", "shuffle", "repeat", "synonym"]
    pairs = []
    for n, ref in enumerate(chosen):
        kind = kinds[n % len(kinds)]
        w = ref.split()
        h = list(w)
        if kind == "drop":
            for _ in range(rng.randint(1, 4)):
                if len(h) > 1:
                    h.pop(rng.randrange(len(h)))
        elif kind == "swap":
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(h) - 1)
                h[i], h[i + 1] = h[i + 1], h[i]
        elif kind in ("synonym", "mixed"):
            for i in rng.sample(range(len(h)), min(len(h), rng.randint(2, 6))):
                syn = synonym_of(wn, h[i].lower(), rng)
                if syn:
                    h[i] = syn.capitalize() if h[i][:1].isupper() and rng.random() < 0.5 else syn
            if kind == "mixed":
                if len(h) > 2:
                    h.pop(rng.randrange(len(h)))
                i = rng.randrange(len(h) - 1)
                h[i], h[i + 1] = h[i + 1], h[i]
                h = h[: max(1, len(h) - rng.randint(0, 5))]
        elif kind == "inflect":
            for i in rng.sample(range(len(h)), min(len(h), rng.randint(2, 6))):
                h[i] = inflect(h[i], rng)
        elif kind == "truncate":
            h = h[: rng.randint(1, max(1, len(h) - 1))]
        elif kind == "unrelated":
            h = rng.choice(descriptions).split()
        elif kind == "upper":
            h = [x.upper() if rng.random() < 0.5 else x for x in h]
        elif kind == "unicode":
            for _ in range(rng.randint(2, 4)):
                h.insert(rng.randrange(len(h) + 1), rng.choice(UNICODE_WORDS))
        elif kind == "shuffle":
            rng.shuffle(h)
        elif kind == "repeat":
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(h))
                h.insert(i, h[i])
        sep = " " if kind != "unicode" else rng.choice([" ", "\u00a0", "  ", "\t"])
        pairs.append((kind, ref, sep.join(h)))
    ref0 = chosen[0]
    specials = [("empty", ""), ("whitespace", " \t\u00a0 "), ("one_word", ref0.split()[1]),
                ("punctuation", ". , ;"), ("unicode_only", "日本語 ΣΑΣ ℃"), ("kelvin_dotted_i", "\u212a İİ k ii"),
                ("short", "The molecule is"), ("lowercase_copy", ref0.lower()), ("trailing_space", ref0 + "  \n")]
    for kind, hyp in specials:
        pairs.append((kind, ref0, hyp))
    # A reference that is shorter than its hypothesis and one reference with unicode.
    pairs.append(("long_hyp", "The molecule is an acid.", chosen[1]))
    pairs.append(("unicode_ref", "Ein naïve ΣΑΣ molecule at 25 ℃ İ", "a naive σας molecule at 25 c i"))
    pairs.append(("stems", "The molecules were hydroxylated by oxidising enzymes.",
                  "A molecule is hydroxylating the oxidised enzyme"))
    assert len(pairs) == N_PAIRS, len(pairs)
    return pairs


def main():
    descriptions = read_descriptions()
    stemmer = PorterStemmer()
    with tempfile.TemporaryDirectory() as tmp:
        wn = open_wordnet(pathlib.Path(tmp))
        pairs = make_pairs(descriptions, wn)
        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)

        from transformers import BertTokenizer, LlamaTokenizer
        scibert = BertTokenizer(str(SHARED / "tokenizers/scibert/vocab.txt"))
        llama = LlamaTokenizer(str(SHARED / "tokenizers/llama2/tokenizer.model"), legacy=True)
        conventions = {
            "whitespace": str.split,
            "scibert": lambda s: [t for t in scibert.tokenize(s) if t not in ("[PAD]", "[CLS]", "[SEP]")],
            "llama": lambda s: [t for t in llama.tokenize(s) if t not in ("[PAD]", "[CLS]", "[SEP]")],
        }

        samples = []
        tokens = {c: ([], []) for c in conventions}
        for kind, ref, hyp in pairs:
            s = {"kind": kind, "reference": ref, "hypothesis": hyp}
            for c, tok in conventions.items():
                rt, ht = tok(ref), tok(hyp)
                tokens[c][0].append([rt])
                tokens[c][1].append(ht)
                key = "" if c == "whitespace" else "_" + c
                s["meteor" + key] = meteor_score([rt], ht, wordnet=wn)
                if c == "whitespace":
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        s["bleu2"] = sentence_bleu([rt], ht, weights=(0.5, 0.5))
                        s["bleu4"] = sentence_bleu([rt], ht)
            r = scorer.score(ref, hyp)
            for t in ("rouge1", "rouge2", "rougeL"):
                s[t] = [r[t].precision, r[t].recall, r[t].fmeasure]
            samples.append(s)

        corpus = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in conventions:
                refs, hyps = tokens[c]
                corpus[c] = {"bleu2": corpus_bleu(refs, hyps, weights=(0.5, 0.5)), "bleu4": corpus_bleu(refs, hyps)}
            # Per edit kind (whitespace convention), so zero counts and short corpora are covered.
            refs, hyps = tokens["whitespace"]
            by_kind = {}
            for kind in sorted({s["kind"] for s in samples}):
                idx = [i for i, s in enumerate(samples) if s["kind"] == kind]
                by_kind[kind] = {"bleu2": corpus_bleu([refs[i] for i in idx], [hyps[i] for i in idx], weights=(0.5, 0.5)),
                                 "bleu4": corpus_bleu([refs[i] for i in idx], [hyps[i] for i in idx])}
            corpus["whitespace_by_kind"] = by_kind
            # Several references per hypothesis: three descriptions each, the hypothesis of the first.
            multi_refs = [[refs[i][0], refs[(i + 1) % len(refs)][0], refs[(i + 7) % len(refs)][0]] for i in range(60)]
            corpus["whitespace_multi_ref_first60"] = {
                "bleu2": corpus_bleu(multi_refs, hyps[:60], weights=(0.5, 0.5)), "bleu4": corpus_bleu(multi_refs, hyps[:60])}

        # 3D-MoLM's caption_evaluate (model/help_funcs.py) in the whitespace convention: x100, numpy means,
        # and ROUGE called as scorer.score(prediction, reference) as the reference does.
        ev_rouge = [scorer.score(hyp, ref) for _, ref, hyp in pairs]
        corpus["caption_evaluate_whitespace"] = {
            "bleu2": corpus["whitespace"]["bleu2"] * 100, "bleu4": corpus["whitespace"]["bleu4"] * 100,
            "meteor": np.mean([s["meteor"] for s in samples]) * 100,
            **{t: np.mean([r[t].fmeasure for r in ev_rouge]) * 100 for t in ("rouge1", "rouge2", "rougeL")}}

        # WordNet lookups (satellites as "a": the file they are read from): words that reach METEOR's synonym stage and hand-picked morphology cases.
        rng = random.Random(1)
        vocab = sorted({stemmer.stem(t.lower()) for _, _, h in pairs for t in h.split()})
        words = rng.sample(vocab, 200) + rng.sample(sorted({t.lower() for _, _, h in pairs for t in h.split() if t.isalpha()}), 60)
        words += ["geese", "mice", "ran", "better", "best", "dying", "leaves", "axes", "was", "studies", "oxides",
                  "acids", "acidic", "hydroxylated", "running", "men", "women", "bigger", "eseseses", "aardwolves",
                  "boxes", "churches", "wishes", "fizzes", "went", "hardest", "larger", "Run", "DOG", "dogs",
                  "good", "well", "fastest", "", "s", "ing", "hopping", "glasses", "carbonates", "derived",
                  "derivative", "conjugate", "is", "has", "a", "an", "the", "role", "metabolite", "ίσος", "naïve"]
        wordnet_cases = []
        for word in words:
            wordnet_cases.append({"word": word, "synsets": [f"{'a' if s.pos() == 's' else s.pos()}{s.offset():08d}"
                                                               for s in wn.synsets(word)]})

    porter_words = ["sky", "skies", "dying", "lying", "tying", "news", "innings", "inning", "outings", "outing",
                    "cannings", "canning", "howe", "proceed", "exceed", "succeed", "Skies", "ies", "ties", "cries",
                    "died", "tied", "cried", "agreed", "feed", "bled", "hopping", "hoping", "filing", "falling",
                    "fizzed", "failing", "conflated", "troubled", "sized", "happy", "sky", "by", "say", "cry",
                    "relational", "conditional", "rational", "valenci", "hesitanci", "digitizer", "conformabli",
                    "radicalli", "differentli", "vileli", "analogousli", "vietnamization", "predication",
                    "operator", "feudalism", "decisiveness", "hopefulness", "callousness", "formaliti",
                    "sensitiviti", "sensibiliti", "fulli", "hopefulli", "analogi", "logi", "ecologi",
                    "triplicate", "formative", "formalize", "electriciti", "electrical", "hopeful", "goodness",
                    "revival", "allowance", "inference", "airliner", "gyroscopic", "adjustable", "defensible",
                    "irritant", "replacement", "adjustment", "dependent", "adoption", "homologou", "communism",
                    "activate", "angulariti", "homologous", "effective", "bowdlerize", "probate", "rate",
                    "cease", "controll", "roll", "generalli", "aa", "a", "I", "is", "as", "Ab", "yyy", "y", "ay",
                    "oed", "eed", "ied", "ing", "sing", "ss", "ses", "ÉTHANOL", "naïve", "ﬁsh", "straße",
                    "İstanbul", "\u212a", "ΣΑΣ", "x\u0301y", "日本語", "hydroxylated", "oxidising", "molecules",
                    "alkylation", "phosphorylated", "glucosides", "acetylation", "2-hydroxyethyl", "ribosylation",
                    "generously", "generalization", "meeting", "agreement", "anatomically"]
    porter_cases = [[w, stemmer.stem(w)] for w in porter_words]

    texts = UNICODE_WORDS + ["ΣΑΣ ΣΑΣ.", "AΣ", "ΑΣ\u0301", "Σ", "AΣb", "A'Σ", "A\u00adΣ", "ὈΔΥΣΣΕΎΣ σ",
                             "a\x1cb\x1dc\x1ed\x1fe\x85f\u2028g\u2029h\u202fi\u205fj\u180ek\u200bl",
                             "Ǆ ǅ ǆ Ǉ ǈ", "ＡＢＣ", "ⓐⒶ", "𐐀𐐨", "ẞ", "Ⅻ", "  leading and trailing  "]
    python_str = [{"text": t, "lower": t.lower(), "split": t.split()} for t in texts]

    OUT.mkdir(parents=True, exist_ok=True)
    fixture = {
        "generator": "tests/golden/gen_caption_metrics.py",
        "versions": {"nltk": nltk.__version__, "rouge_score": "0.1.2", "python": sys.version.split()[0]},
        # One row per pair: kind, reference, hypothesis, then the values named in "columns".
        "columns": COLUMNS,
        "samples": [[x["kind"], x["reference"], x["hypothesis"]] + [value(x, c) for c in COLUMNS] for x in samples],
        "corpus": corpus,
        "wordnet": wordnet_cases,
        "porter": porter_cases,
        "python_str": python_str,
        # np.mean of v_i = ((i * 7919) % 10007) / 10007, i < n: numpy's pairwise sums and 8192-blocks.
        "numpy_mean": [[n, float(np.mean([((i * 7919) % 10007) / 10007 for i in range(n)]))]
                       for n in (1, 7, 8, 9, 100, 128, 129, 1000, 8192, 8193, 20000)],
    }
    (OUT / "caption_metrics.json").write_text(json.dumps(fixture, ensure_ascii=False, separators=(",", ":")) + "\n",
                                              encoding="utf-8")

    words = sorted({t.lower() for d in descriptions for t in d.split()})
    lines = []
    for w in words:
        s = stemmer.stem(w)
        k = 0
        while k < min(len(w), len(s)) and w[k] == s[k]:
            k += 1
        lines.append(f"{len(w) - k}{s[k:]}")
    (OUT / "porter_chebi.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for f in sorted(OUT.iterdir()):
        print(f"{f.relative_to(ROOT)}: {f.stat().st_size} bytes")
    print(f"{len(samples)} pairs; corpus BLEU whitespace {corpus['whitespace']}, {len(words)} Porter words")


if __name__ == "__main__":
    main()
