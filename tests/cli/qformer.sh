#!/usr/bin/env bash
# `molm inspect --against stage1:paper`, `molm convert --from 3d-molm` and `molm retrieve` end to end on
# a file in the exact layout of 3D-MoLM's released stage1.ckpt (paper shapes, bf16; its values are
# broadcast rows, so the scores tie: this checks the pipeline, not retrieval quality — the golden
# tests check the numbers).
# Usage: qformer.sh MOLM_BINARY GOLDEN_DIR SHARED_DATA_DIR    (skips, 77, without SciBERT's vocab.txt)
molm="$1"
golden="$2"
vocab="$3/tokenizers/scibert/vocab.txt"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [[ ! -f "$vocab" ]]; then
  echo "SKIP: $vocab is absent (set MOLM_DATA_DIR to the shared data folder)"
  exit 77
fi
released="$golden/released"

"$molm" inspect "$released/stage1.ckpt" --against stage1:paper >"$work/inspect1" 2>&1 ||
  fail "the released layout should load strictly into stage1:paper: $(cat "$work/inspect1")"
check "$work/inspect1" 'against stage1:paper: loads strictly'
"$molm" inspect "$released/stage1.ckpt" --against stage1:tiny >"$work/inspect2" 2>&1
[[ $? -eq 1 ]] || fail "stage1.ckpt against stage1:tiny should exit 1"
check "$work/inspect2" 'does NOT load strictly'
check "$work/inspect2" 'blip2qformer.Qformer.bert.encoder.layer.11'

"$molm" convert --from 3d-molm "$released/stage1.ckpt" "$work/x" 2>"$work/err0"
[[ $? -eq 2 ]] || fail "--from 3d-molm without --unimol should be a usage error"
check "$work/err0" 'give the Uni-Mol checkpoint with --unimol'

"$molm" convert --from 3d-molm "$released/stage1.ckpt" --unimol "$released/unimol.pt" --vocab "$vocab" \
  "$work/stage1" >"$work/convert.out" 2>&1 || fail "convert failed: $(cat "$work/convert.out")"
check "$work/convert.out" '^stage-1 Q-Former: 12 layers, 768 wide, 12 heads, FFN 3072, vocabulary 31091, 8 queries, cross-attention every 2 layers reading 512-wide rows, contrastive dim 256$'
check "$work/convert.out" '^loaded 344 tensors strictly .*; 344 converted to f32$'
check "$work/convert.out" '^Uni-Mol encoder: 15 layers, 512 wide, 64 heads; 193 tensors loaded, 18 pretraining-head tensors skipped$'
check "$work/stage1/config.json" '"model": *"molm-stage1"'
[[ -f "$work/stage1/vocab.txt" ]] || fail "the vocabulary was not kept beside the model"

printf 'CCO ethanol\nc1ccccc1O phenol\nnot_a_smiles bad\nCC(=O)O acetic acid\n' >"$work/m.smi"
printf 'A primary alcohol.\nAn aromatic alcohol.\nA carboxylic acid.\n' >"$work/t.txt"
"$molm" retrieve --model "$work/stage1" --molecules "$work/m.smi" --texts "$work/t.txt" --top-k 2 --rerank 3 \
  --out "$work/r.jsonl" 2>"$work/err1" || fail "retrieve failed: $(cat "$work/err1")"
check "$work/err1" '4 molecules \(3 encoded, 1 failed\), 3 texts'
[[ $(wc -l <"$work/r.jsonl") -eq 7 ]] || fail "r.jsonl should hold 4 molecule lines and 3 text lines"
check "$work/r.jsonl" '^\{"input":"CCO","molecule":0,"name":"ethanol","texts":\[\{"match":'
check "$work/r.jsonl" '"error":".*invalid SMILES'
check "$work/r.jsonl" '^\{"molecules":\[\{"match":.*,"molecule":[013],.*"text":2\}$'

printf 'CCO\nc1ccccc1O\nCC(=O)O\n' >"$work/m3.smi"
"$molm" retrieve --model "$work/stage1" --molecules "$work/m3.smi" --texts "$work/t.txt" --evaluate \
  --out "$work/r3.jsonl" >"$work/eval.json" 2>"$work/err2" || fail "retrieve --evaluate failed: $(cat "$work/err2")"
check "$work/eval.json" '"full_rerank"'
check "$work/eval.json" '"m2t_acc"'
"$molm" retrieve --model "$work/stage1" --molecules "$work/m.smi" --texts "$work/t.txt" --evaluate \
  --out "$work/r4.jsonl" >/dev/null 2>"$work/err3"
[[ $? -eq 2 ]] || fail "--evaluate with a failed molecule should be a usage error"
"$molm" retrieve --model "$work/nowhere" --molecules "$work/m.smi" --texts "$work/t.txt" --out "$work/r5.jsonl" 2>/dev/null
[[ $? -eq 1 ]] || fail "a missing model should fail"

finish qformer
