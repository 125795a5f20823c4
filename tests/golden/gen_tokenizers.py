"""Golden token ids for tests/text/*_test.cpp and tests/cli/tokenize.sh: transformers 4.35.2's slow
BertTokenizer (SciBERT scivocab uncased vocab + 3D-MoLM's [DEC]) and LlamaTokenizer(legacy=True),
both as 3D-MoLM configures it (§5.2) and as freshly loaded (§7.2's metric pieces).

    pip install transformers==4.35.2 sentencepiece==0.1.99
    python3 tests/golden/gen_tokenizers.py

Inputs: data/tokenizers/tricky.jsonl (hand-written tricky strings, one JSON string per line),
../shared/data/chebi20/validation.txt (every description), ../shared/data/tokenizers/{scibert/vocab.txt,
llama2/tokenizer.model}. Writes into data/tokenizers/:
  expected.json         ids of the tricky strings (4 tokenizers), Llama decodes, truncation/padding
                        cases, §5.4/§6.2 prompts (SMILES from the fixed list below), the §12.1 ids
                        (also asserted here against the list in reference-model.md)
  descriptions_fnv.npy  int64 [N, 3]: FNV-1a 64 over the little-endian int32 ids of every
                        description (bert, llama, llama_plain), bit pattern stored as int64
  descriptions_len.npy  int32 [N, 3]: their lengths
  tiny_vocab.txt, tiny_sp.model, tiny.json, cli_*.txt: a tiny WordPiece vocabulary and a tiny
                        SentencePiece model trained here with Llama's settings, with expected ids, so
                        some tests and the CLI test run without ../shared/data
No shared text reaches the committed files (the project never copies ../shared/data): the descriptions
leave only hashes and lengths, the prompts' SMILES and the tiny model's training text are written here,
and tricky.jsonl is invented (scripts/check-shared-copies.py checks).
"""
import json
import pathlib
import random

import numpy as np
import sentencepiece as spm
from transformers import BertTokenizer, LlamaTokenizer

here = pathlib.Path(__file__).resolve().parent
out_dir = here / "data" / "tokenizers"
shared = here.parents[2] / "shared" / "data"  # ../shared next to the repo
scibert_vocab = shared / "tokenizers" / "scibert" / "vocab.txt"
llama_model = shared / "tokenizers" / "llama2" / "tokenizer.model"


def bert_tokenizer(vocab, lower=True):
    tok = BertTokenizer(str(vocab), do_lower_case=lower)
    tok.add_special_tokens({"bos_token": "[DEC]"})  # LAVIS/3D-MoLM init_tokenizer
    return tok


def llama_reference(model):
    # model/blip2_llama.py: the same five add_special_tokens calls, in this order
    tok = LlamaTokenizer(str(model), legacy=True)
    tok.add_special_tokens({"pad_token": "[PAD]"})
    tok.add_special_tokens({"bos_token": "</s>"})
    tok.add_special_tokens({"eos_token": "</s>"})
    tok.add_special_tokens({"unk_token": "</s>"})
    tok.add_special_tokens({"additional_special_tokens": ["<mol>"]})
    return tok


def llama_plain(model):
    return LlamaTokenizer(str(model), legacy=True)


def fnv1a64(ids):
    h = 0xCBF29CE484222325
    for b in np.asarray(ids, dtype="<i4").tobytes():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def as_int64(u):
    return u - (1 << 64) if u >= (1 << 63) else u


def ids_of(tok, text, **kw):
    return tok(text, **kw)["input_ids"]


tricky = [json.loads(line) for line in (out_dir / "tricky.jsonl").read_text(encoding="utf-8").splitlines()]

bert = bert_tokenizer(scibert_vocab)
bert_cased = bert_tokenizer(scibert_vocab, lower=False)
llama = llama_reference(llama_model)
plain = llama_plain(llama_model)
assert bert.convert_tokens_to_ids("[DEC]") == 31090 and len(bert) == 31091
assert llama.pad_token_id == 32000 and llama.bos_token_id == 2 and llama.convert_tokens_to_ids("<mol>") == 32001

expected = {"tricky": [], "truncation": [], "decode": [], "prompts": []}
for text in tricky:
    llama_ids = ids_of(llama, text)
    expected["tricky"].append({
        "text": text,
        "bert": ids_of(bert, text),
        "bert_cased": ids_of(bert_cased, text),
        "llama": llama_ids,
        "llama_plain": ids_of(plain, text),
        "llama_decode": llama.decode(llama_ids, skip_special_tokens=True),
        "llama_decode_keep_special": llama.decode(llama_ids, skip_special_tokens=False),
    })

