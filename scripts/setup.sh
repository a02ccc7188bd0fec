#!/usr/bin/env bash
# Install what mailfleet needs on a Debian 12 machine: apt packages and the virtual environment.
# Safe to run again: it installs only what is missing and reinstalls Python packages only when
# pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages and the testbed needs root)" >&2
  exit 1
fi

mapfile -t packages < <(grep -v '^\s*\(#\|$\)' scripts/apt-packages.txt)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # Debian starts some daemons on install (bind9, redis, apt-cacher-ng ...); the testbed runs its own
  # instances on their own addresses, so the system copies are left as Debian configures them.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python"
  "$python" -m venv .venv
fi
stamp=.venv/.mailfleet-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test,lint,docs]'
  echo "$want" > "$stamp"
fi
echo "setup: ready"
