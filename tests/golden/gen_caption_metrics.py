#!/usr/bin/env python3
"""Golden values for include/molm/metrics (BLEU, ROUGE, METEOR, the Porter stemmer, WordNet lookups,
Python's str.lower/split) as 3D-MoLM's caption_evaluate computes them (reference-model.md §7.2):
NLTK 3.8.1 corpus_bleu / meteor_score, rouge-score 0.1.2 RougeScorer.

Two sets of (reference, hypothesis) pairs, each hypothesis made from its reference by a seeded edit
(identical, word drops, swaps, WordNet synonym replacements, inflections, truncations, shuffles, upper
case, unicode words, repeats, another reference) plus special cases (empty and white-space-only
strings, one word, lower-cased and padded copies, a hypothesis longer than its reference):
- hand-written: 24 invented ChEBI-style descriptions (HAND_WRITTEN below), 60 pairs stored as text;
- ChEBI-20: 400 pairs over the validation descriptions (../shared/data/chebi20/validation.txt),
  stored WITHOUT their text (the project never copies the shared data): a reference is {"row": r},
  the index among the description lines (header excluded, as read_descriptions() builds them), and a
  hypothesis is a recipe that render() turns into text — {"row": r} (another description verbatim),
  {"row": r, "lower": true} (its str.lower()), {"row": r, "end": s} (a suffix), or
  {"words": [items], "sep": s} joining items of the reference's str.split() words: i (word i), a
  literal (only WordNet synonyms and this file's fixed strings), ["upper", i] (pure-ASCII words only),
  ["inflect", i, drop, add] (word i less its last `drop` ASCII bytes, drop in {0, 1}, plus `add`).
  Metrics are computed on render()'s text; tests/metrics/caption_fixture.hpp renders the same recipes
  and compares each hypothesis's FNV-1a 64 hash, stored here.

Recorded (tests/golden/data/caption_metrics/):
- caption_metrics.json: the hand-written pairs as text; per pair METEOR, sentence BLEU-2/4 and
  ROUGE-1/2/L (P, R, F); corpus BLEU-2/4 over all pairs, over each edit kind and with three references
  for the first 60; caption_evaluate's six numbers. Tokens for BLEU/METEOR = str.split() of the raw
  strings, ROUGE on the raw strings. Also per-pair METEOR and corpus BLEU in the two piece conventions
  of §7.2 (SciBERT WordPiece pieces, Llama SentencePiece pieces, transformers 4.35.2), compared in C++
  by tests/text/caption_conventions_test.cpp with molm's tokenizers. Plus NLTK's wordnet.synsets() of
  ~390 words (from the hand-written pairs, a seeded sample of WordNet's own index lemmas with some
  inflections, and a hand-picked list), Porter stems of tricky words, str.lower()/str.split() of
  unicode strings and numpy means.
- chebi_pairs.json: the ChEBI-20 pairs as row numbers and recipes, with the same value columns and
  corpus values, the hypothesis hashes and the count and hash of the description list.
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

N_CHEBI_PAIRS = 400
COLUMNS = ["meteor", "bleu2", "bleu4", "rouge1.p", "rouge1.r", "rouge1.f", "rouge2.p", "rouge2.r", "rouge2.f",
           "rougeL.p", "rougeL.r", "rougeL.f", "meteor_scibert", "meteor_llama"]
KINDS = ["identical", "drop", "swap", "synonym", "truncate", "mixed", "inflect", "unrelated", "upper", "unicode",
         "shuffle", "repeat", "synonym"]

# Invented descriptions in the style of ChEBI's (written for this fixture, not taken from any data set):
# Greek letters, locants such as (2R)-, primes, commas and semicolons, one over 300 characters, one short.
HAND_WRITTEN = [
    "The molecule is a tricyclic lactone bearing two hydroxy groups at positions 3 and 7, found in a soil fungus. "
    "It is a diol and a gamma-lactone.",
    "The molecule is a (2R)-2-aminobutanoate that results from removing the proton of the carboxy group of the "
    "parent amino acid; the main form at neutral pH.",
    "The molecule is an α-D-glucopyranoside whose anomeric oxygen carries a 4-nitrophenyl group, so that "
    "hydrolysis releases a yellow dye.",
    "The molecule is a β-lactam antibacterial whose acyl side chain is a 2,6-dimethoxybenzoyl group that shields "
    "the ring from lactamases.",
    "The molecule is a flavone methylated at 3'-O, with free hydroxy groups at C-5, C-7 and C-4'. It protects "
    "leaves from ultraviolet light.",
    "The molecule is a steroid sulfate formed by sulfation at 17β-OH of an oestrogen; it circulates bound to "
    "albumin.",
    "The molecule is a fatty acid anion, the hexadecanoate ion, which dominates in water near pH seven.",
    "The molecule is an organic cation.",
    "The molecule is a dipeptide in which L-alanine is amide-bonded to glycine; Ala-Gly tastes faintly sweet.",
    "The molecule is a sesquiterpene lactone from the leaves of a daisy-like shrub, its α-methylene-γ-butyrolactone "
    "ring fused to a ten-membered carbocycle.",
    "The molecule is a 2'-deoxynucleoside 5'-triphosphate carrying 5-methylcytosine as its base, used by "
    "polymerases during DNA repair.",
    "The molecule is a C18 fatty acid with a (9Z,12Z)-diene and a (13S)-hydroxy group, made by lipoxygenase "
    "from its parent acid.",
    "The molecule is a complex glycolipid whose ceramide part holds (2S,3R,4E)-sphingosine amidated by "
    "octadecanoic acid, joined β at O-1 to a branched pentasaccharide of two D-galactose units, one "
    "N-acetyl-D-galactosamine and two sialic acids; the outer sialic acid is 2→8 linked, the inner one 2→3. "
    "It is an antigen on neurons, a receptor for a bacterial toxin and a marker of some tumours.",
    "The molecule is an iron(III) complex in which three catecholate ligands each bind through both oxygens, "
    "giving an octahedral, deep red anion.",
    "The molecule is a quinoline alkaloid from a tree bark that kills blood-stage malaria parasites; it is a "
    "secondary alcohol and a tertiary amine.",
    "The molecule is a cyclic ether, oxolane with methyl groups at C-2 and C-5, a volatile solvent smelling of "
    "ether.",
    "The molecule is 2-phenylethylammonium, the N-protonated form of a trace amine; it prevails in cells.",
    "The molecule is an ω-3 polyunsaturated acid of 22 carbons with six cis double bonds, abundant in fish oil "
    "and in the retina.",
    "The molecule is a polychlorinated biphenyl with chlorines at 2, 2', 4, 4', 5 and 5', a persistent pollutant "
    "stored in fat.",
    "The molecule is a triethyl ester of phosphoric acid, a colourless liquid used to soften plastics.",
    "The molecule is methyl benzoate, the ester of benzoic acid and methanol, with a fruity smell reminiscent of "
    "feijoa.",
    "The molecule is a pentacyclic triterpenoid, an olean-12-ene with a 3β-hydroxy group and a 28-oic acid.",
    "Δ9-Tetrahydro derivative: a (6aR,10aR)-dibenzopyran with a pentyl chain; a psychoactive cannabinoid.",
    "The molecule is the tripeptide γ-Glu-Cys-Gly, the main thiol antioxidant of cells, oxidised to a disulfide "
    "dimer.",
]
# References of the hand-written special pairs (not edited).
HAND_EXTRA = ["The molecule is an acid.", "Ein naïve ΣΑΣ molecule at 25 ℃ İ",
              "The molecules were hydroxylated by oxidising enzymes."]


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


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


UNICODE_WORDS = ["α-D-glucose", "β-lactam", "25 ℃", "naïve", "Ångström", "ÉTHANOL", "İstanbul", "\u212a",
                 "ΣΑΣ", "ὈΔΥΣΣΕΎΣ", "ﬁsh", "straße", "Ǆemal", "日本語", "\u00a0", "\u3000", "\u2003", "x\u0301y", "😀",
                 "Ⅻ", "ｆｕｌｌ"]


def render(recipe, words, rows):
    """The hypothesis text of a recipe; `words` = str.split() of its reference, `rows` = the reference list."""
    if "row" in recipe:
        text = rows[recipe["row"]]
        return (text.lower() if recipe.get("lower") else text) + recipe.get("end", "")
    out = []
    for item in recipe["words"]:
        if isinstance(item, int):
            out.append(words[item])
        elif isinstance(item, str):
            out.append(item)
        elif item[0] == "upper":
            assert words[item[1]].isascii()  # C++ upper-cases ASCII only
            out.append(words[item[1]].upper())
        else:
            _, i, drop, add = item
            assert drop in (0, 1) and words[i][len(words[i]) - drop:].isascii()  # dropped bytes = characters
            out.append(words[i][:len(words[i]) - drop] + add)
    return recipe["sep"].join(out)


def synonym_of(wn, word, rng):
    names = sorted({l.name() for s in wn.synsets(word) for l in s.lemmas() if "_" not in l.name()} - {word})
    return rng.choice(names) if names else None


def inflection(word, rng):
    """(drop, add) turning a word into a plausible inflected form, or None for non-alphabetic words."""
    if not word.isalpha():
        return None
    if word.endswith("e"):
        return 1, rng.choice(["ing", "ed", "es"])
    return 0, rng.choice(["s", "ing", "ed", "ly", "ness", "ation"])


def edit(kind, w, rng, wn, n_unrelated):
    """A seeded edit of the word list w as a recipe (see render())."""
    h = list(range(len(w)))
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
            syn = synonym_of(wn, w[i].lower(), rng)
            if syn:
                h[i] = syn.capitalize() if w[i][:1].isupper() and rng.random() < 0.5 else syn
        if kind == "mixed":
            if len(h) > 2:
                h.pop(rng.randrange(len(h)))
            i = rng.randrange(len(h) - 1)
            h[i], h[i + 1] = h[i + 1], h[i]
            h = h[: max(1, len(h) - rng.randint(0, 5))]
    elif kind == "inflect":
        for i in rng.sample(range(len(h)), min(len(h), rng.randint(2, 6))):
            f = inflection(w[i], rng)
            if f:
                h[i] = ["inflect", i, *f]
    elif kind == "truncate":
        h = h[: rng.randint(1, max(1, len(h) - 1))]
    elif kind == "unrelated":
        return {"row": rng.randrange(n_unrelated)}
    elif kind == "upper":
        h = [["upper", i] if rng.random() < 0.5 and w[i].isascii() else i for i in h]
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
    return {"words": h, "sep": sep}


def specials(r0, short_row, long_row):
    """(kind, reference row, hypothesis recipe) of the special cases; r0's second word is the one word."""
    lit = lambda *items: {"words": list(items), "sep": " "}
    return [("empty", r0, lit()), ("whitespace", r0, lit(" \t\u00a0 ")), ("one_word", r0, lit(1)),
            ("punctuation", r0, lit(". , ;")), ("unicode_only", r0, lit("日本語 ΣΑΣ ℃")),
            ("kelvin_dotted_i", r0, lit("\u212a İİ k ii")), ("short", r0, lit("The molecule is")),
            ("lowercase_copy", r0, {"row": r0, "lower": True}), ("trailing_space", r0, {"row": r0, "end": "  \n"}),
            # A reference shorter than its hypothesis.
            ("long_hyp", short_row, {"row": long_row})]