# Decoding id sequences no text gives: `<s>`/`<unk>` (added, no longer special) between pieces,
# specials anywhere, byte pieces that are not valid UTF-8 alone.
rng = random.Random(5)
for _ in range(16):
    row = [rng.choice([0, 1, 2, 32000, 32001, 29871, 13, rng.randrange(3, 259), rng.randrange(0, 32000)])
           for _ in range(rng.randint(1, 14))]
    expected["decode"].append({"ids": row, "llama_decode": llama.decode(row, skip_special_tokens=True),
                               "llama_decode_keep_special": llama.decode(row, skip_special_tokens=False)})

# Truncation (from the end, specials kept) and padding to max_length, both sides.
for text in ["The molecule is a dichlorinated biphenylol in which the hydroxy groups sit at positions 3 and 4'.",
             "short", "CC(=O)OC <mol><mol><mol><mol><mol><mol><mol><mol>. Response: "]:
    for max_length in [4, 12, 40]:
        for side in ["right", "left"]:
            row = {"text": text, "max_length": max_length, "padding_side": side}
            for name, tok in [("bert", bert), ("llama", llama)]:
                tok.padding_side = side
                enc = tok(text, truncation=True, max_length=max_length, padding="max_length")
                row[name] = {"ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
                tok.padding_side = "right"
            expected["truncation"].append(row)

# ChEBI-20 validation descriptions: CID \t SMILES \t description, header first. Only hashes and
# lengths are stored: ids in full would decode back to the shared text.
rows = [line.split("\t", 2) for line in
        (shared / "chebi20" / "validation.txt").read_bytes().decode("utf-8").split("\n")[1:] if line]
hashes = np.zeros((len(rows), 3), dtype=np.int64)
lengths = np.zeros((len(rows), 3), dtype=np.int32)
for i, (_, _, description) in enumerate(rows):
    for k, tok in enumerate([bert, llama, plain]):
        ids = ids_of(tok, description)
        hashes[i, k] = as_int64(fnv1a64(ids))
        lengths[i, k] = len(ids)
np.save(out_dir / "descriptions_fnv.npy", hashes)
np.save(out_dir / "descriptions_len.npy", lengths)


# §5.4 / §6.2 prompts, built exactly as the reference's data modules build them.
def prompt(instruction, smiles):
    return ("Below is an instruction that describes a task, paired with an input molecule. Write a response that "
            "appropriately completes the request.\n"
            f"Instruction: {instruction}\nInput molecule: {smiles[:96]} {'<mol>' * 8}.\nResponse: ")


templates = ["What is the [property] of this molecule? ", "Could you give me the [property] value of this molecule? ",
             "I would like to know the [property] of this molecule, can you provide it? ",
             "Please provide the [property] value for this molecule. ",
             "I am interested in the [property] of this molecule, could you tell me what it is? ",
             "I would like to know the [property] of this molecule, could you please provide it? ",
             "I need to know the [property] of this molecule, could you please provide it? ",
             "Please provide me with the [property] value of this molecule. Determine the [property] value of this molecule. "]
properties = ["Molecular Weight", "LogP", "Topological Polar Surface Area", "Complexity", "HOMO", "LUMO",
              "HOMO-LUMO Gap", "SCF Energy"]
suffix = "If uncertain, provide an estimate. Respond with the numerical value only."
# Written here, not taken from the data: stereo (@, @@, /, \), charges, salts, and three longer than
# the 96 characters the prompt keeps (two invented peptides, one invented ammonium salt).
prompt_smiles = [
    "CC(=O)OC1=CC=CC=C1C(=O)O",  # aspirin
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",  # caffeine
    "N[C@@H](CC1=CC=CC=C1)C(=O)N[C@@H](CC(C)C)C(=O)N[C@@H](CO)C(=O)N[C@@H](CCCC[NH3+])C(=O)N[C@@H](CC(=O)[O-])C(=O)O",
    "C[N+](C)(C)CCOC(=O)C",  # acetylcholine
    "OC(=O)[C@@H]1CC[C@H](CC1)NC(=O)C2=CC(Br)=C(C=C2F)/C=C/C(=O)N[C@@H](CCSC)C(=O)N3CC[N+](C)(CC3)CC4=CC=C(Cl)C=C4.[Br-]",
    "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",  # glucose
    "CC(C)CC1=CC=C(C=C1)[C@@H](C)C(=O)O",  # (S)-ibuprofen
    "[O-][N+](=O)C1=CC=C(C=C1)O",  # 4-nitrophenol
    "C[C@@H](C(=O)O)N",  # L-alanine
    "[NH3+][C@@H](CCC(=O)[O-])C(=O)[O-]",  # L-glutamate(1-)
    "F/C=C/F",  # (E)-1,2-difluoroethene
    "[Na+].[Cl-]",
    "O=C(O)CC(O)(CC(=O)O)C(=O)O",  # citric acid
    "C1=CC=C2C=C3C=CC=CC3=CC2=C1",  # anthracene
    "CC(C)(C)OC(=O)N[C@@H](CC1=CC=C(O)C=C1)C(=O)N[C@@H](C)C(=O)N1CCC[C@H]1C(=O)N[C@@H](CC2=CNC3=CC=CC=C32)C(=O)OC",
    "C/C=C\\C",  # (Z)-but-2-ene
    "CC1=C(C(CCC1)(C)C)/C=C/C(=C/C=C/C(=C/C=O)/C)/C",  # retinal
]
assert sum(len(s) > 96 for s in prompt_smiles) >= 3
cases = []
for i in range(6):  # stage 2 captioning: a fixed instruction; long SMILES are cut to 96 characters
    cases.append({"instruction": "Describe the input molecule.", "smiles": prompt_smiles[i], "instruction_chars": None})
for k, template in enumerate(templates):  # stage 3 computed properties
    cases.append({"instruction": template.replace("[property]", properties[k]) + suffix,
                  "smiles": prompt_smiles[6 + k], "instruction_chars": None})
for k, question in enumerate(["What is the role of this molecule in plant metabolism, and which class does it belong to?",
                              "Is it an acid?", "Describe the stereochemistry of the molecule and its relationship to β-lactams."]):
    cases.append({"instruction": question, "smiles": prompt_smiles[14 + k], "instruction_chars": 64})  # §6.2 Description
for case in cases:
    instruction = case["instruction"]
    if case["instruction_chars"]:
        instruction = instruction[:case["instruction_chars"]]
    text = prompt(instruction, case["smiles"])
    case.update({"prompt": text, "llama": ids_of(llama, text)})
    assert case["llama"].count(32001) == 8
expected["prompts"] = cases

# §12.1: the notebook's 113 ids, copied from reference-model.md.
notebook_ids = [
    2, 13866, 338, 385, 15278, 393, 16612, 263, 3414, 29892, 3300, 2859, 411, 385, 1881, 13206, 29883, 1297, 29889,
    14350, 263, 2933, 393, 7128, 2486, 1614, 2167, 278, 2009, 29889, 13, 3379, 4080, 29901, 306, 817, 304, 1073, 278,
    4522, 29925, 310, 445, 13206, 29883, 1297, 29892, 1033, 366, 3113, 3867, 372, 29973, 960, 17999, 29892, 3867, 385,
    12678, 29889, 2538, 2818, 411, 278, 16259, 995, 871, 29889, 13, 4290, 13206, 29883, 1297, 29901, 19178, 29898,
    29922, 29949, 29897, 20166, 29898, 4174, 29898, 29922, 29949, 9601, 29949, 29899, 2314, 29907, 29961, 29940,
    29974, 850, 29907, 5033, 29907, 29897, 29907, 29871, 32001, 32001, 32001, 32001, 32001, 32001, 32001, 32001,
    869, 13, 5103, 29901, 29871]
notebook = {"instruction": "I need to know the LogP of this molecule, could you please provide it? If uncertain, "
                           "provide an estimate. Respond with the numerical value only.",
            "smiles": "CC(=O)OC(CC(=O)[O-])C[N+](C)(C)C", "ids": notebook_ids}
assert ids_of(llama, prompt(notebook["instruction"], notebook["smiles"])) == notebook_ids, "§12.1 not reproduced"
expected["notebook_12_1"] = notebook

(out_dir / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, separators=(",", ":")) + "\n",
                                       encoding="utf-8")

