#!/usr/bin/env bash
# `molm tokenize` end to end on the committed tiny tokenizers (tests/golden/gen_tokenizers.py wrote
# the expected lines with transformers 4.35.2): ids with [CLS]/[SEP] and 3D-MoLM's [DEC], cased
# without specials, Llama as 3D-MoLM configures it, plain Llama pieces; usage errors exit 2.
# Usage: tokenize.sh MOLM_BINARY GOLDEN_TOKENIZERS_DIR
molm="$1"
golden="$2"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# same EXPECTED_FILE ARGS...: the output on cli_input.txt equals the expected file line for line
same() {
  local expected="$1"
  shift
  if ! "$molm" tokenize "$@" <"$golden/cli_input.txt" >"$work/out" 2>"$work/err"; then
    fail "molm tokenize $* exited non-zero: $(cat "$work/err")"
    return
  fi
  diff -u "$golden/$expected" "$work/out" >"$work/diff" || fail "molm tokenize $* differs from $expected: $(head -20 "$work/diff")"
}

same cli_bert_dec.txt --tokenizer "$golden/tiny_vocab.txt" --added-tokens 3d-molm
same cli_bert_cased_nospecial.txt --tokenizer "$golden/tiny_vocab.txt" --cased --no-special
same cli_llama_reference.txt --tokenizer "$golden/tiny_sp.model" --added-tokens 3d-molm
same cli_llama_plain_pieces.txt --tokenizer "$golden/tiny_sp.model" --pieces

# one output line per input line, also for an empty line and a last line without \n
out="$(printf 'the\n\nacid' | "$molm" tokenize --tokenizer "$golden/tiny_vocab.txt" --no-special)"
[[ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ]] || fail "expected 3 output lines, got: $out"
# CRLF input: the \r is not part of the text
[[ "$(printf 'the\r\n' | "$molm" tokenize --tokenizer "$golden/tiny_vocab.txt")" == \
   "$(printf 'the\n' | "$molm" tokenize --tokenizer "$golden/tiny_vocab.txt")" ]] || fail "CRLF line differs from LF"

# wrong command lines exit 2; a missing file exits 1 naming it
"$molm" tokenize --tokenizer "$golden/tiny_sp.model" --cased </dev/null >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "--cased with a Llama model should be a usage error"
"$molm" tokenize --tokenizer "$golden/tiny_vocab.txt" --added-tokens bogus </dev/null >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "--added-tokens bogus should be a usage error"
"$molm" tokenize </dev/null >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "a missing --tokenizer should be a usage error"
out="$("$molm" tokenize --tokenizer "$work/missing.model" </dev/null 2>&1)"
[[ $? -eq 1 && "$out" == *missing.model* ]] || fail "a missing model file: $out"

finish tokenize
