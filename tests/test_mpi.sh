#!/usr/bin/env bash
# tests/test_mpi.sh - data-parallel training on MPI (make test-mpi): mpirun -np 2 gives the
# weights one process gets with the same global batch (within float32 reduction-order
# tolerance), bit-identical across repeated runs, with gradient accumulation, with validation,
# and across a resume with another number of ranks; a batch that does not split is refused;
# a rank that dies or hangs ends the run with an error instead of hanging it.
# Usage: test_mpi.sh PATH_TO_MM_MPI
set -u
mm=${1:-./mm-mpi}
name=test_mpi; . tests/cli_lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# CI runs as root on 2 cores: Open MPI needs these to run there at all (README, "Data parallel")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpi() { local np=$1; shift; timeout 120 mpirun -np "$np" --oversubscribe --mca btl self,vader \
    --mca btl_vader_single_copy_mechanism none "$mm" "$@"; }
close() { # close A B: the weights agree to 1e-5 of their largest magnitude
    local d; d=$(python3 tests/weights_diff.py "$1" "$2") && python3 -c "import sys; sys.exit(not float('$d') <= 1e-5)"
}
fx=tests/reference/fixtures
run="train --arch mixer --vocab 37 --dim 16 --depth 2 --ctx 8 --kernel 3 --tokens $fx/model_tokens.txt --steps 6 --eval-every 3"

out=$("$mm" --version); check "the build says it has MPI" grep -q "MPI: on" <<<"$out"

"$mm" $run --batch 4 --save "$tmp/one.safetensors" >"$tmp/one.log" 2>&1; rc=$?
check "one process trains" test "$rc" = 0
mpi 2 $run --batch 4 --save "$tmp/two.safetensors" >"$tmp/two.log" 2>&1; rc=$?
check "two ranks train (status $rc)" test "$rc" = 0
check "two ranks of batch 2 give the weights of one process of batch 4" close "$tmp/one.safetensors" "$tmp/two.safetensors"
check "the two runs' last training losses agree to 6 digits" test \
    "$(grep -o 'train-loss [0-9.]*' "$tmp/one.log" | tail -n 1)" = "$(grep -o 'train-loss [0-9.]*' "$tmp/two.log" | tail -n 1)"
check "rank 0 alone prints: one 'saved' line" test "$(grep -c '^saved' "$tmp/two.log")" = 1
mpi 2 $run --batch 4 --save "$tmp/two_again.safetensors" >/dev/null 2>&1
check "a repeated two-rank run is bit-identical (cmp)" cmp -s "$tmp/two.safetensors" "$tmp/two_again.safetensors"

"$mm" $run --batch 2 --grad-accum 2 --save "$tmp/acc1.safetensors" >/dev/null 2>&1
mpi 2 $run --batch 2 --grad-accum 2 --save "$tmp/acc2.safetensors" >/dev/null 2>&1; rc=$?
check "two ranks with --grad-accum 2 train" test "$rc" = 0
check "two ranks with --grad-accum 2 match one process with --grad-accum 2" close "$tmp/acc1.safetensors" "$tmp/acc2.safetensors"

# Text data: rank 0 learns the tokenizer and writes the cache, the other reads it; the
# validation loss is averaged over the ranks' shares of the validation rows.
data="train --arch mixer --dim 16 --depth 1 --ctx 16 --data tests/data/sample.txt --vocab 300 --val-fraction 0.2 --steps 4 --batch 4 --eval-every 2"
mkdir -p "$tmp/d1" "$tmp/d2"
"$mm" $data --save "$tmp/d1/m.safetensors" >"$tmp/d1.log" 2>&1
mpi 2 $data --save "$tmp/d2/m.safetensors" >"$tmp/d2.log" 2>&1; rc=$?
check "two ranks train on text (status $rc)" test "$rc" = 0
check "both tokenizers are the same file" cmp -s "$tmp/d1/m.tokenizer.txt" "$tmp/d2/m.tokenizer.txt"
v1=$(grep -o 'val-loss [0-9.]*' "$tmp/d1.log" | tail -n 1 | cut -d' ' -f2)
v2=$(grep -o 'val-loss [0-9.]*' "$tmp/d2.log" | tail -n 1 | cut -d' ' -f2)
check "the validation loss over two ranks is one process's ($v1, $v2)" \
    python3 -c "import sys; sys.exit(not abs(float('${v1:-0}') - float('${v2:-1}')) <= 1e-5)"
