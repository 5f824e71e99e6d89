#!/usr/bin/env bash
# tests/test_hello.sh - runs examples/hello.c (built by make) and checks what it promises: the
# loss falls and both prompts are continued to the sentences it was trained on.
# Usage: test_hello.sh PATH_TO_HELLO
set -u
hello=${1:-build/hello}
name=test_hello; . tests/cli_lib.sh
out=$("$hello" 2>&1); rc=$?
echo "$out"
check "hello exits 0" test "$rc" = 0
check "the loss falls below 0.2" awk -v l="$(sed -n 's/^loss .* -> \([0-9.]*\) after.*/\1/p' <<<"$out")" 'BEGIN { exit !(l != "" && l < 0.2) }'
check "'the d' continues to the trained sentence" test "$(sed -n 2p <<<"$out")" = "the dog sat on the log."
check "'a b' continues to the trained sentence" test "$(sed -n 3p <<<"$out")" = "a bird sang in the tree."
finish
