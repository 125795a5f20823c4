#!/usr/bin/env bash
# `molm prepare` end to end: conformers into the cache with a JSONL report, bad molecules listed with
# their reason, a second run served from the cache, exit 1 when nothing succeeds.
# Usage: prepare.sh MOLM_BINARY
molm="$1"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

printf 'CCO ethanol\nc1ccccc1O phenol\nCC(=O)Oc1ccccc1C(=O)O aspirin\nnot_a_smiles bad\nC1CC unclosed\n' >"$work/in.smi"
printf 'smiles,name\nCC(N)C(=O)O,alanine\nC,methane\n' >"$work/in.csv"

"$molm" prepare "$work/in.smi" "$work/in.csv" --out "$work/cache.lmdb" --report "$work/r1.jsonl" --threads 2 \
  2>"$work/err1"
rc=$?
[[ $rc -eq 0 ]] || fail "first run exited $rc: $(cat "$work/err1")"
[[ $(wc -l <"$work/r1.jsonl") -eq 8 ]] || fail "report has $(wc -l <"$work/r1.jsonl") lines, expected 7 records + summary"
check "$work/r1.jsonl" '"summary":\{.*"failed":2,.*"molecules":7,"molm_version":"[^"]*","ok":5'
check "$work/r1.jsonl" '"input":"not_a_smiles".*"status":"invalid_input"'
check "$work/r1.jsonl" '"canonical_smiles":"CCO".*"method":"etkdg_v3".*"status":"ok"'
check "$work/err1" '7 molecules: 5 new conformers, 0 from the cache, 2 failed; 2 invalid_input'

# The second run embeds nothing: every good molecule comes from the cache.
"$molm" prepare "$work/in.smi" "$work/in.csv" --out "$work/cache.lmdb" --report "$work/r2.jsonl" 2>"$work/err2"
[[ $? -eq 0 ]] || fail "second run failed: $(cat "$work/err2")"
check "$work/r2.jsonl" '"summary":\{.*"cached":5,'
check "$work/err2" '0 new conformers, 5 from the cache'

# Another seed is another cache key: embedded again.
"$molm" prepare "$work/in.csv" --out "$work/cache.lmdb" --seed 7 2>"$work/err3"
check "$work/err3" '2 new conformers, 0 from the cache'

# Progress: a plain line without a terminal; on a terminal one line rewritten in place (\r) with
# rate and ETA. `script` (util-linux) gives the command a pseudo-terminal.
check "$work/err1" '^\[prepare\] 7/7 molecules  [0-9.]+/s  elapsed [0-9]+s  ETA [0-9]+s$'
if command -v script >/dev/null 2>&1; then
  script -qec "'$molm' prepare '$work/in.csv' --out '$work/tty.lmdb'" /dev/null >"$work/tty.out" 2>&1
  grep -q $'\r\[prepare\] 2/2 molecules  [0-9.]*/s  elapsed [0-9]*s  ETA 0s' "$work/tty.out" ||
    fail "no in-place progress line on a terminal: $(od -c "$work/tty.out" | head -5)"
else
  echo "note: 'script' (util-linux) is absent; the terminal progress line is not checked"
fi

# Failures are cached with their reason: a rerun reports them without embedding again, unless
# --retry-failed. (300 carbons break the 256-atom size policy: a quick, deterministic failure.)
printf 'CCO ethanol\n%s chain300\n' "$(printf 'C%.0s' {1..300})" >"$work/big.smi"
"$molm" prepare "$work/big.smi" --out "$work/fail.lmdb" --report "$work/f1.jsonl" 2>"$work/errf1"
check "$work/f1.jsonl" '"status":"too_large"'
"$molm" prepare "$work/big.smi" --out "$work/fail.lmdb" --report "$work/f2.jsonl" 2>"$work/errf2"
check "$work/f2.jsonl" '"cached":true.*"status":"too_large"'
check "$work/errf2" '0 new conformers, 1 from the cache, 1 failed; 1 too_large \(1 known from the cache; --retry-failed'
"$molm" prepare "$work/big.smi" --out "$work/fail.lmdb" --retry-failed 2>"$work/errf3"
check "$work/errf3" '0 new conformers, 1 from the cache, 1 failed; 1 too_large$'

# Nothing usable: exit 1. A missing column: a one-line error, exit 1.
printf 'xx\nyy\n' >"$work/bad.smi"
"$molm" prepare "$work/bad.smi" --out "$work/other.lmdb" 2>"$work/err4"
[[ $? -eq 1 ]] || fail "all-invalid input should exit 1"
printf 'name\nx\n' >"$work/nocol.csv"
out="$("$molm" prepare "$work/nocol.csv" --out "$work/other.lmdb" 2>&1)"
[[ $? -eq 1 && "$out" == *smiles* ]] || fail "missing column: $out"

finish prepare