# ---- tiny tokenizers, committed, so tests and the CLI run without ../shared/data --------------------
tiny_words = ["the", "molecule", "is", "member", "of", "class", "acid", "hydroxy", "methyl", "benzene", "ring",
              "##ic", "##yl", "##ene", "##ol", "##ate", "caf", "role", "as", "it", "has", "ω", "σ", "中", "文"]
tiny_vocab = (["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz0123456789")
              + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + list(".,;:()[]-'=+#") + tiny_words)
assert len(set(tiny_vocab)) == len(tiny_vocab)
(out_dir / "tiny_vocab.txt").write_text("\n".join(tiny_vocab) + "\n", encoding="utf-8")



def invented_descriptions(n, seed=11):
    """ChEBI-style sentences from a small grammar written here: the tiny model's training text."""
    rng = random.Random(seed)
    classes = ["monocarboxylic acid", "tertiary alcohol", "benzofuranone", "lactone", "flavanone", "steroid",
               "diterpenoid", "indole alkaloid", "organochlorine compound", "aromatic ketone", "dipeptide",
               "sulfonamide", "primary amide", "glycoside", "quinone", "phenol", "cyclic ether", "fatty acid ester",
               "amino acid zwitterion", "quaternary ammonium ion", "hydroxy fatty acid", "oxo carboxylic acid"]
    groups = ["hydroxy", "methyl", "methoxy", "chloro", "fluoro", "amino", "nitro", "acetyl", "carboxy", "oxo",
              "ethyl", "bromo", "sulfanyl", "phenyl", "prenyl", "formyl"]
    parents = ["benzene", "naphthalene", "pyridine", "indole", "coumarin", "chromane", "cyclohexanone", "butanoic acid",
               "propanamide", "furan", "quinoline", "oxolane", "piperidine", "glycerol", "octadecane", "morpholine"]
    roles = ["metabolite", "antioxidant", "enzyme inhibitor", "antibacterial agent", "fungal pigment",
             "plant growth regulator", "solvent", "dye", "flavouring agent", "antineoplastic agent", "human xenobiotic"]
    greek = ["alpha", "beta", "gamma", "omega", "α", "β", "γ", "Δ", "ω"]

    def pick(xs):
        return rng.choice(xs)

    def article(word):
        return "an" if word[0] in "aeiouAEIOU" else "a"

    def subject():
        cls = pick(classes)
        count = rng.randint(1, 3)
        positions = ",".join(str(p) for p in sorted(rng.sample(range(1, 9), count)))
        multiplier = ["", "di", "tri"][count - 1]
        group = pick(groups)
        return (f"The molecule is {article(cls)} {cls} that is {pick(parents)} substituted by {multiplier or 'a '}"
                f"{group} group{'s' if count > 1 else ''} at position{'s' if count > 1 else ''} {positions}.")

    extras = [
        lambda: f"It has a role as {article(r := pick(roles))} {r} and {article(q := pick(roles))} {q}.",
        lambda: f"It is functionally related to {article(p := pick(parents))} {p}.",
        lambda: f"It is a conjugate base of {article(c := pick(classes))} {c}.",
        lambda: f"It is {article(c := pick(classes))} {c} and {article(d := pick(classes))} {d}.",
        lambda: f"It derives from {article(p := pick(parents))} {p}.",
        lambda: (f"It is a {pick(greek)}-{pick(groups)} derivative with ({pick('RS')})-configuration at "
                 f"C-{rng.randint(2, 20)}."),
        lambda: f"It contains {rng.randint(2, 12)} carbon atoms and {rng.randint(1, 6)} {pick(groups)} groups.",
    ]
    return [" ".join([subject()] + [pick(extras)() for _ in range(rng.randint(1, 3))]) for _ in range(n)]


