"""Golden cases for data/collate.hpp: the reference's (prompt, target) pair encoding (§5.5) as
transformers 4.35's slow LlamaTokenizer builds it from id lists — `[bos] prompt [bos] target`,
token types, "longest first" truncation, left padding to max_length — configured as 3D-MoLM
configures it (pad [PAD]=32000, bos=eos=unk=</s>=2, <mol>=32001).

Writes data/collate/pairs.jsonl: one case per line {prompt, target, max_length, input_ids,
token_type_ids, attention_mask}. Needs ../shared/data/tokenizers/llama2/tokenizer.model.
"""
import json
import pathlib
import random

from transformers import LlamaTokenizer

here = pathlib.Path(__file__).resolve().parent
model = here.parents[2] / "shared" / "data" / "tokenizers" / "llama2" / "tokenizer.model"  # ../shared next to the repo
tok = LlamaTokenizer(vocab_file=str(model), legacy=True)
tok.add_special_tokens({"pad_token": "[PAD]"})
tok.add_special_tokens({"bos_token": "</s>", "eos_token": "</s>", "unk_token": "</s>"})
tok.add_special_tokens({"additional_special_tokens": ["<mol>"]})
tok.padding_side = "left"
assert tok.pad_token_id == 32000 and tok.bos_token_id == 2 and tok.convert_tokens_to_ids("<mol>") == 32001

rng = random.Random(7)
cases = []
for prompt_len, target_len, max_length in [(12, 5, 30), (12, 5, 19), (20, 30, 30), (30, 20, 30), (15, 15, 24),
                                           (10, 40, 22), (9, 9, 20), (25, 1, 27), (9, 0, 12), (18, 18, 11 + 8)]:
    prompt = [rng.randrange(3, 32000) for _ in range(prompt_len)]
    # the 8 <mol> tokens sit near the start, as in the template, so they survive truncation
    for i in range(8):
        prompt[1 + i] = 32001
    target = [rng.randrange(3, 32000) for _ in range(target_len)]
    enc = tok.prepare_for_model(prompt, target, truncation="longest_first", max_length=max_length,
                                padding="max_length", return_token_type_ids=True, return_attention_mask=True)
    cases.append({"prompt": prompt, "target": target, "max_length": max_length, "input_ids": enc["input_ids"],
                  "token_type_ids": enc["token_type_ids"], "attention_mask": enc["attention_mask"]})

out = here / "data" / "collate" / "pairs.jsonl"
out.write_text("".join(json.dumps(c) + "\n" for c in cases))
print(f"wrote {out} ({len(cases)} cases)")
