#!/usr/bin/env bash
# tests/test_cli_faults.sh - faults during long runs: mm train --save-every 1 (a tiny mixer)
# killed with SIGKILL at seeded random moments, many of them inside a checkpoint (the
# test-only pause MM_TEST_SAVE_PAUSE_MS), must always leave a pair that resumes to the
# uninterrupted run's weights, byte for byte; a NaN in the loss or a gradient (the test-only
# MM_TEST_NONFINITE, or a diverging learning rate) stops the run naming the step and the
# tensor, or is skipped with --skip-nonfinite; a full disk and a read-only folder give an
# error and leave the previous checkpoint intact.
# Usage: test_cli_faults.sh PATH_TO_MM   (FAULT_SEED=S replays a kill schedule; KILLS=N kills;
#   NO_UNSHARE=1 makes the folder read-only with setpriv instead of a bind mount)
set -u
mm=${1:-./mm}
name=cli_faults; . tests/cli_lib.sh
tmp=$(mktemp -d); trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
seed=${FAULT_SEED:-$(( $(date +%s) % 100000 ))}
kills_wanted=${KILLS:-60}
tr=(train --arch mixer --vocab 50 --dim 16 --depth 1 --ctx 8 --tokens tests/reference/fixtures/model_tokens.txt
    --steps 30 --batch 2 --save-every 1 --eval-every 10)
"$mm" "${tr[@]}" --save "$tmp/ref.safetensors" >/dev/null 2>&1
check "the uninterrupted reference run" test -s "$tmp/ref.safetensors"

# ---- SIGKILL at random moments ----
RANDOM=$seed
kills=0 in_save=0 recovered=0 before_first=0 runs=0 bad=0
start_killed() { # start_killed DELAY_MS PAUSE_MS COMMAND...: run it, SIGKILL it after DELAY_MS
    local delay=$1 pause=$2; shift 2
    MM_TEST_SAVE_PAUSE_MS=$pause "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "$(printf '0.%03d' "$delay")"
    kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
}
while test "$kills" -lt "$kills_wanted" -a "$runs" -lt $((2 * kills_wanted)); do
    runs=$((runs + 1))
    d="$tmp/k$runs"; mkdir -p "$d"
    pause=$((RANDOM % 3 * 3))                      # 0, 3 or 6 ms at each step of a checkpoint
    start_killed $((RANDOM % 400)) "$pause" "$mm" "${tr[@]}" --save "$d/m.safetensors"
    if test -e "$d/m.state.safetensors" && test "$((RANDOM % 2))" = 0; then   # a resumed run killed too
        start_killed $((RANDOM % 300)) "$pause" "$mm" train --resume "$d/m.state.safetensors" --save "$d/m.safetensors"
    fi
    ls "$d" | grep -q -e '\.tmp$' -e '\.next\.' && in_save=$((in_save + 1))
    if test -e "$d/m.state.safetensors"; then
        out=$("$mm" train --resume "$d/m.state.safetensors" --save "$d/m.safetensors" 2>&1); rc=$?
        grep -q "finished the checkpoint a stopped run left" <<<"$out" && recovered=$((recovered + 1))
    else   # killed before its first checkpoint: nothing to resume, start again
        before_first=$((before_first + 1))
        out=$("$mm" "${tr[@]}" --save "$d/m.safetensors" 2>&1); rc=$?
    fi
    if test "$rc" != 0 || ! cmp -s "$d/m.safetensors" "$tmp/ref.safetensors"; then
        bad=$((bad + 1)); echo "kill schedule seed $seed, run $runs: rc $rc: $(tail -1 <<<"$out")"
    else
        rm -rf "$d"
    fi
done
echo "[$name] $kills kills in $runs runs (seed $seed): $in_save left a checkpoint half-made, $recovered resumes" \
     "finished one, $before_first came before the first checkpoint"
check "at least $kills_wanted SIGKILLs (seed $seed)" test "$kills" -ge "$kills_wanted"
check "every killed run resumed to the reference weights, byte for byte (seed $seed; $bad failed)" test "$bad" = 0
check "some kills landed inside a checkpoint (seed $seed: $in_save)" test "$in_save" -ge $((kills_wanted / 10))

