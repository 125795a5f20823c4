#!/usr/bin/env bash
# `molm inspect` end to end: listings, JSON, --against, and bad input (exit 1, one-line error, no
# crash). Usage: inspect.sh MOLM_BINARY GOLDEN_DATA_DIR
molm="$1"
golden="$2"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# expect RC PATTERN ARGS...: run molm ARGS, check the exit code and that the output matches PATTERN.
expect() {
  local rc="$1" pattern="$2"
  shift 2
  local out got
  out="$("$molm" "$@" 2>&1)"
  got=$?
  [[ "$got" -eq "$rc" ]] || fail "molm $* exited $got, expected $rc; output: $out"
  grep -qE -- "$pattern" <<<"$out" || fail "molm $*: output does not match '$pattern': $out"
  if [[ "$out" == "molm: error"* ]]; then
    local lines
    lines="$(wc -l <<<"$out")"
    [[ "$lines" -eq 1 ]] || fail "molm $*: error is $lines lines, not one: $out"
  fi
}

st="$golden/safetensors/reference.safetensors"
expect 0 '^f32 +f32 +\[3, 2, 2\] +48 B$' inspect "$st"
expect 0 '^total: 11 tensors, ' inspect "$st"
expect 0 '"name":"f32","dtype":"f32","shape":\[3,2,2\],"bytes":48' inspect "$st" --json
expect 0 '"total_tensors": 11' inspect "$st" --json
expect 0 'loads strictly' inspect "$st" --against "$st"

# write_safetensors FILE HEADER_JSON DATA_BYTES: a safetensors file with a zero-filled data section.
write_safetensors() {
  local n=${#2} i
  : >"$1"
  for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf '%03o' $(((n >> (8 * i)) & 255)))" >>"$1"; done
  printf '%s' "$2" >>"$1"
  head -c "$3" /dev/zero >>"$1"
}
# A model shaped like OTHER: f32 has another shape there, 'other' is missing from the file, and
# the file's remaining tensors are unexpected. The report names each; the exit code says it fails.
other="$work/other.safetensors"
write_safetensors "$other" '{"f32":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]},"other":{"dtype":"F16","shape":[2],"data_offsets":[24,28]}}' 28
expect 0 '^f32 +f32 +\[3, 2\] +24 B$' inspect "$other"
expect 1 'does NOT load strictly' inspect "$st" --against "$other"
expect 1 '^missing \(1\): other$' inspect "$st" --against "$other"
expect 1 '^shape mismatch \(1\): f32 \(model \[3, 2\], state dict \[3, 2, 2\]\)$' inspect "$st" --against "$other"
expect 1 '^unexpected \(10\): ' inspect "$st" --against "$other"
expect 1 '"ok": false' inspect "$st" --against "$other" --json

size=$(stat -c %s "$st")
expect 2 'required|missing' inspect
expect 1 'no such file' inspect "$work/absent.safetensors"

# Every truncation at 1/32 steps of the file: one-line molm error, exit 1, never a crash.
for i in $(seq 0 31); do
  head -c $((size * i / 32)) "$st" >"$work/cut.safetensors"
  expect 1 '^molm: error: ' inspect "$work/cut.safetensors"
done
# A header length larger than the file.
printf '\xff\xff\x00\x00\x00\x00\x00\x00{}' >"$work/long.safetensors"
expect 1 'header' inspect "$work/long.safetensors"

# PyTorch checkpoints: the state dict under its own names; optimizer tensors and pickled objects as
# warnings; code-running pickles, the legacy format and zip bombs rejected in one line.
torch="$golden/torch"
expect 0 '^model\.0\.weight +f32 +\[3, 4\] +48 B$' inspect "$torch/lightning.ckpt"
expect 0 '^warning: pickled object argparse\.Namespace was kept as an inert placeholder' inspect "$torch/lightning.ckpt"
expect 0 '^warning: 12 tensors outside the state dict' inspect "$torch/lightning.ckpt"
expect 0 '"format": "pytorch"' inspect "$torch/unimol.pt" --json
expect 1 "GLOBAL 'os\.system' .*rejected" inspect "$torch/mal_os_system.pt"
expect 1 "GLOBAL 'builtins\.eval'" inspect "$torch/mal_builtin_eval.pt"
expect 1 'legacy \(pre-1\.6\)' inspect "$torch/legacy.pt"
expect 1 'zip bomb' inspect "$torch/bomb_pkl.pt"
expect 1 'nest deeper' inspect "$torch/deep.pt"

# llama2.c: the real stories260K when the shared data is there.
stories="$golden/../../../../shared/data/models/stories260K/stories260K.bin"
if [[ -f "$stories" ]]; then
  expect 0 '^model\.layers\.4\.self_attn\.k_proj\.weight +f32 +\[32, 64\] ' inspect "$stories"
  expect 0 '^total: 48 tensors' inspect "$stories"
else
  echo "note: $stories absent; llama2.c checks skipped"
fi

finish inspect
