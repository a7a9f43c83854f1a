#!/usr/bin/env bash
# Fetches the data the presets read into data/ (git-ignored), checked against the sha256 sums
# committed in scripts/data.sha256. Like llama.cpp's scripts/get-wikitext-2.sh.
#
#   scripts/get-data.sh            public-domain books (Project Gutenberg, by ebook number) and
#                                  the WikiText-2 test split: everything presets/tinyllama-*.toml read
#   scripts/get-data.sh --tiny     also the tiny test checkpoints and the TinyStories sample that
#                                  presets/smoke.toml reads (from a mirror only, see below)
#
# ROPEBENCH_DATA_MIRROR=DIR  copy from a local folder laid out like data/ (text/, models/)
#                            instead of downloading (our machines and CI: ../shared/data)
# ROPEBENCH_DATA_DIR=DIR     where to write (default: data/ in the repository)
#
# Books: https://www.gutenberg.org/cache/epub/N/pgN.txt, decoded as UTF-8 (Windows-1252 when
# that fails), CRLF -> LF, then the Project Gutenberg licence header and footer are removed by
# this rule: every line up to and including the first line that starts with "*** START OF",
# and every line from the first line that starts with "*** END OF" on. The sums pin the texts
# our figures were made with; Project Gutenberg revises its files now and then, so a download
# whose sum differs stops with an error (ROPEBENCH_DATA_ACCEPT_CHANGED=1 keeps it, with a
# warning: results are then not comparable with published ones). Files already present with
# the right sum are left alone; every file is written to a temporary name and renamed.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SUMS="$ROOT/scripts/data.sha256"
DEST="${ROPEBENCH_DATA_DIR:-$ROOT/data}"
MIRROR="${ROPEBENCH_DATA_MIRROR:-}"
TINY=0
for a in "$@"; do
  case "$a" in
    --tiny) TINY=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "error: get-data.sh: unknown argument '$a' (expected --tiny)" >&2; exit 2 ;;
  esac
done
if [ -n "$MIRROR" ] && [ ! -d "$MIRROR" ]; then
  echo "error: ROPEBENCH_DATA_MIRROR: '$MIRROR' is not a folder" >&2; exit 1
fi

want_sum() { awk -v f="$1" '$2 == f { print $1 }' "$SUMS"; }
have_ok() { [ -f "$DEST/$1" ] && [ "$(sha256sum "$DEST/$1" | cut -d' ' -f1)" = "$(want_sum "$1")" ]; }

# install REL TMPFILE: checks TMPFILE against the pinned sum of REL, then renames it into place.
install_checked() {
  local rel="$1" tmp="$2" want got
  want="$(want_sum "$rel")"
  got="$(sha256sum "$tmp" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    if [ "${ROPEBENCH_DATA_ACCEPT_CHANGED:-0}" = 1 ]; then
      echo "warning: $rel: sha256 $got differs from the pinned $want; kept (ROPEBENCH_DATA_ACCEPT_CHANGED=1)" >&2
    else
      rm -f "$tmp"
      echo "error: $rel: sha256 $got differs from the pinned $want (scripts/data.sha256); the source changed or the" \
           "download is damaged (ROPEBENCH_DATA_ACCEPT_CHANGED=1 keeps it anyway)" >&2
      exit 1
    fi
  fi
  mv -f "$tmp" "$DEST/$rel"
}

from_mirror() {  # REL
  local rel="$1" src="$MIRROR/$1"
  [ -f "$src" ] || { echo "error: ROPEBENCH_DATA_MIRROR: $src: no such file" >&2; exit 1; }
  mkdir -p "$(dirname "$DEST/$rel")"
  local tmp="$DEST/$rel.tmp.$$"
  cp "$src" "$tmp"
  install_checked "$rel" "$tmp"
}

download() {  # URL OUT
  if command -v curl >/dev/null; then curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null; then wget -q -O "$2" "$1"
  else echo "error: get-data.sh: neither curl nor wget is installed" >&2; exit 1; fi
}