def hand_written_pairs(wn):
    """(kind, reference row, recipe) over rows = HAND_WRITTEN + HAND_EXTRA: every edit kind at least twice."""
    rng = random.Random(0)
    n_edits = 48
    pairs = [(KINDS[n % len(KINDS)], n % len(HAND_WRITTEN)) for n in range(n_edits)]
    pairs = [(kind, r, edit(kind, HAND_WRITTEN[r].split(), rng, wn, len(HAND_WRITTEN))) for kind, r in pairs]
    long_row = max(range(len(HAND_WRITTEN)), key=lambda r: len(HAND_WRITTEN[r]))
    assert len(HAND_WRITTEN[long_row]) > 300
    extra = len(HAND_WRITTEN)
    pairs += specials(0, extra, long_row)
    pairs.append(("unicode_ref", extra + 1, {"words": ["a naive σας molecule at 25 c i"], "sep": " "}))
    pairs.append(("stems", extra + 2, {"words": ["A molecule is hydroxylating the oxidised enzyme"], "sep": " "}))
    assert all(sum(k == kind for k, _, _ in pairs) >= 2 for kind in KINDS)
    return pairs


def chebi_pairs(descriptions, wn):
    """(kind, reference row, recipe) over the ChEBI-20 validation descriptions."""
    rng = random.Random(0)
    short = [r for r, d in enumerate(descriptions) if len(d) <= 200]
    long = [r for r, d in enumerate(descriptions) if len(d) > 300]
    chosen = rng.sample(short, N_CHEBI_PAIRS - 14) + rng.sample(long, 4)
    pairs = []
    for n, r in enumerate(chosen):
        kind = KINDS[n % len(KINDS)]
        pairs.append((kind, r, edit(kind, descriptions[r].split(), rng, wn, len(descriptions))))
    shortest = min(range(len(descriptions)), key=lambda r: (len(descriptions[r]), r))
    pairs += specials(chosen[0], shortest, chosen[-1])
    assert len(pairs) == N_CHEBI_PAIRS, len(pairs)
    return pairs


