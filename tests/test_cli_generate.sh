#!/usr/bin/env bash
# tests/test_cli_generate.sh - mm generate on tiny models trained here (a mixer and a
# transformer, with a tokenizer learned from tests/data/sample.txt): both methods print the
# same greedy text, a seed repeats a sample, and bad input is one line with a non-zero status.
# Usage: test_cli_generate.sh PATH_TO_MM
set -u
mm=${1:-./mm}
name=cli_generate; . tests/cli_lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# a tokenizer, the sample as lines of 32 ids, a mixer and a transformer trained briefly
"$mm" tokenizer train --data tests/data/sample.txt --vocab 300 --out "$tmp/tokenizer.txt" 2>/dev/null
"$mm" tokenizer encode --tokenizer "$tmp/tokenizer.txt" <tests/data/sample.txt | tr ' ' '\n' | awk 'NF' |
    awk '{ printf "%s%s", $0, (NR % 32 == 0 ? "\n" : " ") }' | awk 'NF == 32' >"$tmp/lines.txt"
for arch in mixer llama; do
    "$mm" train --arch $arch --vocab 300 --dim 32 --depth 2 --ctx 32 --kernel 2 --heads 4 --tokens "$tmp/lines.txt" \
        --steps 20 --batch 8 --lr 1e-2 --save "$tmp/$arch.safetensors" >/dev/null 2>&1
    check "mm train makes the $arch" test -s "$tmp/$arch.safetensors"
done

out=$("$mm" generate --help 2>&1); rc=$?
ok_with() { test "$1" = 0 && grep -q -- "$3" <<<"$2"; }   # ok_with STATUS OUTPUT PATTERN
check "mm generate --help exits 0 with a usage line" ok_with "$rc" "$out" 'usage: mm generate'

check "mm --help lists generate" bash -c "'$mm' --help | grep -q '  generate '"

prompt="Once upon a time"
for arch in mixer llama; do
    model="$tmp/$arch.safetensors"
    cached=$("$mm" generate --model "$model" --prompt "$prompt" 2>"$tmp/err"); rc=$?
    check "$arch: greedy generation exits 0" test "$rc" = 0
    check "$arch: the output starts with the prompt and continues it: '$cached'" \
        bash -c "[[ \"\$1\" == \"\$2\"?* ]]" _ "$cached" "$prompt"
    check "$arch: speed goes to stderr" grep -q 'new tokens/s' "$tmp/err"
    walking=$("$mm" generate --model "$model" --prompt "$prompt" --method index-walking 2>/dev/null); rc=$?
    check "$arch: index-walking exits 0" test "$rc" = 0
    check "$arch: cached and index-walking print the same greedy text" test "$cached" = "$walking"
    test $arch = mixer && mixer_text=$cached
    explicit=$("$mm" generate --model "$model" --prompt "$prompt" --method cached --temperature 0 2>/dev/null)
    check "$arch: cached and temperature 0 are the defaults" test "$cached" = "$explicit"
    a=$("$mm" generate --model "$model" --prompt "$prompt" --temperature 1.2 --seed 5 2>/dev/null)
    b=$("$mm" generate --model "$model" --prompt "$prompt" --temperature 1.2 --seed 5 --method index-walking 2>/dev/null)
    check "$arch: the same seed gives the same text (by either method)" test -n "$a" -a "$a" = "$b"
    differ=0
    for s in 6 7 8; do
        c=$("$mm" generate --model "$model" --prompt "$prompt" --temperature 1.2 --seed $s 2>/dev/null)
        test "$c" != "$a" && differ=$((differ + 1))
    done
    check "$arch: other seeds give other text ($differ of 3 differ)" test "$differ" -ge 2
    k1=$("$mm" generate --model "$model" --prompt "$prompt" --temperature 2 --top-k 1 --seed 9 2>/dev/null)
    check "$arch: --top-k 1 is greedy" test "$k1" = "$cached"
done

