#!/usr/bin/env bash
# examples/demo.sh - the main job, run by `make demo`: learns a tokenizer and trains a small
# masked mixer on the bundled public-domain fiction (data/fiction_demo.txt), printing the
# validation loss and a sample from a fixed prompt before and after training. Everything it
# makes stays in one folder: weights, training state, tokenizer, CSV log, loss plot.
# Usage: examples/demo.sh [OUT_DIR]   (default runs/demo; MM=path/to/mm to use another binary)
set -euo pipefail
mm=${MM:-./mm}
out=${1:-runs/demo}
corpus=data/fiction_demo.txt
prompt="Once upon a time there was a little"
model=$out/model.safetensors

"$mm" --version | sed -n 2,3p
rm -rf "$out"
start=$(date +%s)

echo
echo "== 1/3 A tokenizer (2048 ids) and a new masked mixer: preset cpu-mixer, $corpus"
"$mm" train --preset cpu-mixer --data "$corpus" --save "$model" --stop-at 0
echo
echo "== Before training, greedy continuation of \"$prompt\":"
"$mm" generate --model "$model" --prompt "$prompt" --max-new 40
echo

echo "== 2/3 Training (Ctrl-C saves; then: $mm train --resume $out/model.state.safetensors --save $model)"
"$mm" train --resume "$out/model.state.safetensors" --save "$model"
echo
echo "== 3/3 After training, the same prompt, greedy (the paper's decoding):"
"$mm" generate --model "$model" --prompt "$prompt" --max-new 40
echo "== and sampled (--temperature 0.8 --top-k 40 --seed 1):"
"$mm" generate --model "$model" --prompt "$prompt" --max-new 40 --temperature 0.8 --top-k 40 --seed 1
echo

before=$(awk -F, 'NR == 2 { print $4 }' "$out/model.log.csv")
after=$(awk -F, 'END { print $4 }' "$out/model.log.csv")
echo "Validation loss: $before before training, $after after ($(awk -v a="$before" -v b="$after" \
    'BEGIN { printf "%.2f", a - b }') nats per token lower) in $(( $(date +%s) - start )) s."
echo "In $out/: model.safetensors (weights), model.state.safetensors (optimizer and data position),"
echo "model.tokenizer.txt, model.log.csv (every evaluation), model.loss.svg (open it in a browser)."
echo "More: $mm generate --model $model --prompt \"...\" [--temperature T --top-k K --seed S]"
