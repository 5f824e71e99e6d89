#!/usr/bin/env bash
# tests/test_cli.sh - the command-line tool's basic contract. Usage: test_cli.sh PATH_TO_MM
set -u
mm=${1:-./mm}
name=test_cli; . tests/cli_lib.sh
out=$("$mm" --version); rc=$?
check "--version exits 0" test "$rc" = 0
check "--version prints the header's version" grep -q "maskedmixer $(sed -n 's/^#define MMIX_VERSION_STRING "\(.*\)"/\1/p' maskedmixer.h)" <<<"$out"
out=$("$mm" --help); rc=$?
check "--help exits 0 and shows usage" bash -c 'test "$1" = 0 && grep -q "usage: mm" <<<"$2"' _ "$rc" "$out"
err=$("$mm" no-such-command 2>&1 >/dev/null); rc=$?
check "an unknown command exits non-zero" test "$rc" != 0
check "an unknown command is named in the error" grep -q "no-such-command" <<<"$err"
"$mm" >/dev/null 2>&1; rc=$?
check "no command at all exits non-zero" test "$rc" != 0

# The tokenizer: train on the small sample, encode, decode, byte-exact round trips.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sample=tests/data/sample.txt
err=$("$mm" tokenizer train --data "$sample" --vocab 400 --out "$tmp/t.tok" 2>&1); rc=$?
check "tokenizer train exits 0" test "$rc" = 0
check "tokenizer train reports the vocabulary" grep -q "vocabulary 400" <<<"$err"
check "the tokenizer file starts with its magic and version" test "$(head -n 1 "$tmp/t.tok")" = "mmix-bpe 1"
"$mm" tokenizer encode --tokenizer "$tmp/t.tok" <"$sample" >"$tmp/ids"; rc=$?
check "tokenizer encode exits 0" test "$rc" = 0
check "encode prints whitespace-separated ids only" bash -c "! grep -q '[^0-9 ]' '$tmp/ids' && test \$(wc -w <'$tmp/ids') -gt 100"
check "merges shorten the sample" test "$(wc -w <"$tmp/ids")" -lt "$(wc -c <"$sample")"
"$mm" tokenizer decode --tokenizer "$tmp/t.tok" <"$tmp/ids" >"$tmp/back"; rc=$?
check "tokenizer decode exits 0" test "$rc" = 0
check "decode(encode(sample)) is byte-identical (cmp)" cmp -s "$sample" "$tmp/back"
printf 'nul\000bytes \377\376 bad utf-8 \303(\n<|endoftext|>' >"$tmp/odd"
"$mm" tokenizer encode --tokenizer "$tmp/t.tok" <"$tmp/odd" | "$mm" tokenizer decode --tokenizer "$tmp/t.tok" >"$tmp/odd.back"
check "round trip of NUL bytes and invalid UTF-8 (cmp)" cmp -s "$tmp/odd" "$tmp/odd.back"
"$mm" tokenizer encode --tokenizer "$tmp/t.tok" --allow-special <"$tmp/odd" >"$tmp/odd.ids"
check "--allow-special turns <|endoftext|> into the eot id" grep -qw "398" "$tmp/odd.ids"
"$mm" tokenizer decode --tokenizer "$tmp/t.tok" <"$tmp/odd.ids" >"$tmp/odd.back2"
check "round trip with --allow-special (cmp)" cmp -s "$tmp/odd" "$tmp/odd.back2"
: | "$mm" tokenizer encode --tokenizer "$tmp/t.tok" >"$tmp/empty.ids"; rc=$?
check "encoding empty input exits 0" test "$rc" = 0
# Hugging Face tokenizers (tests/data/hf/): imported with their ids, the same ids as the
# reference encoders' committed ones, token for token; a tokenizer.json works directly, and
# beside a checkpoint mm info and mm generate find it.
err=$("$mm" tokenizer import-hf --json tests/data/hf/llama3_2k.json --out "$tmp/l3.tok" 2>&1); rc=$?
check "import-hf of a Llama-3-style file exits 0" ok_with "$rc" "$err" "vocabulary 2260"
check "... and writes a version-2 file with the llama3 split" test "$(sed -n '1p;5p' "$tmp/l3.tok" | tr '\n' ' ')" = "mmix-bpe 2 split llama3 ignore-merges "
"$mm" tokenizer encode --tokenizer "$tmp/l3.tok" <tests/data/hf/unicode.txt | tr -s ' \n' '\n\n' | grep . >"$tmp/l3.ids"
check "its ids of unicode.txt are transformers.js's, token for token" cmp -s "$tmp/l3.ids" <(tr ' ' '\n' <tests/data/hf/llama3_2k.unicode.ids | grep .)
"$mm" tokenizer encode --tokenizer tests/data/hf/gpt2_2k.json <tests/data/hf/paper.txt | tr -s ' \n' '\n\n' | grep . >"$tmp/g2.ids"
check "encode with a tokenizer.json: GPT-2's own ids of paper.txt" cmp -s "$tmp/g2.ids" <(tr ' ' '\n' <tests/data/hf/gpt2_2k.paper.ids | grep .)
"$mm" tokenizer decode --tokenizer tests/data/hf/gpt2_2k.json <"$tmp/g2.ids" >"$tmp/g2.back"
check "... and decode gives the text back (cmp)" cmp -s tests/data/hf/paper.txt "$tmp/g2.back"
"$mm" tokenizer encode --tokenizer "$tmp/l3.tok" --allow-special <tests/data/hf/special.txt >"$tmp/sp.ids"
check "--allow-special: added tokens become the file's ids (transformers.js's)" test "$(tr -s ' \n' ' ' <"$tmp/sp.ids" | sed 's/ $//')" = "$(tr -d '\n' <tests/data/hf/llama3_2k.special.ids | sed 's/ $//')"
sed 's/"normalizer":null/"normalizer":{"type":"NFC"}/' tests/data/hf/gpt2_2k.json >"$tmp/nfc.json"
err=$("$mm" tokenizer import-hf --json "$tmp/nfc.json" --out "$tmp/nfc.tok" 2>&1); rc=$?
check "a tokenizer.json with a normalizer fails naming it" fails_with "$rc" "$err" "normalizer 'NFC' is not supported"
check "... and writes nothing" test ! -e "$tmp/nfc.tok"
mkdir -p "$tmp/ref"
OMP_NUM_THREADS=1 "$mm" train --arch mixer --dim 16 --depth 1 --ctx 8 --data "$sample" --tokenizer "$tmp/l3.tok" \
    --steps 1 --batch 2 --save "$tmp/ref/trained.safetensors" >/dev/null 2>&1
