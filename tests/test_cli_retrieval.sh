#!/usr/bin/env bash
# tests/test_cli_retrieval.sh - the retrieval commands on tests/data/retrieval_sample.jsonl
# (300 Debian query/target pairs): a tiny mixer pretrained here, InfoNCE fine-tuning (and
# that a stopped run resumes bit for bit), mm retrieval-eval's table and --tsv, mm embed's
# file, mm index / mm search, and bad input: one line, non-zero status.
# Usage: test_cli_retrieval.sh PATH_TO_MM
set -u
mm=${1:-./mm}
name=cli_retrieval; . tests/cli_lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pairs=tests/data/retrieval_sample.jsonl
split=(--test-lines 100 --val-lines 40)   # 160 train, 40 validation, 100 test pairs

"$mm" train --arch mixer --data $pairs --format jsonl --jsonl-field target --rows padded --pad-left --vocab 400 \
    --dim 32 --depth 2 --ctx 48 --steps 20 --batch 8 --lr 3e-3 --save "$tmp/m.safetensors" >/dev/null 2>&1
check "a tiny mixer pretrained on the targets (mm train --format jsonl --jsonl-field target)" \
    test -s "$tmp/m.safetensors" -a -s "$tmp/m.tokenizer.txt"

# ---- mm retrieval-train: InfoNCE ----
rt=(retrieval-train --init "$tmp/m.safetensors" --pairs $pairs "${split[@]}" --candidates 8 --steps 8 --batch 2
    --eval-every 4 --eval-rows 10)
out=$("$mm" "${rt[@]}" --save "$tmp/r.safetensors" 2>&1); rc=$?
check "retrieval-train exits 0 and saves: $out" ok_with "$rc" "$out" "saved $tmp/r.safetensors"
check "retrieval-train says what it trains on" has "$out" "160 train and 10 validation pairs"
check "retrieval-train evaluates on the validation items" has "$out" "eval step 8 tokens .* val-loss"
check "retrieval-train writes the tokenizer, the log and the plot beside the weights" \
    test -s "$tmp/r.tokenizer.txt" -a -s "$tmp/r.log.csv" -a -s "$tmp/r.loss.svg"
"$mm" "${rt[@]}" --stop-at 3 --save "$tmp/s.safetensors" >/dev/null 2>&1
out=$("$mm" retrieval-train --resume "$tmp/s.state.safetensors" --save "$tmp/s.safetensors" 2>&1); rc=$?
check "a resumed run exits 0: $out" test "$rc" = 0
check "a run stopped at step 3 and resumed ends with the same weights, bit for bit" \
    cmp -s "$tmp/r.safetensors" "$tmp/s.safetensors"
out=$("$mm" retrieval-train --resume "$tmp/s.state.safetensors" --save "$tmp/s.safetensors" --tau 0.5 2>&1); rc=$?
check "a resumed run refuses a new --tau: $out" fails_with "$rc" "$out" "drop --tau"
out=$("$mm" retrieval-train --init "$tmp/m.safetensors" --pairs $pairs --candidates 8 --steps 2 --batch 1 \
    --save "$tmp/x.safetensors" 2>&1); rc=$?
check "the default split leaves a 300-line file no training pairs: $out" fails_with "$rc" "$out" "train split has 0 pairs"

# ---- mm retrieval-eval ----
out=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --model "$tmp/m.safetensors,$tmp/r.safetensors" --n 8,32,200 \
    --seed 3 2>&1); rc=$?
check "retrieval-eval exits 0 with a table: $out" ok_with "$rc" "$out" "top-1 %"
check "retrieval-eval names the split and its lines" has "$out" "split test: 100 pairs (lines 201..300), seed 3"
check "retrieval-eval skips an n larger than the pool, saying so" has "$out" "n = 200 is larger than the pool of 100: skipped"
tsv=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --model "$tmp/m.safetensors,$tmp/r.safetensors" --n 8,32 \
    --seed 3 --tsv 2>"$tmp/err"); rc=$?