corpus = out_dir / "tiny_corpus.tmp"
corpus.write_text("\n".join(invented_descriptions(600) + prompt_smiles) + "\n", encoding="utf-8")
spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(out_dir / "tiny_sp"), model_type="bpe",
                               vocab_size=400, byte_fallback=True, split_digits=True, add_dummy_prefix=True,
                               remove_extra_whitespaces=False, normalization_rule_name="identity",
                               allow_whitespace_only_pieces=True, character_coverage=0.9995, num_threads=1,
                               minloglevel=2)
corpus.unlink()
(out_dir / "tiny_sp.vocab").unlink()

tiny_bert = bert_tokenizer(out_dir / "tiny_vocab.txt")
tiny_llama = llama_reference(out_dir / "tiny_sp.model")
tiny_plain = llama_plain(out_dir / "tiny_sp.model")
tiny = []
for text in tricky:
    tiny.append({"text": text, "bert": ids_of(tiny_bert, text), "llama": ids_of(tiny_llama, text)})
(out_dir / "tiny.json").write_text(json.dumps(tiny, ensure_ascii=False, separators=(",", ":")) + "\n",
                                   encoding="utf-8")

# The CLI reads lines, so its input is the tricky strings without line breaks inside (the first 28:
# the CLI test checks the plumbing; parity is the C++ tests' job).
cli_lines = [t for t in tricky if "\n" not in t and "\r" not in t][:28]
(out_dir / "cli_input.txt").write_text("".join(t + "\n" for t in cli_lines), encoding="utf-8")


def write_expected(name, rows_of_tokens):
    (out_dir / name).write_text("".join(" ".join(map(str, r)) + "\n" for r in rows_of_tokens), encoding="utf-8")


write_expected("cli_bert_dec.txt", [ids_of(tiny_bert, t) for t in cli_lines])
write_expected("cli_bert_cased_nospecial.txt",
               [ids_of(BertTokenizer(str(out_dir / "tiny_vocab.txt"), do_lower_case=False), t,
                       add_special_tokens=False) for t in cli_lines])
write_expected("cli_llama_reference.txt", [ids_of(tiny_llama, t) for t in cli_lines])
write_expected("cli_llama_plain_pieces.txt",
               [tiny_plain.convert_ids_to_tokens(ids_of(tiny_plain, t)) for t in cli_lines])

print(f"wrote {out_dir}: {len(tricky)} tricky strings, {len(rows)} descriptions, {len(cases)} prompts")
