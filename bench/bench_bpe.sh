#!/usr/bin/env bash
# bench/bench_bpe.sh - our BPE tokenizer beside sentencepiece on the same corpus, in one
# run: training time for V = 4096 and encode throughput (MB/s). Skips the whole bench
# when the corpus is absent, and sentencepiece when spm_train is not installed
# (Debian: apt-get install sentencepiece). Not part of `make test`.
# Usage: bench/bench_bpe.sh [CORPUS] [V]      (run by `make bench-bpe` from the repo root)
set -u
corpus=${1:-../shared/data/corpus_fiction.txt}
vocab=${2:-4096}
if [ ! -f "$corpus" ]; then
    echo "bench-bpe: corpus '$corpus' not found: skipped"
    exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
size=$(wc -c <"$corpus")
now() { date +%s.%N; }
mbs() { awk -v b="$size" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

echo "== maskedmixer (library, bench/bench_bpe.c)"
./build/bench_bpe "$corpus" "$vocab" "$tmp/mm.tok" | tee "$tmp/ours.txt" || exit 1
ours_train=$(awk '$1 == "train_s" { printf "%.3f", $2 }' "$tmp/ours.txt")
ours_cold=$(awk '$1 == "encode_cold_mbs" { printf "%.1f", $2 }' "$tmp/ours.txt")

echo "== maskedmixer (command line: mm tokenizer train / encode, incl. reading and writing)"
t0=$(now); ./mm tokenizer train --data "$corpus" --vocab "$vocab" --out "$tmp/cli.tok" 2>/dev/null; t1=$(now)
cli_train=$(secs "$t0" "$t1")
t0=$(now); ./mm tokenizer encode --tokenizer "$tmp/cli.tok" <"$corpus" >"$tmp/cli.ids"; t1=$(now)
cli_encode=$(mbs "$(secs "$t0" "$t1")")
./mm tokenizer decode --tokenizer "$tmp/cli.tok" <"$tmp/cli.ids" | cmp -s - "$corpus" && rt="byte-exact" || rt="FAILED"
echo "  train $cli_train s, encode $cli_encode MB/s, $(wc -w <"$tmp/cli.ids") tokens, round trip $rt"

spm_train_s="-"; spm_encode="-"; spm_tokens="-"
if command -v spm_train >/dev/null 2>&1; then
    echo "== sentencepiece $(spm_train --version 2>&1 | head -n 1) (spm_train --model_type=bpe --vocab_size=$vocab, default threads)"
    t0=$(now)
    spm_train --input="$corpus" --model_prefix="$tmp/spm" --model_type=bpe --vocab_size="$vocab" \
        >"$tmp/spm_train.log" 2>&1 || { echo "spm_train failed:"; tail -5 "$tmp/spm_train.log"; }
    t1=$(now)
    spm_train_s=$(secs "$t0" "$t1")
    t0=$(now); spm_encode --model="$tmp/spm.model" --output_format=id <"$corpus" >"$tmp/spm.ids"; t1=$(now)
    spm_encode=$(mbs "$(secs "$t0" "$t1")")
    spm_tokens=$(wc -w <"$tmp/spm.ids")
    echo "  train $spm_train_s s, encode $spm_encode MB/s, $spm_tokens tokens"
else
    echo "== sentencepiece: spm_train not found (apt-get install sentencepiece): skipped"
fi

echo
echo "BPE, V = $vocab, on $corpus ($(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1e6 }') MB)"
printf "  %-34s %12s %14s\n" "" "train (s)" "encode (MB/s)"
printf "  %-34s %12s %14s\n" "maskedmixer, library (1 thread)" "$ours_train" "$ours_cold"
printf "  %-34s %12s %14s\n" "maskedmixer, mm command line" "$cli_train" "$cli_encode"
printf "  %-34s %12s %14s\n" "sentencepiece spm_train/spm_encode" "$spm_train_s" "$spm_encode"