check "--tsv: a header and one row per method and n on stdout" \
    test "$rc" = 0 -a "$(head -1 <<<"$tsv")" = "$(printf 'method\tn\ttop1\tmrr10\trecall10\tqueries')" -a \
    "$(wc -l <<<"$tsv")" = 5
check "--tsv: rows name the checkpoint and count the queries" \
    bash -c "awk -F'\t' 'NR > 1 && !(\$1 ~ /^[mr]\.safetensors\$/ && \$6 == 100 && NF == 6) { bad = 1 } END { exit bad }' <<<\"\$1\"" _ "$tsv"
check "--tsv: the settings go to stderr" grep -q "seed 3" "$tmp/err"
again=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --model "$tmp/m.safetensors,$tmp/r.safetensors" --n 8,32 \
    --seed 3 --tsv 2>/dev/null)
check "the same seed gives the same table" test "$tsv" = "$again"
bm=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --method bm25 --n 8,32 --seed 3 --tsv 2>"$tmp/err"); rc=$?
check "--method bm25: a row per n named bm25: $bm" \
    bash -c "test $rc = 0 && awk -F'\t' 'NR > 1 && \$1 != \"bm25\" { bad = 1 } END { exit bad || NR != 3 }' <<<\"\$1\"" _ "$bm"
check "--method bm25: k1, b and the analyzer on stderr" grep -q "bm25: k1 0.9, b 0.4, analyzer: .*Porter" "$tmp/err"
check "BM25 finds most matches among 31 candidates of the Debian pairs" \
    bash -c "awk -F'\t' '\$2 == 32 { exit !(\$3 > 60) }' <<<\"\$1\"" _ "$bm"
both=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --model "$tmp/m.safetensors" --method bm25 --k1 1.2 --b 0.75 \
    --n 8 --seed 3 --tsv 2>"$tmp/err")
check "models and bm25 in one table, k1 and b as given" \
    bash -c "test \$(wc -l <<<\"\$1\") = 3 && grep -q 'k1 1.2, b 0.75' \"\$2\"" _ "$both" "$tmp/err"
out=$("$mm" retrieval-eval --pairs $pairs --model "$tmp/m.safetensors" 2>&1); rc=$?
check "the test split of a small file is all of it: 300 pairs" has "$out" "split test: 300 pairs (lines 1..300)"
out=$("$mm" retrieval-eval --pairs $pairs --split val --model "$tmp/m.safetensors" 2>&1); rc=$?
check "an empty split is an error: $out" fails_with "$rc" "$out" "the val split has 0 pair(s)"
out=$("$mm" retrieval-eval --pairs $pairs --split all --model "$tmp/m.safetensors" --n 1 2>&1); rc=$?
check "n below 2 is a usage error: $out" fails_with "$rc" "$out" "--n wants"
out=$("$mm" retrieval-eval --pairs "$tmp/none.jsonl" --model "$tmp/m.safetensors" 2>&1); rc=$?
check "a missing pairs file: $out" fails_with "$rc" "$out" "none.jsonl"
printf '{"query": "a", "target": "b"}\n{"query": "", "target": "c"}\n{"query": "d", "target": "e"}\n' >"$tmp/gap.jsonl"
out=$("$mm" retrieval-eval --pairs "$tmp/gap.jsonl" --split all --model "$tmp/m.safetensors" 2>&1); rc=$?
check "a line with an empty field would misalign the pairs: an error: $out" fails_with "$rc" "$out" "2 queries but 3 targets"
printf '{"query": "a", "target": "b"}\n{"query": "x" "target": "c"}\n' >"$tmp/bad.jsonl"
out=$("$mm" retrieval-eval --pairs "$tmp/bad.jsonl" --split all --model "$tmp/m.safetensors" 2>&1); rc=$?
check "malformed JSON names the line: $out" fails_with "$rc" "$out" "bad.jsonl:2"

