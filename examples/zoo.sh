#!/usr/bin/env bash
# examples/zoo.sh - every architecture of the table (mm train --list-archs), a tiny instance
# of each trained on the bundled fiction (data/fiction_demo.txt) with one shared tokenizer,
# printing each one's validation loss before and after, and, for the autoencoders, the
# reconstruction of a sentence that is not in the corpus. Ends with a table of the losses.
# Losses are of each model's own objective (mm train --list-archs says which): a next-token
# loss, a reconstruction loss and a second-half loss are not one scale.
# Usage: examples/zoo.sh [OUT_DIR]   (default runs/zoo)
#   STEPS=N   optimizer steps per model (default 800: about a minute each on 2 cores); LR=2e-3
#   ARCHS="mixer llama ..."   only these; MM=path/to/mm to use another binary
set -euo pipefail
mm=${MM:-./mm}
out=${1:-runs/zoo}
corpus=data/fiction_demo.txt
steps=${STEPS:-800}
sentence="The old lighthouse keeper counted the ships that passed each night."
archs=${ARCHS:-$("$mm" train --list-archs | grep -v '^ ')}

if grep -qF "$sentence" "$corpus"; then echo "zoo.sh: the held-out sentence is in $corpus" >&2; exit 1; fi
"$mm" --version | sed -n 2,3p
rm -rf "$out"
mkdir -p "$out"
echo "== A tokenizer of 1024 ids for every model, learned from $corpus"
"$mm" tokenizer train --data "$corpus" --vocab 1024 --out "$out/tokenizer.txt"
table="$out/losses.txt"
printf '%-16s %6s %6s %10s %9s %9s %6s  %s\n' architecture window steps parameters before after secs objective >"$table"
for arch in $archs; do
    # The autoencoders squeeze a whole window into one vector: a short window of 16 tokens,
    # packed (the corpus has only 564 documents, too few rows to pad one per row), and four
    # times the steps, as short windows make short steps.
    ctx=64 n=$steps
    case $arch in *-ae) ctx=16 n=$((4 * steps)) ;; esac
    echo
    echo "== $arch: D 64, depth 2, window $ctx, $n steps of 16 rows"
    start=$(date +%s)
    "$mm" train --arch "$arch" --data "$corpus" --tokenizer "$out/tokenizer.txt" --cache "$out/rows$ctx.cache" \
        --dim 64 --depth 2 --ctx $ctx --heads 4 --lr "${LR:-2e-3}" --steps "$n" --batch 16 \
        --eval-every $((n / 4)) --eval-rows 256 \
        --save "$out/$arch.safetensors" | grep '^eval' || true
    secs=$(( $(date +%s) - start ))
    before=$(awk -F, 'NR == 2 { print $4 }' "$out/$arch.log.csv")
    after=$(awk -F, 'END { print $4 }' "$out/$arch.log.csv")
    params=$("$mm" info "$out/$arch.safetensors" | sed -n 's/^parameters: \([0-9]*\).*/\1/p')
    objective=$("$mm" train --list-archs | grep -A3 -x "$arch" | sed -n 's/^  objective: \(.*\);.*/\1/p')
    echo "validation loss $before -> $after in $secs s"
    case $arch in *-ae)
        echo "reconstruction of a sentence the model has not seen:"
        "$mm" predict --model "$out/$arch.safetensors" --text "$sentence" | tail -2 ;;
    esac
    printf '%-16s %6s %6s %10s %9.4f %9.4f %6s  %s\n' "$arch" "$ctx" "$n" "$params" "$before" "$after" "$secs" "$objective" >>"$table"
done
echo
echo "== Validation losses (also in $table):"
cat "$table"
