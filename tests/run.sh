#!/usr/bin/env bash
# tests/run.sh - runs test programs, adds up their "[name] checks: P passed, F failed"
# lines and ends with the suite's one closing line, "N passed, N failed". A program that
# crashes, exits non-zero or prints no summary counts as one failed check.
# Usage: tests/run.sh COMMAND [COMMAND ...]   (each COMMAND is one quoted shell command)
set -u
total_passed=0; total_failed=0
for cmd in "$@"; do
    echo "== $cmd"
    log=$(mktemp)
    bash -c "$cmd" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^\[[^]]+\] checks: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "FAIL: '$cmd' printed no summary (exit status $rc)"
        total_failed=$((total_failed + 1))
        continue
    fi
    p=$(sed -E 's/.*checks: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*passed, ([0-9]+) failed/\1/' <<<"$line")
    total_passed=$((total_passed + p)); total_failed=$((total_failed + f))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "FAIL: '$cmd' exited with status $rc"
        total_failed=$((total_failed + 1))
    fi
done
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
