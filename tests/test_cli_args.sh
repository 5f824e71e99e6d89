#!/usr/bin/env bash
# tests/test_cli_args.sh - the command line, driven by its own tables (mm --list-options):
# for every option of every command, a malformed or out-of-range value, an unknown choice
# and a missing value each get one line on standard error naming the option, nothing on
# standard output, and exit status 2; both ends of every range are taken; every option is in
# its command's --help; unknown flags are refused. Then a table of conflicting options.
# Usage: test_cli_args.sh PATH_TO_MM
set -u
case ${1:-./mm} in /*) mm=${1:-./mm} ;; *) mm=$PWD/${1:-./mm} ;; esac
name=test_cli_args; . tests/cli_lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
repo=$PWD

# Runs mm in an empty folder (so that a value taken by mistake cannot write into the tree)
# with no input; sets rc, out and err.
run_mm() {
    out=$(cd "$tmp/cwd" && timeout 30 "$mm" "$@" </dev/null 2>"$tmp/err"); rc=$?
    err=$(cat "$tmp/err")
}
mkdir -p "$tmp/cwd"
# refused PATTERN ARGS...: status 2, stdout empty, one line on stderr that holds PATTERN
refused() {
    local pattern=$1; shift
    run_mm "$@"
    test "$rc" = 2 && test -z "$out" && test "$(wc -l <<<"$err")" = 1 && grep -qF -- "$pattern" <<<"$err"
}
# taken ARGS...: the parser takes the value (the command may still stop for another reason,
# such as a missing required option, but not with a complaint about this value)
taken() {
    run_mm "$@"
    test "$rc" -lt 124 && ! grep -q "wants an integer\|wants a number\|needs a value\|unknown argument\|, not '" <<<"$err"
}
num() { awk -v x="$1" "BEGIN { printf \"%.17g\", $2 }"; }   # num X EXPR: EXPR of x, printed exactly

table=$("$mm" --list-options); rc=$?
check "--list-options exits 0" test "$rc" = 0
check "--list-options starts with its header line" test "$(head -n 1 <<<"$table")" = \
    "$(printf 'command\toption\tkind\tlo\thi\tvalue\tdefault')"
rows=$(tail -n +2 <<<"$table")
check "--list-options lists over 150 options" test "$(wc -l <<<"$rows")" -gt 150
commands=$(cut -f1 <<<"$rows" | sort -u)
for c in tokenizer\ train forward train generate embed index search retrieval-train retrieval-eval invert; do
    check "--list-options lists mm $c" grep -qx -- "$c" <<<"$commands"
done

n_options=0
while IFS=$'\t' read -r cmd opt kind lo hi value def; do
    read -ra words <<<"$cmd"
    n_options=$((n_options + 1))
    help=$("$mm" "${words[@]}" --help 2>&1)
    check "mm $cmd --help lists $opt" grep -qF -- "  $opt" <<<"$help"
    if [ "$kind" != flag ]; then
        check "mm $cmd $opt without its value: status 2, one line" refused "$opt needs a value" "${words[@]}" "$opt"
    fi
    case $kind in
    flag)
        check "mm $cmd $opt=1 is refused" refused "unknown argument '$opt=1'" "${words[@]}" "$opt=1" ;;
    int)
        for bad in x 1.5 "" " 5" +5 0x10 1e3 99999999999999999999 "$((lo - 1))"; do
            check "mm $cmd $opt '$bad' is refused" refused "$opt wants an integer" "${words[@]}" "$opt" "$bad"
        done
        check "mm $cmd $opt $lo (its lowest) is taken" taken "${words[@]}" "$opt" "$lo"
        if [ "$hi" != - ]; then
            check "mm $cmd $opt $((hi + 1)) (over its highest) is refused" \
                refused "$opt wants an integer from $lo to $hi" "${words[@]}" "$opt" "$((hi + 1))"
            check "mm $cmd $opt $hi (its highest) is taken" taken "${words[@]}" "$opt" "$hi"
        fi ;;
    num)
        below=$(num "$lo" 'x > 0 ? x / 2 : x - 1e-9')
        for bad in x "" " 1" nan inf -inf 1e999 1,5 "$below"; do
            check "mm $cmd $opt '$bad' is refused" refused "$opt wants a number" "${words[@]}" "$opt" "$bad"
        done
        check "mm $cmd $opt $lo (its lowest) is taken" taken "${words[@]}" "$opt" "$lo"
        if [ "$hi" != - ]; then
            check "mm $cmd $opt over its highest is refused" \
                refused "$opt wants a number from" "${words[@]}" "$opt" "$(num "$hi" 'x * 2 + 1')"
            check "mm $cmd $opt $hi (its highest) is taken" taken "${words[@]}" "$opt" "$hi"
        fi ;;
    choice)
        check "mm $cmd $opt no-such-choice is refused" refused "$opt is " "${words[@]}" "$opt" no-such-choice
        IFS='|' read -ra choices <<<"$value"
        for w in "${choices[@]}"; do
            check "mm $cmd $opt $w is taken" taken "${words[@]}" "$opt" "$w"
        done ;;
    text) ;;
    *) check "mm $cmd $opt has a known kind ($kind)" false ;;
    esac
done <<<"$rows"
echo "$n_options options of $(wc -l <<<"$commands") commands"

while read -r cmd; do
    read -ra words <<<"$cmd"
    check "mm $cmd --no-such-option is refused" refused "unknown argument '--no-such-option'" "${words[@]}" --no-such-option
done <<<"$commands"

# Options that contradict each other: each line is the message's key words, a tab, then the
# arguments (in an empty folder: no file named here exists, and none need be read to see it).
while IFS=$'\t' read -r pattern argline; do
    [ -z "$pattern" ] && continue
    read -ra argv <<<"$argline"
    check "conflict refused: mm $argline" refused "$pattern" "${argv[@]}"
done <<'EOF'
one of --data, --tokens	train --arch mixer --tokens a.txt --data b.txt --save x.safetensors --steps 1 --batch 1
one of --preset/--arch, --init, --resume	train --init a.safetensors --resume a.state.safetensors --save x.safetensors
one of --preset/--arch, --init, --resume	train --resume a.state.safetensors --arch mixer
--tokenizer goes with --data	train --arch mixer --tokens a.txt --tokenizer t.tok --save x.safetensors --steps 1 --batch 1
--cache goes with --data	train --arch mixer --tokens a.txt --cache c --save x.safetensors --steps 1 --batch 1
--pad-left goes with --data	train --arch mixer --tokens a.txt --pad-left --save x.safetensors --steps 1 --batch 1
--val-fraction goes with --data	train --arch mixer --tokens a.txt --val-fraction 0.1 --save x.safetensors --steps 1 --batch 1
--pad-left pads one document per row	train --arch mixer --data a.txt --pad-left --rows packed --save x.safetensors --steps 1 --batch 1
--val-tokens goes with --tokens	train --arch mixer --data a.txt --val-tokens v.txt --save x.safetensors --steps 1 --batch 1
--val-fraction must be below 1	train --arch mixer --data a.txt --val-fraction 1 --save x.safetensors --steps 1 --batch 1
--steps and --batch are required	train --arch mixer --tokens a.txt --save x.safetensors
--top-k draws a sample	generate --model m.safetensors --prompt hi --top-k 5
--top-k draws a sample	generate --model m.safetensors --prompt hi --top-k 5 --temperature 0
give --text or --tokens, one of them	invert --model m.safetensors --text hi --tokens t.txt
untrained model's size	invert --model m.safetensors --tokens t.txt --dim 8
either a query or --queries	search --index i.idx query --queries q.txt
give --init W (or --resume STATE)	retrieval-train --init a.safetensors --resume a.state.safetensors --pairs p.jsonl --save x.safetensors
unknown argument 'stray'	forward --model m.safetensors --tokens t.txt stray
EOF

# The library refuses a model whose parameter count would overflow, before counting it.
run_mm train --arch mixer --vocab 37 --dim 2147483647 --depth 2147483647 --ctx 8 \
    --tokens "$repo/tests/reference/fixtures/model_tokens.txt" --steps 1 --batch 1 --save x.safetensors
check "a model over 2^53 weights is refused with status 1 and a message" \
    bash -c 'test "$1" = 1 && grep -q "parameter count would overflow" <<<"$2"' _ "$rc" "$err"
check "and nothing was written" test ! -e "$tmp/cwd/x.safetensors"
finish