# ---- non-finite values ----
ref_step() { /usr/bin/python3 -c "
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
meta = json.loads(b[8:8 + struct.unpack_from('<Q', b)[0]])['__metadata__']
print(meta.get(sys.argv[2], ''))" "$@"; }
out=$(MM_TEST_NONFINITE=5:mixerblocks.0.patch_ff.0.weight "$mm" "${tr[@]}" --save "$tmp/n.safetensors" 2>&1 >/dev/null)
rc=$?
check "a NaN gradient stops the run naming the step and the tensor: $out" \
    fails_with "$rc" "$out" "step 5: the gradient of mixerblocks.0.patch_ff.0.weight is nan"
check "and leaves the last good checkpoint, step 4" test "$(ref_step "$tmp/n.state.safetensors" train_data_position)" = 8
"$mm" train --resume "$tmp/n.state.safetensors" --save "$tmp/n.safetensors" >/dev/null 2>&1
check "which resumes to the reference weights" cmp -s "$tmp/n.safetensors" "$tmp/ref.safetensors"
out=$(MM_TEST_NONFINITE=3:loss "$mm" "${tr[@]}" --save "$tmp/l.safetensors" 2>&1 >/dev/null); rc=$?
check "a NaN loss stops the run naming the step: $out" fails_with "$rc" "$out" "step 3: the loss is .*nan"
out=$("$mm" "${tr[@]}" --lr 1e30 --warmup 0 --save "$tmp/div.safetensors" 2>&1 >/dev/null); rc=$?
check "a diverging learning rate stops the run at the first non-finite step: $out" \
    fails_with "$rc" "$out" "step [0-9]*: the \(loss\|gradient\)"
out=$(MM_TEST_NONFINITE=5:wte.weight "$mm" "${tr[@]}" --skip-nonfinite --save "$tmp/s.safetensors" 2>"$tmp/err"); rc=$?
check "--skip-nonfinite: the run goes on and says so at the end: $out" \
    bash -c "test $rc = 0 && grep -q 'skipped 1 step(s) with a non-finite' <<<\"\$1\" && grep -q 'step 5: the gradient of wte.weight is nan at \[0\]: skipped' \"\$2\"" \
    _ "$out" "$tmp/err"
check "--skip-nonfinite: the state counts the skipped step" \
    test "$(ref_step "$tmp/s.state.safetensors" train_skipped_nonfinite)" = 1
check "--skip-nonfinite: 30 optimizer steps all the same" has "$out" "step 30/30"

# ---- a full disk, a read-only folder: an error, and the previous checkpoint intact ----
"$mm" "${tr[@]}" --stop-at 4 --save "$tmp/f.safetensors" >/dev/null 2>&1
cp "$tmp/f.safetensors" "$tmp/f.copy"; cp "$tmp/f.state.safetensors" "$tmp/f.state.copy"
out=$(bash -c 'trap "" XFSZ; ulimit -f 8; exec "$@"' _ "$mm" train --resume "$tmp/f.state.safetensors" \
    --save "$tmp/f.safetensors" 2>&1 >/dev/null); rc=$?
check "a full disk (EFBIG) is a clear error: $out" fails_with "$rc" "$out" "^mm train: .*File too large"
check "a full disk leaves the previous checkpoint intact" \
    bash -c "cmp -s \"\$1/f.safetensors\" \"\$1/f.copy\" && cmp -s \"\$1/f.state.safetensors\" \"\$1/f.state.copy\" && test ! -e \"\$1/f.next.safetensors\"" \
    _ "$tmp"
ro="$tmp/ro"; mkdir -p "$ro"; cp "$tmp/f.copy" "$ro/f.safetensors"; cp "$tmp/f.state.copy" "$ro/f.state.safetensors"
resume_ro=("$mm" train --resume "$ro/f.state.safetensors" --save "$ro/f.safetensors")
how=""
if test "$(id -u)" != 0; then
    chmod a-w "$ro"; how=chmod
    out=$("${resume_ro[@]}" 2>&1 >/dev/null); rc=$?
    chmod u+w "$ro"
elif test -z "${NO_UNSHARE:-}" && unshare -rm true 2>/dev/null; then
    how="a read-only bind mount"
    out=$(unshare -rm bash -c 'mount --bind -o ro "$1" "$1" && shift && exec "$@"' _ "$ro" "${resume_ro[@]}" 2>&1 >/dev/null)
    rc=$?
elif chmod -R a+rX "$tmp" && setpriv --reuid=65534 --regid=65534 --clear-groups "$mm" --version >/dev/null 2>&1; then
    how=setpriv; chmod a-w "$ro"
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "${resume_ro[@]}" 2>&1 >/dev/null); rc=$?
    chmod u+w "$ro"
fi
if test -n "$how"; then
    check "a read-only output folder ($how) is a clear error: $out" \
        fails_with "$rc" "$out" "^mm train: .*\(Read-only file system\|Permission denied\)"
    check "a read-only folder leaves the previous checkpoint intact" \
        bash -c "cmp -s \"\$1/f.safetensors\" \"\$2/f.copy\" && cmp -s \"\$1/f.state.safetensors\" \"\$2/f.state.copy\"" _ "$ro" "$tmp"
else
    skip "a read-only folder: neither unshare nor setpriv works here"
    skip "a read-only folder leaves the previous checkpoint intact"
fi
finish
