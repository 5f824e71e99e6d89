#!/usr/bin/env bash
# tests/test_cli_train.sh - mm train on text (--data): the tokenizer learned and saved beside
# the weights, the dataset cache reused and invalidated, validation loss falling, the CSV log
# and the SVG plot, checkpoints, and Ctrl-C then --resume continuing the same run bit for bit.
# Needs xmllint (Debian: libxml2-utils). Usage: test_cli_train.sh PATH_TO_MM
set -u
mm=${1:-./mm}
name=test_cli_train; . tests/cli_lib.sh
sample=tests/data/sample.txt
csv_col() { awk -F, -v c="$2" 'NR > 1 && $c != "" { print $c }' "$1"; }   # csv_col FILE COLUMN
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
train() { "$mm" train --preset tiny-mixer --vocab 300 "$@"; }   # a later --vocab overrides

# a first run: tokenizer learned and saved, cache written, the run's files beside the weights
out=$(train --data "$sample" --save "$tmp/a/m.safetensors" 2>&1); rc=$?
check "a run on text exits 0" test "$rc" = 0
check "it learns a tokenizer of --vocab ids" has "$out" "vocabulary 300"
check "it tokenizes and writes the cache beside the weights" has "$out" "tokenized and wrote the cache $tmp/a/sample.txt.cache"
for f in m.safetensors m.state.safetensors m.tokenizer.txt m.log.csv m.loss.svg sample.txt.cache; do
    check "the run leaves $f" test -s "$tmp/a/$f"
done
check "the saved tokenizer loads and round-trips text" \
    bash -c "printf 'The end.' | '$mm' tokenizer encode --tokenizer '$tmp/a/m.tokenizer.txt' | \
             '$mm' tokenizer decode --tokenizer '$tmp/a/m.tokenizer.txt' | grep -qx 'The end.'"
first=$(csv_col "$tmp/a/m.log.csv" 4 | head -n 1); last=$(csv_col "$tmp/a/m.log.csv" 4 | tail -n 1)
check "validation loss falls ($first -> $last)" awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.5) }'
check "the CSV has the header and one row per evaluation (steps 0, 20, 40, 60)" \
    test "$(cut -d, -f1 "$tmp/a/m.log.csv" | tr '\n' ' ')" = "step 0 20 40 60 "
check "the first evaluation is before training (no training loss yet)" \
    bash -c "sed -n 2p '$tmp/a/m.log.csv' | grep -q '^0,0,,'"
