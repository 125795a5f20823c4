#!/usr/bin/env bash
# `molm eval` end to end on small files this script writes, with numbers that can be worked out by
# hand (the metrics themselves are checked against NLTK / rouge-score / the reference's scripts in
# tests/metrics and tests/text):
#   caption      str.split() pieces: an identical 5-word pair and a disjoint 1-word pair give BLEU-2
#                sqrt(5/6 * 4/5), BLEU-4 (5/6 * 4/5 * 3/4 * 2/3)^(1/4) (NLTK counts at least one
#                n-gram per hypothesis), ROUGE-1 50, METEOR (1 - 0.5/5^3)/2; the tiny WordPiece
#                vocabulary on identical pairs gives BLEU = ROUGE = 100; molm's, stage-2 and
#                generalist layouts of the same pairs give the same numbers;
#   property-qa  §7.3's first-decimal-number rule, windows, a molm-only task and --corrected;
#                the molm and generalist layouts give the same JSON;
#   retrieval    a 3x3 score matrix (.npy written with perl) with and without matching logits;
#   errors       usage errors exit 2, bad files exit 1 naming the file and line.
# Usage: eval.sh MOLM_BINARY GOLDEN_TOKENIZERS_DIR
molm="$1"
golden="$2"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# value FILE [BLOCK...] KEY: the number after "KEY": in FILE (dump(2) JSON), inside the nested
# objects named BLOCK... when given ("null" stays "null").
value() {
  local file="$1"
  shift
  local IFS='|'
  awk -v path="$*" 'BEGIN { n = split(path, keys, "|"); k = 1 }
    {
      if (index($0, "\"" keys[k] "\":") > 0) {
        if (k == n) { line = $0; sub(/^[^:]*: */, "", line); sub(/,$/, "", line); print line; exit }
        k++
      }
    }' "$file"
}

# near A B: |A - B| <= 1e-9 (both numbers)
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-9) }'; }

