#!/usr/bin/env bash
# examples/figure3.sh - the paper's Figure 3 (Sec. 3.3) at CPU scale: how much of its input
# the last hidden layer of an 8-block model keeps, for the flat masked mixer, the expanded
# mixer (e = 2) and the Llama-style transformer with 32 and 4 heads, across model widths.
# Each model inverts the same few texts of the corpus (mm invert: 500 steps of gradient
# descent on the embeddings, tokens through the pseudo-inverse, paper Sec. 3) and the
# normalized Hamming distance (paper Eq. 6; 0 = every token recovered) is averaged over them.
# First untrained models (Fig. 3a/3c, before training), then the same models trained by
# mm train for a short fixed budget (Fig. 3c/3d, after training). Writes figure3.csv and
# figure3.svg (a bar chart: one panel per training budget) into OUT_DIR.
# Usage: examples/figure3.sh [OUT_DIR]   (default runs/figure3)
#   DIMS="64 128 256"   widths (llama-h32 needs D / 32 even: D >= 64)
#   CTX=16 DEPTH=8 TEXTS=4 ITERS=500   the window, the blocks, how many texts, the steps
#   TRAIN_DIMS="64 128" TRAIN_STEPS=300 TRAIN_BATCH=16   the trained sweep ("" skips it)
#   MODELS="mixer mixer-e2 llama-h32 llama-h4"   CORPUS=data/fiction_demo.txt   SEED=0
#   GEMM=builtin|blas   MM=path/to/mm
set -euo pipefail
mm=${MM:-./mm}
out=${1:-runs/figure3}
corpus=${CORPUS:-data/fiction_demo.txt}
dims=${DIMS:-"64 128 256"}
depth=${DEPTH:-8}
ctx=${CTX:-16}
texts=${TEXTS:-4}
iters=${ITERS:-500}
models=${MODELS:-"mixer mixer-e2 llama-h32 llama-h4"}
train_dims=${TRAIN_DIMS-"64 128"}
train_steps=${TRAIN_STEPS:-300}
train_batch=${TRAIN_BATCH:-16}
seed=${SEED:-0}
gemm=()
if [ -n "${GEMM:-}" ]; then gemm=(--gemm "$GEMM"); fi

model_args() {
    case $1 in
    mixer) echo "--arch mixer" ;;
    mixer-e2) echo "--arch mixer-expanded --expansion 2" ;;
    llama-h32) echo "--arch llama --heads 32" ;;
    llama-h4) echo "--arch llama --heads 4" ;;
    *) echo "figure3.sh: unknown model '$1' (mixer, mixer-e2, llama-h32, llama-h4)" >&2; exit 2 ;;
    esac
}

mkdir -p "$out"
tok=$out/tokenizer.txt
"$mm" tokenizer train --data "$corpus" --vocab 1024 --out "$tok" >/dev/null
pad=$(awk '$1 == "special" && $3 == "pad" {print $2}' "$tok")
# The texts: the corpus's last TEXTS documents (paper: the first validation stories), each cut
# to its first CTX tokens and right-padded with the pad id, which the metric does not count.
awk -v n="$texts" 'BEGIN {RS = ""} {doc[NR] = $0} END {for (i = NR - n + 1; i <= NR; i++) {gsub(/\n/, " ", doc[i]); print doc[i]}}' \
    "$corpus" >"$out/texts.txt"
: >"$out/texts.ids"
while IFS= read -r line; do
    printf '%s' "$line" | "$mm" tokenizer encode --tokenizer "$tok" | tr '\n' ' ' |
        awk -v L="$ctx" -v p="$pad" '{s = ""; for (i = 1; i <= L; i++) s = s (i > 1 ? " " : "") (i <= NF ? $i : p); print s}' \
            >>"$out/texts.ids"
done <"$out/texts.txt"

