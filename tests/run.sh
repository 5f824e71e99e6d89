#!/usr/bin/env bash
# tests/run.sh - runs test programs, adds up their "[name] checks: P passed, F failed, S skipped"
# lines and ends with the suite's one closing line, "N passed, N failed, N skipped". A
# program that crashes, exits non-zero or prints no summary counts as one failed check; a
# skipped check is one the build cannot make (say, threads without OpenMP), never a pass.
# Usage: tests/run.sh COMMAND [COMMAND ...]   (each COMMAND is one quoted shell command)
set -u
total_passed=0; total_failed=0; total_skipped=0
summary='^\[[^]]+\] checks: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$'
for cmd in "$@"; do
    echo "== $cmd"
    log=$(mktemp)
    bash -c "$cmd" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E "$summary" "$log" | tail -n 1)
    rm -f "$log"
    if ! [[ $line =~ $summary ]]; then
        echo "FAIL: '$cmd' printed no summary (exit status $rc)"
        total_failed=$((total_failed + 1))
        continue
    fi
    p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}; s=${BASH_REMATCH[3]}
    total_passed=$((total_passed + p)); total_failed=$((total_failed + f)); total_skipped=$((total_skipped + s))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "FAIL: '$cmd' exited with status $rc"
        total_failed=$((total_failed + 1))
    fi
done
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
[ "$total_failed" = 0 ]
