#!/usr/bin/env bash
# Everything openline needs on a fresh machine: a virtualenv with the project and its
# test dependencies, and Debian's Chromium for the console's browser tests. Safe to run
# again; it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.openline-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  touch "$stamp"
fi

# Debian packages: Chromium for the console's browser tests (driven through Playwright,
# never a browser Playwright downloads itself), the espeak-ng command, which makes their
# reference speech (openline itself speaks with the espeakng-loader wheel), bubblewrap,
# the sandbox deployments run in (docs/deployments.md#isolation), and Prometheus, the real
# scraper of the /metrics tests (tests/telemetry).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo"
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