csv=$out/figure3.csv
echo "model,dim,trained_steps,hamming,l1,epsilon,seconds" >"$csv"
# invert LABEL DIM STEPS MM-ARGS...: one row of the table
invert() {
    local label=$1 dim=$2 steps=$3 t0 t1 res
    shift 3
    t0=$(date +%s.%N)
    res=$("$mm" invert "$@" --tokens "$out/texts.ids" --pad-id "$pad" --iters "$iters" --seed "$seed" "${gemm[@]}" 2>/dev/null)
    t1=$(date +%s.%N)
    awk -v m="$label" -v d="$dim" -v s="$steps" -v t0="$t0" -v t1="$t1" \
        '$1 == "hamming" {h = $2} $1 == "l1" {l = $2} $1 == "epsilon" {e = $2}
         END {printf "%s,%s,%s,%s,%s,%s,%.1f\n", m, d, s, h, l, e, t1 - t0}' <<<"$res" | tee -a "$csv"
}

echo "== untrained: depth $depth, window $ctx, $texts texts, $iters steps"
for dim in $dims; do
    for model in $models; do
        # shellcheck disable=SC2046
        invert "$model" "$dim" 0 $(model_args "$model") --vocab 1024 --dim "$dim" --depth "$depth" --ctx "$ctx"
    done
done
if [ -n "$train_dims" ]; then
    echo "== trained by mm train for $train_steps steps of $train_batch rows of $ctx tokens"
    mkdir -p "$out/trained"
    for dim in $train_dims; do
        for model in $models; do
            w=$out/trained/$model-$dim.safetensors
            # shellcheck disable=SC2046
            "$mm" train $(model_args "$model") --dim "$dim" --depth "$depth" --ctx "$ctx" --data "$corpus" \
                --tokenizer "$tok" --steps "$train_steps" --batch "$train_batch" --seed "$seed" --save "$w" \
                --eval-every "$train_steps" --eval-rows 64 \
                "${gemm[@]}" >"$out/trained/$model-$dim.log" 2>&1
            invert "$model" "$dim" "$train_steps" --model "$w"
        done
    done
fi

# The chart: one panel per training budget, one group of bars per width, one bar per model.
awk -F, -v models="$models" '
NR == 1 {next}
{ key = $3; if (!(key in seen)) {seen[key] = 1; panels[++np] = key}
  dkey = $3 SUBSEP $2; if (!(dkey in dseen)) {dseen[dkey] = 1; nd[$3]++; dimat[$3, nd[$3]] = $2}
  h[$3, $2, $1] = $4 }
END {
  nm = split(models, mname, " ")
  split("#1f77b4 #aec7e8 #d62728 #ff9896", color, " ")
  pw = 420; ph = 260; W = np * pw + 40; H = ph + 110
  printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H
  printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
  for (p = 1; p <= np; p++) {
    x0 = 60 + (p - 1) * pw; y0 = 40; s = panels[p]
    printf "<text x=\"%d\" y=\"24\" font-size=\"14\">%s</text>\n", x0, s == 0 ? "untrained" : "trained " s " steps"
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0, y0, x0, y0 + ph
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0, y0 + ph, x0 + pw - 60, y0 + ph
    for (t = 0; t <= 4; t++) {
      y = y0 + ph - t * ph / 4
      printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.2f</text>\n", x0 - 4, y + 4, t / 4
      printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n", x0, y, x0 + pw - 60, y
    }
    gw = (pw - 80) / nd[s]; bw = (gw - 10) / nm
    for (g = 1; g <= nd[s]; g++) {
      d = dimat[s, g]; gx = x0 + 10 + (g - 1) * gw
      printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">d_model %s</text>\n", gx + nm * bw / 2, y0 + ph + 16, d
      for (m = 1; m <= nm; m++) {
        v = h[s, d, mname[m]]; if (v == "" || v == "nan") continue
        bh = v * ph; if (bh < 1) bh = 1
        printf "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s d=%s: %s</title></rect>\n", \
          gx + (m - 1) * bw, y0 + ph - bh, bw - 1, bh, color[m], mname[m], d, v
      }
    }
  }
  for (m = 1; m <= nm; m++) {
    lx = 60 + (m - 1) * 120
    printf "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n", lx, H - 40, color[m], lx + 16, H - 30, mname[m]
  }
  printf "<text x=\"60\" y=\"%d\">normalized Hamming distance of the recovered input (0 = all tokens recovered), paper Eq. 6</text>\n", H - 10
  printf "</svg>\n"
}' "$csv" >"$out/figure3.svg"
echo "== $csv and $out/figure3.svg"
tr , '\t' <"$csv"