model="$tmp/mixer.safetensors"
out=$("$mm" generate --model "$model" --prompt "$prompt" --max-new 3 2>"$tmp/err"); rc=$?
check "--max-new 3 generates 3 tokens" bash -c "test $rc = 0 && grep -q '+ 3 new tokens' '$tmp/err'"
mkdir "$tmp/elsewhere" && cp "$model" "$tmp/elsewhere/m.safetensors"
err=$("$mm" generate --model "$tmp/elsewhere/m.safetensors" --prompt "$prompt" 2>&1 >/dev/null); rc=$?
check "no tokenizer.txt beside the weights: one line naming it" fails_with "$rc" "$err" "elsewhere/tokenizer.txt"
out=$("$mm" generate --model "$tmp/elsewhere/m.safetensors" --tokenizer "$tmp/tokenizer.txt" --prompt "$prompt" \
      2>/dev/null); rc=$?
check "--tokenizer gives the tokenizer explicitly" test "$rc" = 0 -a "$out" = "$mixer_text"
for bad in "--temperature -1" "--temperature x" "--top-k -2" "--top-k 1.5" "--max-new 0" "--seed x" "--method fast" \
           "--heads 0"; do
    err=$("$mm" generate --model "$model" --prompt "$prompt" $bad 2>&1 >/dev/null); rc=$?
    check "a bad value ($bad) is one line naming the flag" fails_with "$rc" "$err" "${bad%% *}"
done
err=$("$mm" generate --model "$model" --prompt "$prompt" --bogus 1 2>&1); rc=$?
check "an unknown flag" fails_with "$rc" "$err" "--bogus"
err=$("$mm" generate --model "$model" 2>&1); rc=$?
check "--prompt is required" fails_with "$rc" "$err" "--prompt"
err=$("$mm" generate --model "$model" --prompt "" 2>&1); rc=$?
check "an empty prompt" fails_with "$rc" "$err" "empty"
err=$("$mm" generate --model "$model" --prompt "$(head -c 600 tests/data/sample.txt)" 2>&1); rc=$?
check "a prompt longer than the window" fails_with "$rc" "$err" "window"
err=$("$mm" generate --model "$tmp/none.safetensors" --tokenizer "$tmp/tokenizer.txt" --prompt "$prompt" 2>&1); rc=$?
check "a missing weights file" fails_with "$rc" "$err" "none.safetensors"
"$mm" tokenizer train --data tests/data/sample.txt --vocab 400 --out "$tmp/big.tok" 2>/dev/null
err=$("$mm" generate --model "$model" --tokenizer "$tmp/big.tok" --prompt "$prompt" 2>&1); rc=$?
check "a tokenizer larger than the model's vocabulary" fails_with "$rc" "$err" "vocabulary"

# mm predict: the likeliest token at each position; a causal model's last one is the token
# greedy generation picks first after the same text
for arch in mixer llama; do
    out=$("$mm" predict --model "$tmp/$arch.safetensors" --text "$prompt" 2>&1); rc=$?
    check "$arch: predict exits 0 and prints the input and its output" \
        bash -c "test $rc = 0 && grep -q '^input:  $prompt\$' <<<\"\$1\" && grep -q '^output: ' <<<\"\$1\"" _ "$out"
done
out=$("$mm" predict --model "$tmp/llama.safetensors" --text "$prompt" 2>/dev/null | sed -n 's/^output: //p')
first=$("$mm" generate --model "$tmp/llama.safetensors" --prompt "$prompt" --max-new 1 2>/dev/null)
check "llama: predict's last token is generate's first ('${first#"$prompt"}' ends '$out')" \
    bash -c "test -n \"\$2\" && [[ \"\$1\" == *\"\$2\" ]]" _ "$out" "${first#"$prompt"}"
err=$("$mm" predict --model "$tmp/mixer.safetensors" 2>&1); rc=$?
check "predict without --text is a usage error" fails_with "$rc" "$err" "--text"

# the models that are not causal: trained, but generation is refused with the reason
"$mm" train --arch mixer-bidi --vocab 300 --dim 16 --depth 1 --ctx 32 --tokens "$tmp/lines.txt" --steps 2 --batch 4 \
    --save "$tmp/bidi.safetensors" >/dev/null 2>&1
cp "$tmp/tokenizer.txt" "$tmp/bidi.tokenizer.txt"
err=$("$mm" generate --model "$tmp/bidi.safetensors" --prompt "$prompt" 2>&1); rc=$?
check "mm generate refuses the bidirectional mixer: it cannot generate" fails_with "$rc" "$err" "cannot generate"

finish
