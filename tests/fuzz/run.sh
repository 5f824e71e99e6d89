#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz/ (built by make as build/fuzz/fuzz_NAME).
#   run.sh ci SECONDS NAME...       replay tests/fuzz/corpus/NAME (every committed input once),
#                                   then fuzz each for SECONDS with -seed=1 from that corpus alone
#   run.sh explore SECONDS NAME...  fuzz each for SECONDS, keeping what it finds in
#                                   build/fuzz/work/NAME across runs (random seed)
# A crash, leak, UB report, timeout or broken check fails the run; libFuzzer leaves the input
# in build/fuzz/artifacts/NAME-*. Prints each harness's executions ("#N DONE" of libFuzzer).
set -uo pipefail
mode=$1 seconds=$2
shift 2
cd "$(dirname "$0")/../.."
mkdir -p build/fuzz/artifacts
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
failed=0 total=0
for name in "$@"; do
    bin=build/fuzz/fuzz_$name corpus=tests/fuzz/corpus/$name work=build/fuzz/work/$name log=build/fuzz/$name.log
    common=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -artifact_prefix=build/fuzz/artifacts/$name-)
    if [ "$mode" = ci ]; then
        # every committed input once: the regression tests
        if ! "$bin" "${common[@]}" "$corpus"/* >"$log" 2>&1; then
            echo "fuzz $name: a committed input fails (replay):"; tail -30 "$log"; failed=1; continue
        fi
        replayed="$(ls "$corpus" | wc -l) committed inputs replayed, "
        rm -rf "$work"
        mkdir -p "$work"
        args=(-seed=1)
    else
        replayed=""
        mkdir -p "$work"
        args=()
    fi
    start=$(date +%s)
    if ! "$bin" "${common[@]}" "${args[@]}" -max_total_time="$seconds" -print_final_stats=1 "$work" "$corpus" >"$log" 2>&1; then
        echo "fuzz $name: FAILED after $(( $(date +%s) - start )) s (input in build/fuzz/artifacts/$name-*):"
        tail -40 "$log"
        failed=1
        continue
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    total=$(( total + ${runs:-0} ))
    echo "fuzz $name: $replayed${runs:-?} executions in $(( $(date +%s) - start )) s, clean"
done
echo "fuzz: $total executions in all"
exit $failed