# ---- mm embed, mm index, mm search ----
out=$("$mm" embed --model "$tmp/r.safetensors" --input $pairs --field query --out "$tmp/q.emb" 2>/dev/null); rc=$?
check "mm embed exits 0: $out" ok_with "$rc" "$out" "300 documents"
check "the embeddings file: magic, version 1, 300 rows of 32 from a 64-byte-aligned offset" \
    /usr/bin/python3 -c "
import struct, sys
b = open(sys.argv[1], 'rb').read()
ver, rows_at, count, dim = struct.unpack_from('<IIQQ', b, 8)
offsets_at = struct.unpack_from('<Q', b, 48)[0]
assert b[:8] == b'MMIXEMB\0' and ver == 1 and count == 300 and dim == 32 and rows_at % 64 == 0
assert offsets_at == rows_at + 4 * count * dim and len(b) == offsets_at + 8 * count
for i in range(count):   # unit rows
    r = struct.unpack_from('<32f', b, rows_at + 4 * dim * i)
    assert abs(sum(x * x for x in r) - 1) < 1e-4, i
" "$tmp/q.emb"
out=$("$mm" index --model "$tmp/r.safetensors" --docs $pairs --field target --out "$tmp/ix" 2>/dev/null); rc=$?
check "mm index exits 0: $out" ok_with "$rc" "$out" "300 documents"
# a document's whole text as the query: its row, so its embedding, is the document's own
doc=$(sed -n 5p $pairs | /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["target"])')
target=$(head -1 <<<"$doc")
out=$("$mm" search --index "$tmp/ix" -k 3 "$doc" 2>/dev/null); rc=$?
check "mm search prints k lines rank<TAB>score<TAB>first line" \
    bash -c "test $rc = 0 && test \$(wc -l <<<\"\$1\") = 3 && awk -F'\t' 'NF != 3 || \$1 != NR { bad = 1 } END { exit bad }' <<<\"\$1\"" _ "$out"
check "a document's own text finds it first" test "$(head -1 <<<"$out" | cut -f3)" = "$target"
scores=$(cut -f2 <<<"$out")
check "scores come best first" test "$scores" = "$(sort -gr <<<"$scores")"
json=$("$mm" search --index "$tmp/ix" --top-k 2 --json "$doc" 2>/dev/null)
check "--json: one object per result with rank, score, doc and offset" \
    /usr/bin/python3 -c "
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert [r['rank'] for r in rows] == [1, 2] and rows[0]['doc'] == sys.argv[2]
data = open(sys.argv[3], 'rb').read()
assert json.loads(data[rows[0]['offset']:].split(b'\n')[0])['target'].split('\n')[0] == sys.argv[2]
" "$json" "$target" $pairs
printf 'a library\n\nfonts\n' >"$tmp/queries.txt"
out=$("$mm" search --index "$tmp/ix" -k 2 --queries "$tmp/queries.txt" 2>"$tmp/err"); rc=$?
check "--queries: a block per non-empty line" test "$rc" = 0 -a "$(grep -c '^# ' <<<"$out")" = 2
check "search speed goes to stderr" grep -q 'queries/s' "$tmp/err"
out=$("$mm" search --index "$tmp/ix" --model "$tmp/m.safetensors" "fonts" 2>&1); rc=$?
check "searching with another model is an error: $out" fails_with "$rc" "$out" "built with another model"
head -c 100 "$tmp/ix" >"$tmp/cut"
out=$("$mm" search --index "$tmp/cut" "fonts" 2>&1); rc=$?
check "a cut index is an error: $out" fails_with "$rc" "$out" "not an embeddings file"
# found by tests/fuzz/fuzz_embeddings.c: the head's reserved bytes, and offsets out of order
python3 -c "
import sys; b = bytearray(open(sys.argv[1], 'rb').read()); b[71] = 16; open(sys.argv[2], 'wb').write(b)
b = bytearray(open(sys.argv[1], 'rb').read()); b[-8:] = b[-16:-8]; open(sys.argv[3], 'wb').write(b)" "$tmp/ix" "$tmp/reserved" "$tmp/unordered"
out=$("$mm" search --index "$tmp/reserved" "fonts" 2>&1); rc=$?
check "an index with non-zero reserved bytes is an error: $out" fails_with "$rc" "$out" "$tmp/reserved: not an embeddings file of mm embed / mm index (the head's last 4 bytes (reserved) are not zero)"
out=$("$mm" search --index "$tmp/unordered" "fonts" 2>&1); rc=$?
check "an index whose document offsets repeat is an error: $out" fails_with "$rc" "$out" "offsets are not increasing"
out=$("$mm" search --index "$tmp/missing" "fonts" 2>&1); rc=$?
check "a missing index is an error: $out" fails_with "$rc" "$out" "missing"
out=$("$mm" search --index "$tmp/ix" 2>&1); rc=$?
check "no query is a usage error: $out" fails_with "$rc" "$out" "give --index and either a query"
out=$("$mm" embed --model "$tmp/m.safetensors" --input $pairs --out "$tmp/y.emb" 2>&1); rc=$?
check "mm embed of a field the file lacks names it: $out" fails_with "$rc" "$out" '"text"'
check "a failed mm embed writes nothing" test ! -e "$tmp/y.emb"
# ---- mm retrieval-train --mode indirect: the RetrievalMixer on the frozen model's embeddings ----
ri=(retrieval-train --mode indirect --pairs $pairs "${split[@]}" --candidates 8 --depth 2 --steps 8 --batch 4
    --eval-every 4 --lr 1e-3)
