# tests/cli_lib.sh - what the shell test scripts share. Source it after setting `name`; end
# the script with `finish`, which prints the "[name] checks: P passed, F failed, S skipped" line that
# tests/run.sh adds up.
passed=0; failed=0; skipped=0
check() { # check DESCRIPTION CONDITION-COMMAND...: one check, named in the output if it fails
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name: $what"; fi
}
fails_with() { # fails_with STATUS MESSAGE PATTERN: a non-zero status, PATTERN in MESSAGE, one line
    test "$1" != 0 && grep -q -- "$3" <<<"$2" && test "$(wc -l <<<"$2")" = 1
}
skip() { skipped=$((skipped + 1)); echo "SKIP $name: $1"; }  # skip WHY: a check this build cannot make
ok_with() { test "$1" = 0 && grep -q -- "$3" <<<"$2"; }   # ok_with STATUS OUTPUT PATTERN
has() { grep -q -- "$2" <<<"$1"; }                        # has OUTPUT PATTERN
finish() {
    echo "[$name] checks: $passed passed, $failed failed, $skipped skipped"
    test "$failed" = 0
}
