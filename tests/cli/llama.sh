#!/usr/bin/env bash
# `molm convert --from hf|llama2c`, `molm inspect --against llama:...` and `molm generate` end to end:
# the golden tiny Llama in 3D-MoLM's fp16 `pytorch_model-0000N-of-00002.bin` layout is converted,
# inspected and decoded (greedy and 5-beam token ids equal transformers', from generate.json); with
# the shared stories260K, the llama2.c file is converted with its tokenizer and generates text.
# Usage: llama.sh MOLM_BINARY GOLDEN_DIR SHARED_DATA_DIR
molm="$1"
golden="$2/llama"
stories="$3/models/stories260K"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$molm" convert --from hf "$golden/tiny_bin_fp16" "$work/tiny" >"$work/convert.out" 2>&1 ||
  fail "convert --from hf failed: $(cat "$work/convert.out")"
check "$work/convert.out" '^read 21 tensors \(directory\)'
check "$work/convert.out" '^Llama: 2 layers, 32 wide, 4 heads \(2 key/value\), FFN 64, vocabulary 96'
"$molm" inspect "$work/tiny" --against llama:tiny >"$work/inspect1" 2>&1 || fail "tiny should load into llama:tiny: $(cat "$work/inspect1")"
check "$work/inspect1" 'loads strictly'
"$molm" inspect "$work/tiny" --against llama:paper >"$work/inspect2" 2>&1
[[ $? -eq 1 ]] || fail "tiny against llama:paper should exit 1"
check "$work/inspect2" 'missing \(270\): .*model.layers.31.mlp.up_proj.weight'

# Prompt 0 of generate.json: [45, 13]; the converted weights are the fp16-rounded ones, so only the
# first greedy tokens are compared (the f32 golden run has margins of 7e-4; fp16 rounding is larger).
"$molm" generate --model "$golden/tiny" --prompt-ids 45,13 --max-new-tokens 32 --print-ids >"$work/greedy" 2>"$work/err1" ||
  fail "generate failed: $(cat "$work/err1")"
check "$work/greedy" '^10 58 6 53 22 59 27 59 65 12 27 59 47 61 65 12 81 27 22 12 63 9 81 59 89 63 24 27 51 8 65 53$'
check "$work/err1" '^decode += .* tok/s'
"$molm" generate --model "$golden/tiny" --prompt-ids "45 13" --beams 5 --repetition-penalty 1.2 --length-penalty 0.8 \
  --min-new-tokens 8 --max-new-tokens 32 --print-ids >"$work/beam" 2>"$work/err2" || fail "beam failed: $(cat "$work/err2")"
check "$work/beam" '^10 59 89 42 89 89 56 23 23 23 2$'
"$molm" generate --model "$work/tiny" --prompt-ids 45,13 --max-new-tokens 4 --print-ids --dtype int8 >"$work/int8" 2>&1 ||
  fail "int8 generate failed: $(cat "$work/int8")"
"$molm" generate --model "$golden/tiny" --prompt-ids 45,x --print-ids >"$work/bad" 2>&1
[[ $? -eq 2 ]] || fail "a bad id should be a usage error"
check "$work/bad" "'x' is not a token id"
"$molm" generate --model "$golden/tiny" --prompt "hello" >"$work/notok" 2>&1
[[ $? -eq 1 ]] || fail "--prompt without a tokenizer should fail"
check "$work/notok" 'has no tokenizer.model: use --prompt-ids'

if [[ -f "$stories/stories260K.bin" ]]; then
  "$molm" convert --from llama2c "$stories/stories260K.bin" --tokenizer "$stories/tok512.model" "$work/s260" \
    >"$work/c2.out" 2>&1 || fail "convert --from llama2c failed: $(cat "$work/c2.out")"
  "$molm" generate --model "$work/s260" --prompt "Once upon a time" --max-new-tokens 30 >"$work/story" 2>"$work/err3" ||
    fail "stories260K generate failed: $(cat "$work/err3")"
  check "$work/story" 'Lily'
else
  echo "note: $stories is absent: the llama2.c part is skipped"
fi
finish llama