check "the evaluation lines are printed" test "$(grep -c '^eval step ' <<<"$out")" = 4
# the plot: well-formed XML, one circle per logged loss
svg=$tmp/a/m.loss.svg
check "the SVG is well-formed XML" xmllint --noout "$svg"
count() { xmllint --xpath "count(//*[local-name()='circle'][@class='$2'])" "$1"; }
check "the SVG has one validation point per evaluation (4)" test "$(count "$svg" val)" = 4
check "the SVG has one training point per evaluation after step 0 (3)" test "$(count "$svg" train)" = 3
check "the SVG root is an svg element in the SVG namespace" \
    test "$(xmllint --xpath "namespace-uri(/*)" "$svg")" = "http://www.w3.org/2000/svg"

out=$("$mm" generate --model "$tmp/a/m.safetensors" --prompt "The" --max-new 5 2>/dev/null); rc=$?
check "mm generate finds m.tokenizer.txt beside the weights" bash -c "test $rc = 0 && grep -q '^The' <<<'$out'"

# the cache: reused on a second run, rebuilt when the tokenizer or the file changes
out=$(train --data "$sample" --save "$tmp/a/m2.safetensors" 2>&1); rc=$?
check "a second run reuses the cache" has "$out" "reused the cache"
check "and trains to the same weights, byte for byte" cmp -s "$tmp/a/m.safetensors" "$tmp/a/m2.safetensors"
out=$(train --data "$sample" --vocab 320 --save "$tmp/a/m3.safetensors" 2>&1); rc=$?
check "another tokenizer (--vocab 320) invalidates the cache" has "$out" "tokenized and wrote the cache"
out=$(train --data "$sample" --tokenizer "$tmp/a/m.tokenizer.txt" --save "$tmp/a/m4.safetensors" 2>&1); rc=$?
check "the first tokenizer, given with --tokenizer, is cached again (the cache held the other)" \
    has "$out" "tokenized and wrote the cache"
out=$(train --data "$sample" --tokenizer "$tmp/a/m.tokenizer.txt" --save "$tmp/a/m5.safetensors" 2>&1); rc=$?
check "and reused on the next run with it" has "$out" "reused the cache"
cp "$sample" "$tmp/copy.txt"
out=$(train --data "$tmp/copy.txt" --tokenizer "$tmp/a/m.tokenizer.txt" --save "$tmp/b/m.safetensors" 2>&1)
printf '\nA new last document.\n' >>"$tmp/copy.txt"
out=$(train --data "$tmp/copy.txt" --tokenizer "$tmp/a/m.tokenizer.txt" --save "$tmp/b/m.safetensors" 2>&1); rc=$?
check "a changed text file invalidates the cache" bash -c "test $rc = 0 && grep -q 'tokenized and wrote the cache' <<<'$out'"
printf 'garbage' >"$tmp/b/copy.txt.cache"
out=$(train --data "$tmp/copy.txt" --tokenizer "$tmp/a/m.tokenizer.txt" --save "$tmp/b/m.safetensors" 2>&1); rc=$?
check "a file at the cache path that is not a cache is never overwritten" \
    bash -c "test $rc != 0 && test \"\$(cat '$tmp/b/copy.txt.cache')\" = garbage"

# other inputs and row modes
out=$(train --data tests/data/sample.jsonl --format jsonl --rows padded --ctx 16 --save "$tmp/c/j.safetensors" 2>&1); rc=$?
check "JSONL text trains" bash -c "test $rc = 0 && grep -q 'val-loss' <<<'$out'"
out=$(train --data "$sample" --rows padded --ctx 64 --save "$tmp/c/p.safetensors" 2>&1); rc=$?
check "padded rows train with the tokenizer's pad id ignored in the loss" \
    bash -c "test $rc = 0 && grep -q 'padded on the right' <<<'$out' && grep -q 'pad id 299' <<<'$out'"

out=$("$mm" train --arch llama --dim 32 --depth 2 --ctx 32 --heads 4 --vocab 300 --data "$sample" --steps 60 --batch 8 \
      --lr 5e-3 --save "$tmp/c/l.safetensors" 2>&1); rc=$?
first=$(csv_col "$tmp/c/l.log.csv" 4 | head -n 1); last=$(csv_col "$tmp/c/l.log.csv" 4 | tail -n 1)
check "the transformer trains on text too, validation loss falling ($first -> $last)" \
    bash -c "test $rc = 0 && awk -v a='$first' -v b='$last' 'BEGIN { exit !(b < a - 0.5) }'"
out=$("$mm" generate --model "$tmp/c/l.safetensors" --prompt "The" --max-new 5 2>/dev/null); rc=$?
check "and generates with its tokenizer and window from the file" bash -c "test $rc = 0 && grep -q '^The' <<<'$out'"

# errors: one line, non-zero status
err=$(train --data "$tmp/none.txt" --save "$tmp/d/m.safetensors" 2>&1 >/dev/null); rc=$?
check "a missing text file" fails_with "$rc" "$err" "none.txt"
err=$("$mm" train --preset huge --data "$sample" --save "$tmp/d/m.safetensors" 2>&1 >/dev/null); rc=$?
check "an unknown preset" fails_with "$rc" "$err" "unknown --preset 'huge'"
err=$(train --data "$sample" --rows sideways --save "$tmp/d/m.safetensors" 2>&1 >/dev/null); rc=$?
check "a bad --rows" fails_with "$rc" "$err" "--rows"
err=$(train --data "$sample" --ctx 100000 --save "$tmp/d/m.safetensors" 2>&1 >/dev/null); rc=$?
check "a window longer than the text" fails_with "$rc" "$err" "no training row"
printf 'ok line\n\n\xff\xfe bad bytes\n' >"$tmp/bad.txt"
err=$(train --data "$tmp/bad.txt" --tokenizer "$tmp/a/m.tokenizer.txt" --save "$tmp/d/m.safetensors" 2>&1 >/dev/null); rc=$?
check "invalid UTF-8 names the file and line" fails_with "$rc" "$err" "bad.txt:3"
err=$("$mm" train --resume "$tmp/a/m.state.safetensors" --steps 5 --save "$tmp/d/m.safetensors" 2>&1 >/dev/null); rc=$?
check "a resumed run refuses new settings" fails_with "$rc" "$err" "drop --steps"

# Ctrl-C, then --resume: the same run as one without the interruption, byte for byte
long=(train --preset tiny-mixer --vocab 300 --data "$sample" --steps 1000 --eval-every 250)
"$mm" "${long[@]}" --save "$tmp/e/straight.safetensors" >/dev/null 2>&1
"$mm" "${long[@]}" --save "$tmp/e/int.safetensors" >"$tmp/e.log" 2>&1 & pid=$!   # mm itself, not a subshell
for _ in $(seq 200); do grep -q '^step ' "$tmp/e.log" 2>/dev/null && break; sleep 0.05; done
kill -INT "$pid" 2>/dev/null; wait "$pid"; rc=$?
out=$(cat "$tmp/e.log")
check "Ctrl-C exits with status 130 after saving (status $rc)" test "$rc" = 130
check "and says how to continue" has "$out" "continue with mm train --resume $tmp/e/int.state.safetensors"
stopped=$(sed -n 's/^interrupted after step \([0-9]*\) .*/\1/p' <<<"$out")
check "it stopped early (after step $stopped of 1000)" test "${stopped:-1000}" -lt 1000
out=$("$mm" train --resume "$tmp/e/int.state.safetensors" --save "$tmp/e/int.safetensors" 2>&1); rc=$?
check "--resume continues from step $((stopped + 1))" \
    bash -c "test $rc = 0 && grep -q 'steps $((stopped + 1))..1000 of 1000' <<<'$out'"
check "the interrupted and resumed run ends with the straight run's weights, byte for byte" \
    cmp -s "$tmp/e/straight.safetensors" "$tmp/e/int.safetensors"
check "its log lists each evaluation once, as the straight run's does" \
    test "$(cut -d, -f1 "$tmp/e/int.log.csv" | tr '\n' ' ')" = "$(cut -d, -f1 "$tmp/e/straight.log.csv" | tr '\n' ' ')"
check "and the same losses and learning rates" \
    test "$(cut -d, -f1-5 "$tmp/e/int.log.csv")" = "$(cut -d, -f1-5 "$tmp/e/straight.log.csv")"
out=$(train --data "$sample" --stop-at 0 --save "$tmp/h/m.safetensors" 2>&1); rc=$?
check "--stop-at 0 evaluates and saves the new model without training" \
    bash -c "test $rc = 0 && ! grep -q '^step ' <<<'$out' && grep -q '^eval step 0 ' <<<'$out' && test -s '$tmp/h/m.safetensors'"
"$mm" train --resume "$tmp/h/m.state.safetensors" --save "$tmp/h/m.safetensors" >/dev/null 2>&1
check "resuming it trains the whole run: the first run's weights, byte for byte" cmp -s "$tmp/a/m.safetensors" "$tmp/h/m.safetensors"
check "and logs step 0 once" test "$(cut -d, -f1 "$tmp/h/m.log.csv" | tr '\n' ' ')" = "step 0 20 40 60 "
cp "$sample" "$tmp/f.txt"
train --data "$tmp/f.txt" --stop-at 10 --save "$tmp/f/m.safetensors" >/dev/null 2>&1
printf '\nChanged.\n' >>"$tmp/f.txt"
err=$("$mm" train --resume "$tmp/f/m.state.safetensors" --save "$tmp/f/m.safetensors" 2>&1 | grep -v '^mm train: data'); rc=$?
check "resuming on a changed text file is refused" has "$err" "changed since this run started"
train --data "$sample" --stop-at 10 --save "$tmp/g/m.safetensors" >/dev/null 2>&1
cp "$tmp/a/m.safetensors" "$tmp/g/m.safetensors"
err=$("$mm" train --resume "$tmp/g/m.state.safetensors" --save "$tmp/g/m.safetensors" 2>&1 >/dev/null); rc=$?
check "a state file beside other weights than its own is refused" fails_with "$rc" "$err" "not the weights"

finish