# expect FILE [BLOCK...] KEY WANT
expect() {
  local want="${*: -1}"
  local got
  got="$(value "${@:1:$#-1}")"
  if [[ "$want" == null || "$got" == null ]]; then
    [[ "$got" == "$want" ]] || fail "${*:1:$#-1}: got '$got', want $want"
  else
    near "$got" "$want" || fail "${*:1:$#-1}: got '$got', want $want"
  fi
}

run_eval() {  # OUT_JSON ARGS...: molm eval ARGS --json > OUT_JSON, reporting a failure
  local out="$1"
  shift
  if ! "$molm" eval "$@" --json >"$out" 2>"$work/err"; then
    fail "molm eval $* exited non-zero: $(cat "$work/err")"
    return 1
  fi
}

# ---- caption -----------------------------------------------------------------------------------
wordnet_dir="${MOLM_WORDNET_DIR:-/usr/share/wordnet}"
if [[ -e "$wordnet_dir/index.noun" ]]; then
  cat >"$work/captions.jsonl" <<'EOF'
{"id": "a", "prediction": "the acid is a ring", "reference": "the acid is a ring"}
{"id": "b", "prediction": "ring", "reference": "acid"}
EOF
  if run_eval "$work/caption.json" --task caption --predictions "$work/captions.jsonl" --tokenizer split \
    --out "$work/caption_out.json"; then
    expect "$work/caption.json" bleu2 "$(awk 'BEGIN { printf "%.15f", sqrt(5 / 6 * 4 / 5) * 100 }')"
    expect "$work/caption.json" bleu4 "$(awk 'BEGIN { printf "%.15f", exp(log(5 / 6 * 4 / 5 * 3 / 4 * 2 / 3) / 4) * 100 }')"
    expect "$work/caption.json" rouge1 50
    expect "$work/caption.json" rouge2 50
    expect "$work/caption.json" rougeL 50
    expect "$work/caption.json" meteor "$(awk 'BEGIN { printf "%.15f", (1 - 0.5 / 125) / 2 * 100 }')"
    expect "$work/caption.json" n 2
    cmp -s "$work/caption.json" "$work/caption_out.json" || fail "--out differs from --json"
  fi
  # The default output is a markdown table.
  out="$("$molm" eval --task caption --predictions "$work/captions.jsonl" --tokenizer split 2>&1)"
  [[ "$out" == *"| set | n | BLEU-2 |"* && "$out" == *"| captions | 2 | 81.65 | 75.98 | 50.00 | 50.00 | 50.00 | 49.80 |"* ]] ||
    fail "caption markdown table: $out"

  # The same pairs as 3D-MoLM's stage-2 predictions.txt and as a generalist one (Caption items).
  cat >"$work/stage2.txt" <<'EOF'
{"prediction": "the acid is a ring", "target": "the acid is a ring"}
{"prediction": "ring", "target": "acid"}
EOF
  run_eval "$work/stage2.json" --task caption --predictions "$work/stage2.txt" --tokenizer split &&
    { cmp -s "$work/caption.json" "$work/stage2.json" || fail "stage-2 layout: $(cat "$work/stage2.json")"; }
  cat >"$work/generalist.txt" <<'EOF'
{"prediction": ["the acid is a ring", "1.50", "an acid"], "target": ["the acid is a ring", "2.00", "an acid"], "task_type": ["Caption", "LogP", "Description"]}
{"prediction": ["ring"], "target": ["acid"], "task_type": ["Caption"]}
EOF
  if run_eval "$work/generalist.json" --task caption --predictions "$work/generalist.txt" --tokenizer split; then
    for key in bleu2 bleu4 rouge1 rouge2 rougeL meteor n; do
      expect "$work/generalist.json" Caption "$key" "$(value "$work/caption.json" "$key")"
    done
    expect "$work/generalist.json" Description rouge1 100
    expect "$work/generalist.json" Description n 1
  fi

  # SciBERT-style WordPiece (the tiny committed vocabulary): identical pairs score 100 but METEOR,
  # which is 1 - 0.5 / m^3 for m pieces ("The molecule is a benzene ring." = 7 pieces, "Acidic" = 2).
  cat >"$work/same.jsonl" <<'EOF'
{"prediction": "The molecule is a benzene ring.", "reference": "The molecule is a benzene ring."}
{"prediction": "Acidic", "reference": "Acidic"}
EOF
  if run_eval "$work/same.json" --task caption --predictions "$work/same.jsonl" --tokenizer scibert \
    --vocab "$golden/tiny_vocab.txt"; then
    expect "$work/same.json" bleu2 100
    expect "$work/same.json" rougeL 100
    expect "$work/same.json" meteor "$(awk 'BEGIN { printf "%.15f", ((1 - 0.5 / 343) + (1 - 0.5 / 8)) / 2 * 100 }')"
  fi
  # The plain Llama tokenizer (tiny SentencePiece model): identical pairs give BLEU-2 100.
  run_eval "$work/same_llama.json" --task caption --predictions "$work/same.jsonl" --tokenizer llama \
    --vocab "$golden/tiny_sp.model" && expect "$work/same_llama.json" bleu2 100
else
  echo "note: WordNet is absent from $wordnet_dir; the caption checks (METEOR) are skipped"
fi

# ---- property QA -------------------------------------------------------------------------------
cat >"$work/props.jsonl" <<'EOF'
{"task": "HOMO", "prediction": "The HOMO is -5.500 eV.", "reference": "The HOMO for the input molecule is -5.250 eV."}
{"task": "HOMO", "prediction": "-6", "reference": "The HOMO for the input molecule is -5.000 eV."}
{"task": "HOMO", "prediction": "-25.0", "reference": "The HOMO for the input molecule is -5.000 eV."}
{"task": "HOMO", "prediction": "-4.75, or maybe -9.00", "reference": "The HOMO for the input molecule is -5.000 eV."}
{"task": "SCF Energy", "prediction": "-1.870e+05 eV", "reference": "The SCF Energy for the input molecule is -1.880e+05 eV."}
{"task": "Ring Count", "prediction": "2.00", "reference": "The Ring Count for the input molecule is 3.00."}
{"task": "Ring Count", "prediction": "3", "reference": "The Ring Count for the input molecule is 3.00."}
{"task": "Caption", "prediction": "It is 1.5.", "reference": "It is 2.5."}
EOF
if run_eval "$work/props.json" --task property-qa --predictions "$work/props.jsonl" --corrected --out "$work/props_out.json"; then
  expect "$work/props.json" tasks HOMO mae 0.25
  expect "$work/props.json" tasks HOMO valid 0.5
  expect "$work/props.json" tasks HOMO n 4
  expect "$work/props.json" tasks "SCF Energy" mae 0.01  # the mantissas -1.870 and -1.880
  expect "$work/props.json" tasks "Ring Count" mae 1
  expect "$work/props.json" tasks "Ring Count" valid 0.5
  grep -q '"molm_addition": true' "$work/props.json" || fail "Ring Count is not marked as a molm addition"
  expect "$work/props.json" skipped_text_items 1
  expect "$work/props.json" corrected tasks HOMO mae 0.5         # -6 now counts: (0.25 + 1 + 0.25) / 3
  expect "$work/props.json" corrected tasks "SCF Energy" mae 1000
  expect "$work/props.json" corrected tasks "Ring Count" mae 0.5
  cmp -s "$work/props.json" "$work/props_out.json" || fail "--out differs from --json"
fi
out="$("$molm" eval --task property-qa --predictions "$work/props.jsonl" 2>&1)"
[[ "$out" == *"| HOMO | 0.250 | 0.5000 | 4 | -20 < x < 20 |"* && "$out" == *"| Ring Count † |"* &&
   "$out" != *Corrected* ]] || fail "property-qa markdown table: $out"
# The generalist layout (two ranks) gives the same numbers.
cat >"$work/props_generalist.txt" <<'EOF'
{"prediction": ["The HOMO is -5.500 eV.", "-6", "-25.0", "-4.75, or maybe -9.00"], "target": ["The HOMO for the input molecule is -5.250 eV.", "The HOMO for the input molecule is -5.000 eV.", "The HOMO for the input molecule is -5.000 eV.", "The HOMO for the input molecule is -5.000 eV."], "task_type": ["HOMO", "HOMO", "HOMO", "HOMO"]}
{"prediction": ["-1.870e+05 eV", "2.00", "3", "It is 1.5."], "target": ["The SCF Energy for the input molecule is -1.880e+05 eV.", "The Ring Count for the input molecule is 3.00.", "The Ring Count for the input molecule is 3.00.", "It is 2.5."], "task_type": ["SCF Energy", "Ring Count", "Ring Count", "Caption"]}
EOF
run_eval "$work/props_generalist.json" --task property-qa --predictions "$work/props_generalist.txt" --corrected &&
  { cmp -s "$work/props.json" "$work/props_generalist.json" || fail "generalist layout differs: $(diff "$work/props.json" "$work/props_generalist.json")"; }

# ---- retrieval ---------------------------------------------------------------------------------
# write_npy FILE ROWS COLS VALUES...: a little-endian float64 .npy
write_npy() {
  perl -e 'my ($f, $r, $c, @v) = @ARGV;
    my $h = "{\x27descr\x27: \x27<f8\x27, \x27fortran_order\x27: False, \x27shape\x27: ($r, $c), }";
    $h .= " " x ((64 - (10 + length($h) + 1) % 64) % 64) . "\n";
    open(my $o, ">:raw", $f) or die "$f: $!";
    print $o "\x93NUMPY\x01\x00", pack("v", length($h)), $h, pack("d<*", @v);
    close $o;' "$@"
}
# Molecule 1's best text is text 0; every text's best molecule is its own. The matching logit
# g(1, 1) = 1 lifts pair 1 to the top.
write_npy "$work/sim.npy" 3 3 0.9 0.1 0.0 0.8 0.5 0.2 0.1 0.3 0.7
write_npy "$work/match.npy" 3 3 0 0 0 0 1 0 0 0 0
if run_eval "$work/ret.json" --task retrieval --scores "$work/sim.npy" --match-scores "$work/match.npy" \
  --rerank-candidates 2; then
  expect "$work/ret.json" n 3
  expect "$work/ret.json" inbatch m2t_acc 66.67
  expect "$work/ret.json" inbatch m2t_r20 100
  expect "$work/ret.json" inbatch t2m_acc 100
  expect "$work/ret.json" full m2t_acc 66.67
  expect "$work/ret.json" inbatch_rerank m2t_acc 100
  expect "$work/ret.json" full_rerank m2t_acc 100
  expect "$work/ret.json" full_rerank t2m_acc 100
fi
# Groups of one: every pair is its own batch.
run_eval "$work/ret1.json" --task retrieval --scores "$work/sim.npy" --batch-size 1 &&
  { expect "$work/ret1.json" inbatch m2t_acc 100; grep -q rerank "$work/ret1.json" && fail "rerank without --match-scores"; }
out="$("$molm" eval --task retrieval --scores "$work/sim.npy" 2>&1)"
[[ "$out" == *"| full | 66.67 | 100.00 | 100.00 | 100.00 |"* ]] || fail "retrieval markdown table: $out"

# ---- errors ------------------------------------------------------------------------------------
"$molm" eval --task bogus --predictions "$work/props.jsonl" >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "--task bogus should be a usage error"
"$molm" eval --task caption --predictions "$work/props.jsonl" >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "caption without --tokenizer should be a usage error"
"$molm" eval --task caption --predictions "$work/props.jsonl" --tokenizer scibert >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "--tokenizer scibert without --vocab should be a usage error"
"$molm" eval --task retrieval >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "retrieval without --scores should be a usage error"
printf '{"task": "LogP", "prediction": "1.5", "reference": "2.5"}\n{"task": "LogP", "prediction": \n' >"$work/bad.jsonl"
out="$("$molm" eval --task property-qa --predictions "$work/bad.jsonl" 2>&1)"
[[ $? -eq 1 && "$out" == *"bad.jsonl, line 2"* ]] || fail "a malformed line: $out"
printf '{"prediction": ["a", "b"], "target": ["a"], "task_type": ["LogP", "LogP"]}\n' >"$work/ragged.txt"
out="$("$molm" eval --task property-qa --predictions "$work/ragged.txt" 2>&1)"
[[ $? -eq 1 && "$out" == *"parallel"* ]] || fail "ragged generalist lists: $out"
out="$("$molm" eval --task property-qa --predictions "$work/missing.jsonl" 2>&1)"
[[ $? -eq 1 && "$out" == *missing.jsonl* ]] || fail "a missing predictions file: $out"
out="$("$molm" eval --task retrieval --scores "$work/sim.npy" --match-scores "$work/match.npy" 2>&1)"
[[ $? -eq 1 && "$out" == *"rerank-candidates"* ]] || fail "64 rerank candidates among 3 items: $out"
write_npy "$work/rect.npy" 2 3 1 2 3 4 5 6
out="$("$molm" eval --task retrieval --scores "$work/rect.npy" 2>&1)"
[[ $? -eq 1 && "$out" == *"square"* ]] || fail "a 2x3 score matrix: $out"

finish eval
