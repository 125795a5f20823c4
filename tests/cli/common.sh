# Shared by the tests/cli/*.sh scripts (sourced): a scratch folder removed on exit, a failure
# counter, and the closing line CTest's PASS_REGULAR_EXPRESSION looks for.
#   fail MESSAGE          count a failed check and say why
#   check FILE REGEX      FILE must contain a line matching the extended regex
#   finish NAME           print "all NAME checks passed" and exit 0, or the count and exit 1
set -uo pipefail
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { grep -qE -- "$2" "$1" || fail "$1 does not match '$2': $(tail -c 600 "$1")"; }
finish() {
  if ((failures)); then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all $1 checks passed"
  exit 0
}