out=$("$mm" "${ri[@]}" --embed-model "$tmp/r.safetensors" --save "$tmp/i.safetensors" 2>"$tmp/err"); rc=$?
check "indirect: one command from an InfoNCE-tuned checkpoint and the pairs: $out" \
    ok_with "$rc" "$out" "saved $tmp/i.safetensors"
check "indirect: the train and validation splits embedded once, with a progress line" \
    bash -c "grep -q 'embedding training queries 160/160' \"\$1\" && grep -q 'embedding validation targets 40/40' \"\$1\"" \
    _ "$tmp/err"
check "indirect: says what it trains" has "$out" "D 32, depth 2, 8 candidates, .* 160 train and 40 validation pairs"
check "indirect: evaluates on the validation items" has "$out" "eval step 8 tokens .* val-loss"
check "indirect: the state, the log and the plot beside the weights" \
    test -s "$tmp/i.state.safetensors" -a -s "$tmp/i.log.csv" -a -s "$tmp/i.loss.svg"
check "indirect: the file records its generative model (path, and the hash mm embed records) and c" \
    /usr/bin/python3 -c "
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
meta = json.loads(b[8:8 + struct.unpack_from('<Q', b)[0]])['__metadata__']
model_hash = struct.unpack_from('<Q', open(sys.argv[3], 'rb').read(), 32)[0]
assert meta['mmix_model'] == 'retrieval-mixer' and meta['retrieval_embed_model'] == sys.argv[2], meta
assert int(meta['retrieval_embed_model_fnv1a'], 16) == model_hash, meta
assert meta['n_samples'] == '8' and meta['retrieval_candidates'] == '8' and meta['depth'] == '2', meta
" "$tmp/i.safetensors" "$tmp/r.safetensors" "$tmp/q.emb"
"$mm" "${ri[@]}" --embed-model "$tmp/r.safetensors" --stop-at 3 --save "$tmp/j.safetensors" >/dev/null 2>&1
out=$("$mm" retrieval-train --resume "$tmp/j.state.safetensors" --save "$tmp/j.safetensors" 2>&1); rc=$?
check "indirect: a resumed run exits 0: $out" test "$rc" = 0
check "indirect: a run stopped at step 3 and resumed ends with the same weights, bit for bit" \
    cmp -s "$tmp/i.safetensors" "$tmp/j.safetensors"
