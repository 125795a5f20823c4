#!/usr/bin/env bash
# `molm convert --from unimol` and `molm encode` end to end on the golden `tiny` Uni-Mol checkpoint.
# Usage: unimol.sh MOLM_BINARY GOLDEN_DIR
molm="$1"
golden="$2"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$molm" convert --from unimol "$golden/unimol/tiny.pt" "$work/tiny" >"$work/convert.out" 2>&1 ||
  fail "convert failed: $(cat "$work/convert.out")"
check "$work/convert.out" '^Uni-Mol encoder: 2 layers, 32 wide, 4 heads, FFN 64, 16 Gaussian kernels, vocabulary 31$'
check "$work/convert.out" '^loaded 37 tensors strictly'
[[ -f "$work/tiny/config.json" && -f "$work/tiny/model.safetensors" ]] || fail "no checkpoint directory written"
check "$work/tiny/config.json" '"model": *"unimol-encoder"'

"$molm" convert --from llama "$golden/unimol/tiny.pt" "$work/x" 2>"$work/err0"
[[ $? -eq 2 ]] || fail "an unknown --from should be a usage error"
check "$work/err0" "cannot convert from 'llama'"

# inspect against a model preset: the tiny checkpoint fits `tiny`, not `paper`.
"$molm" inspect "$golden/unimol/tiny.pt" --against unimol:tiny >"$work/against1" 2>&1 ||
  fail "tiny.pt should load strictly into unimol:tiny: $(cat "$work/against1")"
check "$work/against1" 'against unimol:tiny: loads strictly'
"$molm" inspect "$golden/unimol/tiny.pt" --against unimol:paper >"$work/against2" 2>&1
[[ $? -eq 1 ]] || fail "tiny.pt against unimol:paper should exit 1"
check "$work/against2" 'does NOT load strictly'
check "$work/against2" 'embed_tokens.weight'

# [CLS] vectors: two good molecules, one bad; the bad one is listed, not fatal.
"$molm" encode --model "$work/tiny" --smiles CCO --smiles 'not a smiles' --smiles c1ccccc1O --out "$work/cls.npy" \
  2>"$work/err1"
[[ $? -eq 0 ]] || fail "encode failed: $(cat "$work/err1")"
check "$work/err1" '3 molecules: 2 encoded, 1 failed'
head -c 128 "$work/cls.npy" | grep -q "'shape': (2, 32)" || fail "cls.npy is not [2, 32]: $(head -c 128 "$work/cls.npy")"
[[ $(wc -l <"$work/cls.npy.provenance.jsonl") -eq 3 ]] || fail "provenance should have 3 lines"
check "$work/cls.npy.provenance.jsonl" '"row":1'
check "$work/cls.npy.provenance.jsonl" '"status":"invalid_input"'

# Per-atom vectors as JSON lines: ethanol has 3 heavy atoms.
"$molm" encode --model "$work/tiny" --smiles CCO --atoms --out "$work/atoms.jsonl" 2>"$work/err2"
[[ $? -eq 0 ]] || fail "encode --atoms failed: $(cat "$work/err2")"
check "$work/atoms.jsonl" '"symbols":\["C","C","O"\]'
check "$work/atoms.jsonl" '"method":"etkdg_v3"'

"$molm" encode --model "$work/tiny" --smiles CCO --out "$work/x.csv" 2>"$work/err3"
[[ $? -eq 2 ]] || fail "--out x.csv should be a usage error"
"$molm" encode --model "$work/nowhere" --smiles CCO --out "$work/y.npy" 2>"$work/err4"
[[ $? -eq 1 ]] || fail "a missing model should fail"

finish unimol