# Decode (UTF-8, else Windows-1252), CRLF -> LF, drop the BOM and the Gutenberg header/footer.
strip_gutenberg() {  # IN OUT
  python3 - "$1" "$2" <<'PY'
import sys
raw = open(sys.argv[1], 'rb').read()
try:
    text = raw.decode('utf-8')
except UnicodeDecodeError:
    text = raw.decode('cp1252')
text = text.lstrip('\ufeff').replace('\r\n', '\n')
lines = text.split('\n')
start = next((i for i, l in enumerate(lines) if l.startswith('*** START OF')), None)
if start is not None:
    lines = lines[start + 1:]
end = next((i for i, l in enumerate(lines) if l.startswith('*** END OF')), None)
if end is not None:
    lines = lines[:end]
open(sys.argv[2], 'w', encoding='utf-8', newline='\n').write('\n'.join(lines).strip('\n') + '\n')
PY
}

book() {  # EBOOK_NUMBER REL
  local n="$1" rel="$2"
  have_ok "$rel" && return 0
  if [ -n "$MIRROR" ]; then from_mirror "$rel"; return 0; fi
  mkdir -p "$DEST/text"
  local raw="$DEST/$rel.download.$$" tmp="$DEST/$rel.tmp.$$"
  echo "get-data: Project Gutenberg ebook #$n -> $rel" >&2
  download "${ROPEBENCH_GUTENBERG_BASE:-https://www.gutenberg.org/cache/epub}/$n/pg$n.txt" "$raw" || { rm -f "$raw"; echo "error: $rel: download of ebook #$n failed" >&2; exit 1; }
  strip_gutenberg "$raw" "$tmp"
  rm -f "$raw"
  install_checked "$rel" "$tmp"
}

wikitext2() {
  local rel="text/wikitext2_test.txt"
  have_ok "$rel" && return 0
  if [ -n "$MIRROR" ]; then from_mirror "$rel"; return 0; fi
  mkdir -p "$DEST/text"
  local zip="$DEST/wikitext-2-raw-v1.zip.$$" tmp="$DEST/$rel.tmp.$$"
  echo "get-data: WikiText-2 (raw) test split -> $rel" >&2
  # The archive llama.cpp's get-wikitext-2.sh uses; the non-empty rows of wiki.test.raw, LF.
  download "https://huggingface.co/datasets/ggml-org/ci/resolve/main/wikitext-2-raw-v1.zip" "$zip" ||
    { rm -f "$zip"; echo "error: $rel: download failed" >&2; exit 1; }
  python3 - "$zip" "$tmp" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
raw = z.read('wikitext-2-raw/wiki.test.raw').decode('utf-8').replace('\r\n', '\n')
rows = [l for l in raw.split('\n') if l.strip()]
open(sys.argv[2], 'w', encoding='utf-8', newline='\n').write('\n'.join(rows) + '\n')
PY
  rm -f "$zip"
  install_checked "$rel" "$tmp"
}

book 84 text/pg84_frankenstein.txt
book 1342 text/pg1342_pride_and_prejudice.txt
book 1661 text/pg1661_adventures_of_sherlock_holmes.txt
book 2701 text/pg2701_moby_dick.txt
book 345 text/pg345_dracula.txt
book 37106 text/pg37106_little_women.txt
wikitext2

if [ "$TINY" = 1 ]; then
  # The tiny llama2.c checkpoints converted to Hugging Face folders and GGUF, and the
  # TinyStories sample, exist only in our data mirror (provenance: shared/data/README.md).
  if [ -z "$MIRROR" ]; then
    echo "error: get-data.sh --tiny: the tiny test checkpoints and the TinyStories sample come from a data mirror;" \
         "set ROPEBENCH_DATA_MIRROR to a folder holding models/ and text/ (on our machines: ../shared/data)" >&2
    exit 1
  fi
  awk '$2 ~ /^models\// || $2 == "text/tinystories_valid_sample.txt" { print $2 }' "$SUMS" | while read -r rel; do
    have_ok "$rel" || from_mirror "$rel"
  done
fi
echo "get-data: data in $DEST" >&2
