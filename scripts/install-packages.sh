#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/debian-packages.txt (or in the list file given as
# the first argument). Does nothing (and needs no network or root) when they are all installed
# already, so re-running the set-up scripts is fast. Uses sudo when not run as root.
set -euo pipefail
list="${1:-$(dirname "${BASH_SOURCE[0]}")/debian-packages.txt}"
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$list")

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null || true)"
  [[ "$status" == ii* ]] || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "All ${#packages[@]} Debian packages molm needs are installed."
  exit 0
fi

echo "Installing ${#missing[@]} Debian packages: ${missing[*]}"
as_root=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "error: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
