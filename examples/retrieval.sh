#!/usr/bin/env bash
# examples/retrieval.sh - from raw query/target pairs to a retrieval table (paper Sec. 6, Table 1):
# a masked mixer and a Llama-style transformer pretrained with the same compute on the train
# split's targets, each then InfoNCE-tuned on the train split's pairs, and the indirect
# retrieval model on the tuned mixer's embeddings (INDIRECT_STEPS=0 skips it), all evaluated
# on the test split beside BM25, over the same candidate lists. The test split stays out of every
# step of training, the tokenizer included.
# Usage: examples/retrieval.sh OUT_DIR   (settings from the environment, defaults below:
#   the bundled 4,000 Debian pairs, tiny models, a few minutes on two cores)
set -euo pipefail
out=${1:-runs/retrieval}
mm=${MM:-./mm}
PAIRS=${PAIRS:-data/retrieval_demo.jsonl}
TEST=${TEST:-1000}          # the file's last TEST lines are the test split,
VAL=${VAL:-200}             # the VAL lines before them the validation split, the rest train
VOCAB=${VOCAB:-2048}
DIM=${DIM:-128}
DEPTH=${DEPTH:-4}
CTX=${CTX:-64}
HEADS=${HEADS:-4}
STEPS=${STEPS:-300}         # pretraining steps of BATCH rows, the same for both models
BATCH=${BATCH:-16}
MIXER_LR=${MIXER_LR:-2e-3}
LLAMA_LR=${LLAMA_LR:-1e-3}
TUNE_STEPS=${TUNE_STEPS:-60}    # InfoNCE steps of TUNE_ITEMS items of CANDIDATES rows
TUNE_ITEMS=${TUNE_ITEMS:-2}
CANDIDATES=${CANDIDATES:-32}
TUNE_LR=${TUNE_LR:-1e-4}
EVAL_ITEMS=${EVAL_ITEMS:-100}   # validation items per InfoNCE evaluation (each is CANDIDATES rows)
INDIRECT_STEPS=${INDIRECT_STEPS:-200}   # the indirect model: steps of INDIRECT_ITEMS items; 0: none
INDIRECT_ITEMS=${INDIRECT_ITEMS:-16}
INDIRECT_DEPTH=${INDIRECT_DEPTH:-8}
INDIRECT_LR=${INDIRECT_LR:-1e-4}
N=${N:-32,64,128,256,512,1024}
mkdir -p "$out"
split=(--test-lines "$TEST" --val-lines "$VAL")
lines=$(grep -c . "$PAIRS")
train_lines=$((lines - TEST - VAL))
test "$train_lines" -gt 0 || { echo "retrieval.sh: $PAIRS has $lines lines: no train split" >&2; exit 1; }
head -n "$train_lines" "$PAIRS" >"$out/train_pairs.jsonl"   # pretraining sees the train split alone
clock() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(clock)" 'BEGIN { printf "%.1f s", b - a }'; }
log() { echo "$*" | tee -a "$out/times.txt"; }
: >"$out/times.txt"

for arch in mixer llama; do
    lr=$MIXER_LR; test $arch = llama && lr=$LLAMA_LR
    t=$(clock)
    # the mixer's run learns the tokenizer from the train split's targets; the transformer's reuses it
    tok=(--vocab "$VOCAB"); test $arch = llama && tok=(--tokenizer "$out/mixer.tokenizer.txt")
    "$mm" train --arch $arch --data "$out/train_pairs.jsonl" --format jsonl --jsonl-field target --rows padded --pad-left \
        "${tok[@]}" --dim "$DIM" --depth "$DEPTH" --ctx "$CTX" --heads "$HEADS" --steps "$STEPS" \
        --batch "$BATCH" --lr "$lr" --save "$out/$arch.safetensors" >"$out/$arch.train.log"
    log "pretrain $arch (tokenizer too: ${tok[*]}; D $DIM, n $DEPTH, L $CTX, $STEPS steps of $BATCH rows, lr $lr): $(took "$t"), $(grep 'val-loss' "$out/$arch.train.log" | tail -1)"
    t=$(clock)
    "$mm" retrieval-train --mode infonce --init "$out/$arch.safetensors" --pairs "$PAIRS" "${split[@]}" \
        --candidates "$CANDIDATES" --steps "$TUNE_STEPS" --batch "$TUNE_ITEMS" --lr "$TUNE_LR" --eval-rows "$EVAL_ITEMS" \
        --eval-every $(((TUNE_STEPS + 3) / 4)) \
        --save "$out/$arch-infonce.safetensors" >"$out/$arch-infonce.train.log"
    log "InfoNCE $arch ($TUNE_STEPS steps of $TUNE_ITEMS items of $CANDIDATES rows, lr $TUNE_LR): $(took "$t"), $(grep 'val-loss' "$out/$arch-infonce.train.log" | tail -1)"
done
models="$out/mixer.safetensors,$out/mixer-infonce.safetensors,$out/llama.safetensors,$out/llama-infonce.safetensors"
if test "$INDIRECT_STEPS" -gt 0; then   # on the tuned mixer's embeddings, made once by the run
    t=$(clock)
    "$mm" retrieval-train --mode indirect --embed-model "$out/mixer-infonce.safetensors" --pairs "$PAIRS" "${split[@]}" \
        --candidates "$CANDIDATES" --depth "$INDIRECT_DEPTH" --steps "$INDIRECT_STEPS" --batch "$INDIRECT_ITEMS" \
        --lr "$INDIRECT_LR" --save "$out/indirect.safetensors" >"$out/indirect.train.log" 2>"$out/indirect.err"
    log "indirect model on mixer-infonce ($INDIRECT_STEPS steps of $INDIRECT_ITEMS items of $CANDIDATES, depth $INDIRECT_DEPTH, lr $INDIRECT_LR): $(took "$t"), $(grep 'val-loss' "$out/indirect.train.log" | tail -1)"
    models="$models,$out/indirect.safetensors"
fi
t=$(clock)
methods=(--model "$models")
if "$mm" retrieval-eval --help | grep -q -- '--method'; then methods+=(--method bm25); fi
"$mm" retrieval-eval --pairs "$PAIRS" "${split[@]}" "${methods[@]}" --n "$N" --tsv >"$out/table.tsv" 2>"$out/eval.log"
log "evaluation: $(took "$t") ($(grep -c 'embedded and scored' "$out/eval.log") models)"
grep -v '^embedding' "$out/eval.log" >&2 || true
awk -F'\t' '{ printf "%-28s %6s %8s %8s %10s %8s\n", $1, $2, $3, $4, $5, $6 }' "$out/table.tsv" | tee "$out/table.txt"