check "indirect: and the same evaluations in its log" \
    test "$(cut -d, -f1-5 "$tmp/i.log.csv")" = "$(cut -d, -f1-5 "$tmp/j.log.csv")"
"$mm" embed --model "$tmp/r.safetensors" --input $pairs --field target --out "$tmp/t.emb" >/dev/null 2>&1
out=$("$mm" "${ri[@]}" --query-embeddings "$tmp/q.emb" --target-embeddings "$tmp/t.emb" --save "$tmp/k.safetensors" 2>&1)
check "indirect: from mm embed files, the same weights as embedding in the run" \
    bash -c "test $? = 0 && cmp -s \"\$1\" \"\$2\"" _ "$tmp/i.safetensors" "$tmp/k.safetensors"
"$mm" "${ri[@]}" --query-embeddings "$tmp/q.emb" --target-embeddings "$tmp/t.emb" --stop-at 5 --save "$tmp/l.safetensors" \
    >/dev/null 2>&1
"$mm" retrieval-train --resume "$tmp/l.state.safetensors" --save "$tmp/l.safetensors" >/dev/null 2>&1
check "indirect: a run on mm embed files resumes bit for bit" cmp -s "$tmp/i.safetensors" "$tmp/l.safetensors"
tsv=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --model "$tmp/r.safetensors,$tmp/i.safetensors" --n 8,32 \
    --seed 3 --tsv 2>"$tmp/err"); rc=$?
check "retrieval-eval of an indirect model: its row at n = c only, beside the embedding model's: $tsv" \
    bash -c "test $rc = 0 && awk -F'\t' 'NR > 1 { rows = rows \$1 \" \" \$2 \" \" \$6 \";\" } END { exit rows != \"r.safetensors 8 100;r.safetensors 32 100;i.safetensors 8 100;\" }' <<<\"\$1\"" \
    _ "$tsv"
check "retrieval-eval: the other n of an indirect model skipped with a note on stderr" \
    grep -q "i.safetensors ranks 8 candidates, the n it was trained with: n = 32 skipped" "$tmp/err"
again=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --model "$tmp/i.safetensors" --n 8 --seed 3 --tsv 2>/dev/null)
check "retrieval-eval: an indirect model's row is the same alone as beside other methods" \
    test "$(tail -1 <<<"$again")" = "$(grep '^i.safetensors' <<<"$tsv")"
out=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --model "$tmp/i.safetensors" --embed-model "$tmp/m.safetensors" \
    --n 8 2>&1); rc=$?
check "retrieval-eval: another generative model than the recorded one is an error: $out" \
    fails_with "$rc" "$out" "m.safetensors is not the generative model .*i.safetensors was trained on"
mkdir -p "$tmp/g"; cp "$tmp/r.safetensors" "$tmp/g/gen.safetensors"; cp "$tmp/r.tokenizer.txt" "$tmp/g/gen.tokenizer.txt"
"$mm" "${ri[@]}" --steps 1 --embed-model "$tmp/g/gen.safetensors" --save "$tmp/moved.safetensors" >/dev/null 2>&1
mv "$tmp/g/gen.safetensors" "$tmp/g/elsewhere.safetensors"
out=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --model "$tmp/moved.safetensors" --n 8 2>&1); rc=$?
check "retrieval-eval: a missing generative model is an error naming it: $out" fails_with "$rc" "$out" "gen.safetensors"
out=$("$mm" retrieval-eval --pairs $pairs "${split[@]}" --model "$tmp/moved.safetensors" --n 8 --tsv \
    --embed-model "$tmp/g/elsewhere.safetensors" 2>/dev/null); rc=$?
check "retrieval-eval: --embed-model points at a moved generative model: $out" \
    bash -c "test $rc = 0 && test \$(wc -l <<<\"\$1\") = 2" _ "$out"
