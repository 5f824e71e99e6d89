#!/usr/bin/env bash
# data/make_demo_corpus.sh - rebuilds data/fiction_demo.txt: the first 564 documents of the
# project's shared fiction corpus (corpus_fiction.txt, built from Debian and npm packages),
# i.e. every document of its first seven sources (see data/README.md), and checks the result
# against the committed checksum. Usage: make_demo_corpus.sh PATH/TO/corpus_fiction.txt
set -euo pipefail
src=${1:?usage: make_demo_corpus.sh PATH/TO/corpus_fiction.txt}
out=$(dirname "$0")/fiction_demo.txt
# documents are separated by one blank line; awk's paragraph mode reads one per record
awk 'BEGIN { RS = ""; ORS = "\n\n" } NR <= 564' "$src" >"$out.tmp"
mv "$out.tmp" "$out"
(cd "$(dirname "$0")" && sha256sum -c fiction_demo.sha256)