def score(pairs, scorer, conventions, wn):
    """Per-pair samples and corpus values of (kind, reference, hypothesis) text triples."""
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
        # Several references per hypothesis: three references each, the hypothesis of the first.
        m = min(60, len(refs))
        multi_refs = [[refs[i][0], refs[(i + 1) % len(refs)][0], refs[(i + 7) % len(refs)][0]] for i in range(m)]
        corpus["whitespace_multi_ref_first60"] = {
            "bleu2": corpus_bleu(multi_refs, hyps[:m], weights=(0.5, 0.5)), "bleu4": corpus_bleu(multi_refs, hyps[:m])}

    # 3D-MoLM's caption_evaluate (model/help_funcs.py) in the whitespace convention: x100, numpy means,
    # and ROUGE called as scorer.score(prediction, reference) as the reference does.
    ev_rouge = [scorer.score(hyp, ref) for _, ref, hyp in pairs]
    corpus["caption_evaluate_whitespace"] = {
        "bleu2": corpus["whitespace"]["bleu2"] * 100, "bleu4": corpus["whitespace"]["bleu4"] * 100,
        "meteor": np.mean([s["meteor"] for s in samples]) * 100,
        **{t: np.mean([r[t].fmeasure for r in ev_rouge]) * 100 for t in ("rouge1", "rouge2", "rougeL")}}
    return samples, corpus


