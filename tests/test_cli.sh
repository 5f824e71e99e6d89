#!/usr/bin/env bash
# tests/test_cli.sh - the command-line tool's basic contract. Usage: test_cli.sh PATH_TO_MM
set -u
mm=${1:-./mm}
passed=0; failed=0
check() { # check DESCRIPTION CONDITION-COMMAND...
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL cli: $what"; fi
}
out=$("$mm" --version); rc=$?
check "--version exits 0" test "$rc" = 0
check "--version prints the header's version" grep -q "maskedmixer $(sed -n 's/^#define MMIX_VERSION_STRING "\(.*\)"/\1/p' maskedmixer.h)" <<<"$out"
out=$("$mm" --help); rc=$?
check "--help exits 0 and shows usage" bash -c "test $rc = 0 && grep -q 'usage: mm' <<<'$out'"
err=$("$mm" no-such-command 2>&1 >/dev/null); rc=$?
check "an unknown command exits non-zero" test "$rc" != 0
check "an unknown command is named in the error" grep -q "no-such-command" <<<"$err"
"$mm" >/dev/null 2>&1; rc=$?
check "no command at all exits non-zero" test "$rc" != 0
echo "[test_cli] checks: $passed passed, $failed failed"
[ "$failed" = 0 ]
