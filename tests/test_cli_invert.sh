#!/usr/bin/env bash
# tests/test_cli_invert.sh - mm invert (paper Sec. 3) on tiny untrained and trained models:
# the output's shape (original and recovered tokens, then hamming, l1, epsilon), the same
# seed giving the same figures, an untrained mixer recovering a short text, the metric and
# start variants, and bad input as one line with a non-zero status.
# Usage: test_cli_invert.sh PATH_TO_MM
set -u
mm=${1:-./mm}
name=cli_invert; . tests/cli_lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$mm" tokenizer train --data tests/data/sample.txt --vocab 300 --out "$tmp/tok.txt" 2>/dev/null
pad=$(awk '$1 == "special" && $3 == "pad" {print $2}' "$tmp/tok.txt")
text="Once upon a time"
small=(--dim 48 --depth 2 --ctx 16 --iters 150)

out=$("$mm" invert --help 2>&1); rc=$?
check "mm invert --help exits 0 with a usage line" ok_with "$rc" "$out" 'usage: mm invert'
check "mm --help lists invert" bash -c "'$mm' --help | grep -q '  invert '"

out=$("$mm" invert --arch mixer "${small[@]}" --tokenizer "$tmp/tok.txt" --text "$text" 2>"$tmp/err"); rc=$?
check "untrained mixer: exits 0" test "$rc" = 0
check "prints the original text" has "$out" "original:  $text"
check "prints the recovered tokens" has "$out" "recovered: "
check "ends with hamming, l1 and epsilon lines (%.6f)" \
    test "$(tail -3 <<<"$out" | grep -cE '^(hamming|l1|epsilon) [0-9]+\.[0-9]{6}$')" = 3 -a \
    "$(tail -3 <<<"$out" | cut -d' ' -f1 | tr '\n' ' ')" = "hamming l1 epsilon "
check "the time goes to stderr" grep -q 'steps in' "$tmp/err"
again=$("$mm" invert --arch mixer "${small[@]}" --tokenizer "$tmp/tok.txt" --text "$text" 2>/dev/null)
check "the same seed repeats the inversion" test "$out" = "$again"
other=$("$mm" invert --arch mixer "${small[@]}" --tokenizer "$tmp/tok.txt" --text "$text" --seed 3 2>/dev/null)
check "another seed, another model and start" test "$(tail -2 <<<"$out")" != "$(tail -2 <<<"$other")"
h=$(awk '$1 == "hamming" {print $2}' <<<"$out")
check "an untrained mixer recovers the short text (hamming $h <= 0.25)" awk -v h="$h" 'BEGIN {exit !(h <= 0.25)}'

# token lines: several inputs, shorter than the window, padded
"$mm" tokenizer encode --tokenizer "$tmp/tok.txt" <<<"$text" | tr '\n' ' ' | awk '{print $1, $2, $3}' >"$tmp/ids.txt"
echo "5 6 7" >>"$tmp/ids.txt"
out=$("$mm" invert --arch llama --heads 4 --vocab 300 "${small[@]}" --tokens "$tmp/ids.txt" --pad-id "$pad" \
    --last-token --metric code --start paper 2>/dev/null); rc=$?
check "llama, token lines, last token, code metric, paper start: exits 0" test "$rc" = 0
check "one block per input" bash -c "grep -c '^input [12]\$' <<<\"\$1\" | grep -q 2" _ "$out"
check "ids printed without a tokenizer, aligned" has "$out" "original:    5   6   7"
check "says the inputs were padded" has "$out" "(13 padded)"

# a trained model from a file, its tokenizer beside it
"$mm" tokenizer encode --tokenizer "$tmp/tok.txt" <tests/data/sample.txt | tr ' ' '\n' | awk 'NF' |
    awk '{ printf "%s%s", $0, (NR % 8 == 0 ? "\n" : " ") }' | awk 'NF == 8' >"$tmp/lines.txt"
"$mm" train --arch mixer --vocab 300 --dim 32 --depth 2 --ctx 8 --tokens "$tmp/lines.txt" --steps 5 --batch 4 \
    --save "$tmp/m.safetensors" >/dev/null 2>&1
cp "$tmp/tok.txt" "$tmp/tokenizer.txt"
out=$("$mm" invert --model "$tmp/m.safetensors" --text "$text" --iters 20 2>/dev/null); rc=$?
check "a trained mixer from its file, the tokenizer beside it: exits 0" ok_with "$rc" "$out" "^hamming "

# errors: one line on stderr, non-zero status
err=$("$mm" invert --model "$tmp/missing.safetensors" --tokens "$tmp/ids.txt" 2>&1 >/dev/null); rc=$?
check "a missing model: one line naming it" fails_with "$rc" "$err" "missing.safetensors"
err=$("$mm" invert --model "$tmp/m.safetensors" --dim 64 --text "$text" 2>&1 >/dev/null); rc=$?
check "a size with --model: one line" fails_with "$rc" "$err" "goes with --arch"
err=$("$mm" invert --text "$text" 2>&1 >/dev/null); rc=$?
check "no model: one line" fails_with "$rc" "$err" "give --model"
err=$("$mm" invert --arch mixer "${small[@]}" --vocab 300 2>&1 >/dev/null); rc=$?
check "no input: one line" fails_with "$rc" "$err" "give --text or --tokens"
echo "5 999 7" >"$tmp/bad.txt"
err=$("$mm" invert --arch mixer "${small[@]}" --vocab 300 --tokens "$tmp/bad.txt" --pad-id 1 2>&1 >/dev/null); rc=$?
check "a token outside the vocabulary: one line" fails_with "$rc" "$err" "999"
echo "5 x 7" >"$tmp/bad.txt"
err=$("$mm" invert --arch mixer "${small[@]}" --vocab 300 --tokens "$tmp/bad.txt" --pad-id 1 2>&1 >/dev/null); rc=$?
check "a token that is no number: one line" fails_with "$rc" "$err" "bad.txt"
seq 1 17 | tr '\n' ' ' >"$tmp/long.txt"; echo >>"$tmp/long.txt"
err=$("$mm" invert --arch mixer "${small[@]}" --vocab 300 --tokens "$tmp/long.txt" 2>&1 >/dev/null); rc=$?
check "lines longer than the window: one line" fails_with "$rc" "$err" "more than the window"
err=$("$mm" invert --arch mixer "${small[@]}" --vocab 300 --tokens "$tmp/ids.txt" 2>&1 >/dev/null); rc=$?
check "short lines and no pad id: one line" fails_with "$rc" "$err" "no pad id"
err=$("$mm" invert --arch mixer "${small[@]}" --vocab 300 --tokens "$tmp/ids.txt" --pad-id 300 2>&1 >/dev/null); rc=$?
check "a pad id outside the vocabulary: one line" fails_with "$rc" "$err" "outside the vocabulary"
err=$("$mm" invert --arch mixer-ae "${small[@]}" --vocab 300 --tokens "$tmp/ids.txt" --pad-id 1 2>&1 >/dev/null); rc=$?
check "an encoder-decoder: one line saying why" fails_with "$rc" "$err" "no abbreviated model"
err=$("$mm" invert --arch mixer "${small[@]}" --text "$text" 2>&1 >/dev/null); rc=$?
check "text for an untrained model without a tokenizer: one line" fails_with "$rc" "$err" "needs --tokenizer"
err=$("$mm" invert --arch mixer "${small[@]}" --vocab 300 --tokens "$tmp/ids.txt" --pad-id 1 --metric top3 2>&1 >/dev/null); rc=$?
check "an unknown metric: one line" fails_with "$rc" "$err" "--metric"
finish