out=$("$mm" "${ri[@]}" --candidates 200 --embed-model "$tmp/r.safetensors" --save "$tmp/x.safetensors" 2>&1); rc=$?
check "indirect: c larger than the train split is an error: $out" \
    fails_with "$rc" "$out" "train split has 160 pairs, fewer than --candidates 200"
"$mm" train --arch mixer --data $pairs --format jsonl --jsonl-field target --rows padded --pad-left --vocab 400 \
    --dim 16 --depth 1 --ctx 48 --steps 2 --batch 8 --save "$tmp/narrow.safetensors" >/dev/null 2>&1
"$mm" embed --model "$tmp/narrow.safetensors" --input $pairs --field target --out "$tmp/t16.emb" >/dev/null 2>&1
out=$("$mm" "${ri[@]}" --query-embeddings "$tmp/q.emb" --target-embeddings "$tmp/t16.emb" --save "$tmp/x.safetensors" 2>&1)
rc=$?
check "indirect: embeddings of another width (another model) are an error: $out" \
    fails_with "$rc" "$out" "q.emb (32-dimensional) and .*t16.emb (16-dimensional) were not made by the same model"
out=$("$mm" "${ri[@]}" --query-embeddings "$tmp/t.emb" --target-embeddings "$tmp/t.emb" --save "$tmp/x.safetensors" 2>&1)
rc=$?
check "indirect: a targets file given as the queries is an error: $out" fails_with "$rc" "$out" 'holds the field "target"'
out=$("$mm" "${ri[@]}" --query-embeddings "$tmp/q.emb" --target-embeddings "$tmp/cut" --save "$tmp/x.safetensors" 2>&1)
rc=$?
check "indirect: a cut embeddings file is an error: $out" fails_with "$rc" "$out" "not an embeddings file"
out=$("$mm" "${ri[@]}" --embed-model "$tmp/none.safetensors" --save "$tmp/x.safetensors" 2>&1); rc=$?
check "indirect: a missing generative model is an error: $out" fails_with "$rc" "$out" "none"
check "indirect: a failed run writes no weights" test ! -e "$tmp/x.safetensors"
out=$("$mm" "${ri[@]}" --embed-model "$tmp/r.safetensors" --tau 0.1 --save "$tmp/x.safetensors" 2>&1); rc=$?
check "indirect: --tau is InfoNCE's, a usage error: $out" test "$rc" = 2
out=$("$mm" "${rt[@]}" --depth 3 --save "$tmp/x.safetensors" 2>&1); rc=$?
check "infonce: --depth is the indirect model's, a usage error: $out" fails_with "$rc" "$out" "--depth goes with --mode indirect"
out=$("$mm" retrieval-train --resume "$tmp/j.state.safetensors" --save "$tmp/j.safetensors" --depth 4 2>&1); rc=$?
check "indirect: a resumed run refuses a new --depth: $out" fails_with "$rc" "$out" "drop --depth"
out=$("$mm" retrieval-train --resume "$tmp/j.state.safetensors" --embed-model "$tmp/m.safetensors" \
    --save "$tmp/j.safetensors" 2>&1); rc=$?
check "indirect: resuming on another model's embeddings is an error: $out" \
    fails_with "$rc" "$out" "m.safetensors is not the generative model the run was trained on"

"$mm" train --arch mixer-bidi --vocab 50 --dim 16 --depth 1 --ctx 8 --tokens tests/reference/fixtures/model_tokens.txt \
    --steps 1 --batch 1 --save "$tmp/bidi.safetensors" >/dev/null 2>&1
cp "$tmp/m.tokenizer.txt" "$tmp/bidi.tokenizer.txt"
out=$("$mm" retrieval-eval --pairs $pairs --split all --model "$tmp/bidi.safetensors" 2>&1); rc=$?
check "a bidirectional mixer has no retrieval embedding: $out" fails_with "$rc" "$out" "no retrieval embedding"
finish