def index_lemmas(rng):
    """A seeded sample of WordNet's own lemmas (index.noun/verb/adj/adv), a third of them inflected."""
    words = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(WORDNET / f"index.{pos}", encoding="utf-8") as f:
            lemmas = [line.split(" ", 1)[0] for line in f if not line.startswith("  ")]
        for lemma in rng.sample(lemmas, 40):
            f = inflection(lemma, rng) if rng.random() < 0.33 else None
            words.append(lemma[:len(lemma) - f[0]] + f[1] if f else lemma)
    return words


def main():
    descriptions = read_descriptions()
    stemmer = PorterStemmer()
    with tempfile.TemporaryDirectory() as tmp:
        wn = open_wordnet(pathlib.Path(tmp))
        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)

        from transformers import BertTokenizer, LlamaTokenizer
        scibert = BertTokenizer(str(SHARED / "tokenizers/scibert/vocab.txt"))
        llama = LlamaTokenizer(str(SHARED / "tokenizers/llama2/tokenizer.model"), legacy=True)
        conventions = {
            "whitespace": str.split,
            "scibert": lambda s: [t for t in scibert.tokenize(s) if t not in ("[PAD]", "[CLS]", "[SEP]")],
            "llama": lambda s: [t for t in llama.tokenize(s) if t not in ("[PAD]", "[CLS]", "[SEP]")],
        }

        hand_rows = HAND_WRITTEN + HAND_EXTRA
        hand = [(kind, hand_rows[r], render(recipe, hand_rows[r].split(), hand_rows))
                for kind, r, recipe in hand_written_pairs(wn)]
        hand_samples, hand_corpus = score(hand, scorer, conventions, wn)

        chebi_recipes = chebi_pairs(descriptions, wn)
        chebi = [(kind, descriptions[r], render(recipe, descriptions[r].split(), descriptions))
                 for kind, r, recipe in chebi_recipes]
        chebi_samples, chebi_corpus = score(chebi, scorer, conventions, wn)

        # WordNet lookups (satellites as "a": the file they are read from): words of the hand-written
        # pairs that reach METEOR's synonym stage, WordNet's own lemmas and hand-picked morphology cases.
        rng = random.Random(1)
        vocab = sorted({stemmer.stem(t.lower()) for _, _, h in hand for t in h.split()})
        words = rng.sample(vocab, 120)
        words += rng.sample(sorted({t.lower() for _, _, h in hand for t in h.split() if t.isalpha()}), 60)
        words += index_lemmas(rng)
        words += ["geese", "mice", "ran", "better", "best", "dying", "leaves", "axes", "was", "studies", "oxides",
                  "acids", "acidic", "hydroxylated", "running", "men", "women", "bigger", "eseseses", "aardwolves",
                  "boxes", "churches", "wishes", "fizzes", "went", "hardest", "larger", "Run", "DOG", "dogs",
                  "good", "well", "fastest", "", "s", "ing", "hopping", "glasses", "carbonates", "derived",
                  "derivative", "conjugate", "is", "has", "a", "an", "the", "role", "metabolite", "ίσος", "naïve"]
        wordnet_cases = []
        for word in words:
            wordnet_cases.append({"word": word, "synsets": [f"{'a' if s.pos() == 's' else s.pos()}{s.offset():08d}"
                                                               for s in wn.synsets(word)]})
        found = sum(bool(c["synsets"]) for c in wordnet_cases)
        assert len(wordnet_cases) > 300 and found > 100, (len(wordnet_cases), found)

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

    def rows(samples):
        return [[x["kind"], x["reference"], x["hypothesis"]] + [value(x, c) for c in COLUMNS] for x in samples]

    versions = {"nltk": nltk.__version__, "rouge_score": "0.1.2", "python": sys.version.split()[0]}
    OUT.mkdir(parents=True, exist_ok=True)
    fixture = {
        "generator": "tests/golden/gen_caption_metrics.py",
        "versions": versions,
        # One row per hand-written pair: kind, reference, hypothesis, then the values named in "columns".
        "columns": COLUMNS,
        "samples": rows(hand_samples),
        "corpus": hand_corpus,
        "wordnet": wordnet_cases,
        "porter": porter_cases,
        "python_str": python_str,
        # np.mean of v_i = ((i * 7919) % 10007) / 10007, i < n: numpy's pairwise sums and 8192-blocks.
        "numpy_mean": [[n, float(np.mean([((i * 7919) % 10007) / 10007 for i in range(n)]))]
                       for n in (1, 7, 8, 9, 100, 128, 129, 1000, 8192, 8193, 20000)],
    }
    write_json(OUT / "caption_metrics.json", fixture)
    write_json(OUT / "chebi_pairs.json", {
        "generator": "tests/golden/gen_caption_metrics.py",
        "versions": versions,
        # The description list the rows index: third tab field of each non-empty line after the header.
        "descriptions": {"file": "chebi20/validation.txt", "count": len(descriptions),
                         "fnv1a64": fnv1a64("\n".join(descriptions))},
        # One row per pair: kind, {"row": r}, hypothesis recipe, FNV-1a 64 of the rendered hypothesis's UTF-8
        # bytes, then the values named in "columns".
        "columns": COLUMNS,
        "samples": [[kind, {"row": r}, recipe, fnv1a64(s["hypothesis"])] + [value(s, c) for c in COLUMNS]
                    for (kind, r, recipe), s in zip(chebi_recipes, chebi_samples)],
        "corpus": chebi_corpus,
    })

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
    print(f"{len(hand_samples)} hand-written pairs, corpus BLEU {hand_corpus['whitespace']}; {len(chebi_samples)} "
          f"ChEBI-20 pairs, corpus BLEU {chebi_corpus['whitespace']}; {len(wordnet_cases)} WordNet words "
          f"({found} found); {len(words)} Porter words")


def write_json(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