check "and the text-trained weights agree" close "$tmp/d1/m.safetensors" "$tmp/d2/m.safetensors"

# InfoNCE on the same loop: each item's negatives are drawn from its global position, so
# two ranks meet the negatives one process meets.
pairs=tests/data/retrieval_sample.jsonl
"$mm" train --arch mixer --data $pairs --format jsonl --jsonl-field target --rows padded --pad-left --vocab 300 \
    --dim 16 --depth 1 --ctx 32 --steps 4 --batch 4 --save "$tmp/p.safetensors" >/dev/null 2>&1
rt="retrieval-train --init $tmp/p.safetensors --pairs $pairs --test-lines 100 --val-lines 40 --candidates 8 --steps 4 --batch 2 --eval-every 2 --eval-rows 8"
"$mm" $rt --save "$tmp/i1.safetensors" >/dev/null 2>&1
mpi 2 $rt --save "$tmp/i2.safetensors" >/dev/null 2>&1; rc=$?
check "InfoNCE on two ranks trains (status $rc)" test "$rc" = 0
check "InfoNCE on two ranks matches one process" close "$tmp/i1.safetensors" "$tmp/i2.safetensors"

# Resume with another number of ranks: 2 ranks to step 3, then 1 to the end, and the reverse.
mpi 2 $run --batch 4 --stop-at 3 --save "$tmp/r21.safetensors" >/dev/null 2>&1
"$mm" train --resume "$tmp/r21.state.safetensors" --save "$tmp/r21.safetensors" >/dev/null 2>&1; rc=$?
check "a two-rank run resumes in one process" test "$rc" = 0
check "and ends where the uninterrupted run ends" close "$tmp/one.safetensors" "$tmp/r21.safetensors"
"$mm" $run --batch 4 --stop-at 3 --save "$tmp/r12.safetensors" >/dev/null 2>&1
mpi 2 train --resume "$tmp/r12.state.safetensors" --save "$tmp/r12.safetensors" >/dev/null 2>&1; rc=$?
check "a one-process run resumes on two ranks" test "$rc" = 0
check "and ends where the uninterrupted run ends" close "$tmp/one.safetensors" "$tmp/r12.safetensors"

err=$(mpi 2 $run --batch 3 --save "$tmp/odd.safetensors" 2>&1 >/dev/null); rc=$?
check "--batch 3 on two ranks is refused (status $rc)" bash -c 'test "$1" != 0 && grep -q "does not split into 2 ranks" <<<"$2"' _ "$rc" "$err"
check "and writes no weights" test ! -e "$tmp/odd.safetensors"

# A rank that dies: mpirun ends the others. A rank that hangs: the others' watchdog ends them.
start=$(date +%s)
MM_TEST_RANK_FAULT=kill:1:2 mpi 2 $run --batch 4 --save "$tmp/dead.safetensors" >"$tmp/dead.log" 2>&1; rc=$?
check "a rank killed at step 2 ends the run with an error (status $rc)" bash -c 'test "$1" != 0 && test "$1" != 124' _ "$rc"
check "and the launcher names the dead rank" grep -qi "rank 1\|signal 9\|killed" "$tmp/dead.log"
start=$(date +%s)
MM_RANK_TIMEOUT=3 MM_TEST_RANK_FAULT=hang:1:2 mpi 2 $run --batch 4 --save "$tmp/hung.safetensors" \
    >"$tmp/hung.log" 2>&1; rc=$?
check "a rank that hangs ends the run within the timeout (status $rc, $(( $(date +%s) - start )) s)" \
    bash -c 'test "$1" != 0 && test "$1" != 124' _ "$rc"
check "with the watchdog's message" grep -q "no word from the other ranks" "$tmp/hung.log"
finish