cp "$tmp/ref/trained.safetensors" "$tmp/ref/model.safetensors" 2>/dev/null
cp tests/data/hf/llama3_2k.json "$tmp/ref/tokenizer.json"
out=$("$mm" info "$tmp/ref/model.safetensors" 2>&1); rc=$?
check "mm info names the tokenizer.json beside a checkpoint" ok_with "$rc" "$out" "tokenizer: .*ref/tokenizer.json (split llama3, 2260 ids, eot 1"
OMP_NUM_THREADS=1 "$mm" generate --model "$tmp/ref/model.safetensors" --prompt "Once upon a time" --max-new 3 \
    >"$tmp/ref/gen.txt" 2>/dev/null; rc=$?
check "mm generate uses it in one command" test "$rc" = 0 -a "$(head -c 16 "$tmp/ref/gen.txt")" = "Once upon a time"
# Errors: non-zero exits with a message that says what and where.
err=$("$mm" tokenizer train --data "$tmp/missing.txt" --vocab 400 --out "$tmp/x.tok" 2>&1); rc=$?
check "train on a missing file fails" test "$rc" != 0
check "... naming the file" grep -q "missing.txt" <<<"$err"
check "... and writes no tokenizer" test ! -e "$tmp/x.tok"
err=$("$mm" tokenizer train --data "$sample" --vocab 100 --out "$tmp/x.tok" 2>&1); rc=$?
check "a vocabulary below 258 fails with a message" fails_with "$rc" "$err" "vocab size 100"
err=$("$mm" tokenizer encode --tokenizer "$tmp/missing.tok" <"$sample" 2>&1 >/dev/null); rc=$?
check "encode with a missing tokenizer fails with its name" fails_with "$rc" "$err" "missing.tok"
sed '9s/.*/merge 258 97 9999/' "$tmp/t.tok" >"$tmp/corrupt.tok"
err=$("$mm" tokenizer encode --tokenizer "$tmp/corrupt.tok" <"$sample" 2>&1 >/dev/null); rc=$?
check "encode with a corrupt tokenizer fails" test "$rc" != 0
check "... with the file and line in the message" grep -q "corrupt.tok' line 9" <<<"$err"
head -n 20 "$tmp/t.tok" >"$tmp/truncated.tok"
err=$(echo 1 2 3 | "$mm" tokenizer decode --tokenizer "$tmp/truncated.tok" 2>&1 >/dev/null); rc=$?
check "decode with a truncated tokenizer fails saying so" fails_with "$rc" "$err" "truncated"
err=$(echo 97 400 98 | "$mm" tokenizer decode --tokenizer "$tmp/t.tok" 2>&1 >/dev/null); rc=$?
check "decode of an id outside the vocabulary fails naming it" fails_with "$rc" "$err" "id 400 at position 1"
err=$(echo 97 x9 | "$mm" tokenizer decode --tokenizer "$tmp/t.tok" 2>&1 >/dev/null); rc=$?
check "decode of a non-number fails naming it" fails_with "$rc" "$err" "found 'x9"
err=$("$mm" tokenizer frobnicate 2>&1); rc=$?
check "an unknown tokenizer subcommand fails" fails_with "$rc" "$err" "frobnicate"
err=$("$mm" tokenizer encode --tokenizer "$tmp/t.tok" --bogus 2>&1 </dev/null); rc=$?
check "an unknown option fails" fails_with "$rc" "$err" "--bogus"
finish
