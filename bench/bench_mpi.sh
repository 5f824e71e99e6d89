#!/usr/bin/env bash
# bench/bench_mpi.sh - data-parallel scaling (make bench-mpi): the same mm train run on 1 and
# on 2 ranks of one thread each, tokens/s and the efficiency tokens/s(2) / (2 x tokens/s(1));
# then, on paper, the expected efficiency at 4 and 8 GPUs for the paper's models from the
# all-reduce volume per step and stated link bandwidths.
# Usage: bench_mpi.sh [MM_MPI]   (STEPS=, DIM=, DEPTH=, CTX=, BATCH= override the run)
set -eu
mm=${1:-./mm-mpi}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
steps=${STEPS:-12}; dim=${DIM:-256}; depth=${DEPTH:-4}; ctx=${CTX:-128}; batch=${BATCH:-8}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
data=${DATA:-data/fiction_demo.txt}
[ -f "$data" ] || data=tests/data/sample.txt
run=(train --arch mixer --data "$data" --vocab 2048 --dim "$dim" --depth "$depth" --ctx "$ctx" --batch "$batch"
     --steps "$steps" --eval-every "$steps" --eval-rows 1 --log-every 1)
# the tokenizer and the cache first, so neither run times them
"$mm" "${run[@]}" --steps 1 --save "$tmp/warm.safetensors" >/dev/null
rate() { grep -o '[0-9]* tok/s' | tail -n 1 | cut -d' ' -f1; }
one=$("$mm" "${run[@]}" --save "$tmp/warm.safetensors" | rate)
two=$(mpirun -np 2 --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none \
      "$mm" "${run[@]}" --save "$tmp/warm.safetensors" | tr '\r' '\n' | rate)
params=$(awk -v V=2048 -v D="$dim" -v n="$depth" -v L="$ctx" 'BEGIN { F = 4 * D; printf "%d", 2*V*D + n*(4*D + 2*D*F + F + D + L*L + L) }')
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc --all) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mixer D $dim, $depth blocks, n_ctx $ctx, V 2048 ($params parameters), global batch $batch, $steps steps, 1 thread per rank"
printf '%-8s %12s %12s\n' ranks tokens/s efficiency
printf '%-8s %12s %12s\n' 1 "$one" 1.00
printf '%-8s %12s %12s\n' 2 "$two" "$(awk -v a="$one" -v b="$two" 'BEGIN { printf "%.2f", b / (2 * a) }')"
echo "MPI_RANKS_1_TOKENS_PER_S=$one"
echo "MPI_RANKS_2_TOKENS_PER_S=$two"
echo "MPI_EFFICIENCY_2=$(awk -v a="$one" -v b="$two" 'BEGIN { printf "%.3f", b / (2 * a) }')"

# On paper. A ring all-reduce moves 2(N-1)/N of the gradient bytes through each GPU's link
# per step (fp32 gradients: DDP reduces in the parameters' dtype, fp32 master weights under
# AMP). Compute time per step: the paper's FineWeb mixer ran 200k steps in about 21 h on
# 4 V100s (paper Sec. 4; global batch 128 x 512 tokens, 32 per GPU), 0.378 s per step, taken
# here as the per-GPU compute of a step at 32 rows per GPU (an upper bound: it includes the
# paper's own communication). No overlap of communication with the backward pass assumed,
# so these are lower bounds on the efficiency. Link bandwidths (achieved all-reduce bus
# bandwidth, stated, not measured here): NVLink 2 (V100 SXM2) 130 GB/s, PCIe 3.0 x16 10 GB/s,
# 100 Gb Ethernet 11.5 GB/s, 25 Gb Ethernet 2.9 GB/s.
echo
echo "on paper: efficiency = compute / (compute + all-reduce), compute 0.378 s per step per GPU"
awk 'BEGIN {
    split("NVLink-2 PCIe-3-x16 100GbE 25GbE", name, " "); split("130 10 11.5 2.9", bw, " ");
    model[1] = "fineweb-mixer (V 8000, D 1024, 16 blocks, L 512)"; P[1] = 2*8000*1024 + 16*(4*1024 + 2*1024*4096 + 4096 + 1024 + 512*512 + 512);
    model[2] = "tinystories-mixer (V 4096, D 1024, 8 blocks, L 512)"; P[2] = 2*4096*1024 + 8*(4*1024 + 2*1024*4096 + 4096 + 1024 + 512*512 + 512);
    for (m = 1; m <= 2; m++) {
        printf "%s: %d parameters, %.0f MB of fp32 gradients\n", model[m], P[m], P[m] * 4 / 1e6;
        printf "  %-12s %8s %8s\n", "link", "4 GPUs", "8 GPUs";
        for (l = 1; l <= 4; l++) {
            printf "  %-12s", name[l];
            for (N = 4; N <= 8; N *= 2) {
                t = 2 * (N - 1) / N * P[m] * 4 / (bw[l] * 1e9);
                printf " %7.0f%%", 100 * 0.378 / (0.378 + t);
                key = sprintf("PAPER_%s_%s_%dGPU_EFFICIENCY", m == 1 ? "FINEWEB" : "TINYSTORIES", name[l], N);
                gsub("-", "_", key); lines = lines sprintf("%s=%.3f\n", key, 0.378 / (0.378 + t));
            }
            printf "\n";
        }
    }
    printf "%s", lines;
}'
