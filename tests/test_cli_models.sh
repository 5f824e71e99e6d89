#!/usr/bin/env bash
# tests/test_cli_models.sh - mm forward / info / train on the reference-written weights
# files of tests/reference/fixtures (made by PyTorch): the reference loss is reproduced,
# errors are one line with a non-zero status, and a resumed run is bit-identical.
# Usage: test_cli_models.sh PATH_TO_MM
set -u
mm=${1:-./mm}
name=test_cli_models; . tests/cli_lib.sh
fx=tests/reference/fixtures
close_to() { # close_to "loss X" EXPECTED: |X - EXPECTED| <= 1e-5 |EXPECTED|
    awk -v got="$1" -v want="$2" 'BEGIN { split(got, a, " "); d = a[2] - want; if (d < 0) d = -d;
        exit !(a[1] == "loss" && d <= 1e-5 * (want < 0 ? -want : want)) }'
}
shows_usage() { test "$1" = 0 && grep -q 'usage: mm' <<<"$2"; }
expect() { sed -n "s/^$1 //p" "$fx/model_losses.txt"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# forward on the reference's own files
out=$("$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$fx/model_tokens.txt" --pad-id 1 2>&1); rc=$?
check "forward on the reference mixer file exits 0" test "$rc" = 0
check "forward prints the reference loss ($(expect mixer_k1)): got '$out'" close_to "$out" "$(expect mixer_k1)"
check "the loss is printed with 9 significant digits" grep -Eq '^loss [0-9]\.[0-9]{8}' <<<"$out"
# the zoo: each reference-named file of zoo.bin's models gives the script's loss, loaded with
# what its names cannot tell (the parallel models' files are the autoencoders' names, the
# softmax mixer's the flat mixer's)
zoo_flags() {
    case $1 in
    gpt1_h4 | llama_ae_h4 | llama_bidi_h4 | llama_mtp_h4) echo "--heads 4" ;; # no metadata in these files
    mixer_par) echo "--arch mixer-parallel" ;;
    mixer_soft) echo "--arch mixer-softmax" ;;
    llama_par_h4) echo "--arch llama-parallel --heads 4" ;;
    esac
}
for arch in mixer_e2 mixer_h2 mixer_soft gpt1_h4 transfixer_h4 mixer_ae llama_ae_h4 mixer_par llama_par_h4 mixer_bidi llama_bidi_h4 \
    mixer_mtp llama_mtp_h4; do
    want=$(sed -n "s/^$arch //p" "$fx/zoo_losses.txt")
    out=$("$mm" forward --model "$fx/$arch.safetensors" --tokens "$fx/model_tokens.txt" --pad-id 1 $(zoo_flags $arch) \
          2>"$tmp/warnings")
    check "forward on the reference $arch file gives the script's loss ($want): got '$out' $(head -c 300 "$tmp/warnings")" \
        close_to "$out" "$want"
    cp "$tmp/warnings" "$tmp/$arch.err"
    if [[ $arch == llama_bidi_h4 ]]; then
        check "the bidirectional transformer's unused inner tensors are skipped with a warning" \
            grep -q "skipping 'reverse_model.model.lm_head.weight'" "$tmp/warnings"
    fi
done
check "the transformer autoencoder's unused inner tensors are skipped with a warning" \
    has "$(cat "$tmp/llama_ae_h4.err")" "skipping 'decoder.model.lm_head.weight'"
out=$("$mm" info "$fx/mixer_par.safetensors" 2>&1); rc=$?
check "info: the encoder-decoder mixer's file is an autoencoder's by default, a parallel model's by --arch" \
    ok_with "$rc" "$out" '^ambiguous: .*mixer-ae, mixer-parallel'
out=$("$mm" info "$fx/mixer_soft.safetensors" 2>&1); rc=$?
check "the softmax mixer's file has the flat mixer's names: it loads as mixer by default" ok_with "$rc" "$out" '^arch: mixer$'
check "... and info says so: 'ambiguous:' naming both" ok_with "$rc" "$out" '^ambiguous: the names fit mixer, mixer-softmax'
out=$("$mm" forward --model "$fx/mixer_soft.safetensors" --tokens "$fx/model_tokens.txt" --pad-id 1 2>&1); rc=$?
far_from() { test "$1" = 0 && grep -q '^loss ' <<<"$2" && ! close_to "$2" "$3"; } # far_from STATUS OUTPUT EXPECTED
check "... so without --arch forward runs the flat mixer (no softmax), not the script's loss: got '$out'" \
    far_from "$rc" "$out" "$(sed -n 's/^mixer_soft //p' "$fx/zoo_losses.txt")"
out=$("$mm" info "$fx/mixer_h2.safetensors" 2>&1); rc=$?
check "the multi-headed mixer's file tells its head count" ok_with "$rc" "$out" '^heads: 2$'
out=$("$mm" forward --model "$fx/mixer_k1_bf16.safetensors" --tokens "$fx/model_tokens.txt" 2>&1); rc=$?
check "a BF16 file with pad_token_id metadata gives torch's BF16 loss: got '$out'" close_to "$out" "$(expect mixer_k1_bf16)"
err=$("$mm" forward --model "$fx/llama_h4.safetensors" --tokens "$fx/model_tokens.txt" --pad-id 1 2>&1); rc=$?
check "a transformer without a head count asks for --heads" fails_with "$rc" "$err" "--heads"
out=$("$mm" forward --model "$fx/llama_h4.safetensors" --tokens "$fx/model_tokens.txt" --pad-id 1 --heads 4 \
      --logits "$tmp/logits.f32" 2>&1); rc=$?
check "forward on the reference transformer gives its loss ($(expect llama_h4)): got '$out'" close_to "$out" "$(expect llama_h4)"
check "--logits writes lines x positions x vocab float32 (3 x 8 x 37 x 4 bytes)" test "$(wc -c <"$tmp/logits.f32")" = 3552
# what the weights cannot tell, from a Hugging Face config.json in their folder
mkdir "$tmp/hf" && cp "$fx/llama_h4.safetensors" "$tmp/hf/model.safetensors"
printf '{"architectures": ["LlamaForCausalLM"], "num_attention_heads": 4, "rms_norm_eps": 1e-06,\n "pad_token_id": 1, "bos_token_id": null, "rope_scaling": {"type": null}}\n' >"$tmp/hf/config.json"
out=$("$mm" forward --model "$tmp/hf/model.safetensors" --tokens "$fx/model_tokens.txt" 2>&1); rc=$?
check "a config.json beside the weights gives the heads and the pad id: got '$out'" close_to "$out" "$(expect llama_h4)"
printf '{"num_attention_heads": 4,' >"$tmp/hf/config.json"
err=$("$mm" forward --model "$tmp/hf/model.safetensors" --tokens "$fx/model_tokens.txt" --heads 4 2>&1); rc=$?
check "a malformed config.json is an error naming it" fails_with "$rc" "$err" "config.json"
out=$("$mm" info "$fx/mixer_k1.safetensors" 2>&1); rc=$?
check "info names the architecture and sizes" bash -c "test $rc = 0 && grep -q 'architecture: masked mixer' <<<'$out' && grep -qx 'arch: mixer' <<<'$out' \
    && grep -q '^n_ctx: 8' <<<'$out' && grep -q '^depth: 2' <<<'$out' && grep -q '^parameters: ' <<<'$out'"

# --list-archs: every architecture --arch takes, each with its paper section and defaults
archs=$("$mm" train --help 2>&1 | sed -n 's/^  --arch \([a-z0-9|-]*\)\( .*\)*$/\1/p' | tr '|' ' ')
out=$("$mm" train --list-archs 2>&1); rc=$?
listed=0
for arch in $archs; do
    grep -A3 -x "$arch" <<<"$out" | grep -Eq 'paper Sec|reference-notes Sec' && grep -A3 -x "$arch" <<<"$out" | grep -q '^  defaults: V ' \
        && listed=$((listed + 1))
done
check "train --list-archs shows all $(wc -w <<<"$archs") architectures with paper section and defaults ($listed)" \
    bash -c "test $rc = 0 && test $listed -ge 3 && test $listed = $(wc -w <<<"$archs")"
# every architecture trains from mm train, and its file loads back in mm forward as itself
trained=0
for arch in $archs; do
    "$mm" train --arch "$arch" --vocab 37 --dim 16 --depth 1 --ctx 8 --heads 2 --tokens "$fx/model_tokens.txt" \
        --steps 2 --batch 3 --pad-id 1 --save "$tmp/every-$arch.safetensors" >/dev/null 2>&1 &&
        "$mm" forward --model "$tmp/every-$arch.safetensors" --tokens "$fx/model_tokens.txt" | grep -q '^loss [0-9]' &&
        "$mm" info "$tmp/every-$arch.safetensors" | grep -qx "arch: $arch" && trained=$((trained + 1))
done
check "mm train --arch trains every architecture, whose file forward and info load as itself ($trained)" \
    test "$trained" = "$(wc -w <<<"$archs")"
for c in "forward" "train" "info" "tokenizer train" "tokenizer encode" "tokenizer decode" "tokenizer import-hf"; do
    out=$("$mm" $c --help 2>&1); rc=$?
    check "mm $c --help exits 0 with a usage line" shows_usage "$rc" "$out"
done

# errors: one line each, non-zero status
err=$("$mm" forward --model "$tmp/none.safetensors" --tokens "$fx/model_tokens.txt" 2>&1); rc=$?
check "a missing weights file" fails_with "$rc" "$err" "none.safetensors"
printf '1 2 3 4 5 6 7 8\n1 2 3 99 5 6 7 8\n' >"$tmp/big.txt"
err=$("$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$tmp/big.txt" 2>&1); rc=$?
check "a token id >= vocab names the line" fails_with "$rc" "$err" "big.txt:2: token 99"
printf '1 2 3 4 5 6 7 8\n1 2 3 4 5 6 7\n' >"$tmp/short.txt"
err=$("$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$tmp/short.txt" 2>&1); rc=$?
check "a line of the wrong length names the line" fails_with "$rc" "$err" "short.txt:2: 7 tokens, expected 8"
err=$("$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$fx/model_tokens.txt" --pad-id x 2>&1); rc=$?
check "a bad flag value" fails_with "$rc" "$err" "--pad-id"
err=$("$mm" forward --model "$fx/model_tokens.txt" --tokens "$fx/model_tokens.txt" 2>&1); rc=$?
check "a file that is not safetensors" fails_with "$rc" "$err" "model_tokens.txt"
err=$("$mm" train --arch mixer --vocab 37 --dim 8 --depth 1 --ctx 8 --tokens "$fx/model_tokens.txt" --steps 2 \
      --batch 2 --save "$tmp/x.safetensors" --bogus 1 2>&1); rc=$?
check "an unknown flag" fails_with "$rc" "$err" "--bogus"

# training, and a bit-identical resume
train() { "$mm" train --arch mixer --vocab 37 --dim 16 --depth 2 --ctx 8 --kernel 2 --tokens "$fx/model_tokens.txt" \
          --steps 6 --batch 2 --lr 1e-2 --warmup 1 --weight-decay 0.01 --pad-id 1 --seed 3 "$@"; }
out=$(train --save "$tmp/a.safetensors" 2>&1); rc=$?
check "train from scratch exits 0" test "$rc" = 0
check "train prints one line per step and saves weights and state" bash -c "test \$(grep -c '^step ' <<<'$out') = 6 \
    && test -s '$tmp/a.safetensors' && test -s '$tmp/a.state.safetensors'"
first=$(grep '^step 1/' <<<"$out" | awk '{print $4}'); last=$(grep '^step 6/' <<<"$out" | awk '{print $4}')
check "the training loss falls ($first -> $last)" awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }'
out=$(train --stop-at 3 --save "$tmp/b.safetensors" 2>&1); rc=$?
check "a run stopped at step 3 saves" bash -c "test $rc = 0 && test \$(grep -c '^step ' <<<'$out') = 3"
out=$("$mm" train --resume "$tmp/b.state.safetensors" --tokens "$fx/model_tokens.txt" --save "$tmp/c.safetensors" 2>&1); rc=$?
check "resume runs steps 4..6" bash -c "test $rc = 0 && grep -q '^step 4/6' <<<'$out' && test \$(grep -c '^step ' <<<'$out') = 3"
check "3 + 3 resumed steps give the same weights as 6 straight, byte for byte" cmp -s "$tmp/a.safetensors" "$tmp/c.safetensors"
out=$("$mm" forward --model "$tmp/c.safetensors" --tokens "$fx/model_tokens.txt" 2>&1); rc=$?
check "our saved weights load in forward (pad id from metadata)" ok_with "$rc" "$out" '^loss '
out=$("$mm" train --init "$fx/llama_h4.safetensors" --heads 4 --tokens "$fx/model_tokens.txt" --steps 2 --batch 3 \
      --no-shuffle --pad-id 1 --save "$tmp/l.safetensors" 2>&1); rc=$?
check "train --init from the reference transformer" ok_with "$rc" "$out" 'Llama-style transformer'
out=$("$mm" info "$tmp/l.safetensors" 2>&1); rc=$?
check "our transformer file carries its head count" ok_with "$rc" "$out" '^heads: 4'
check "a transformer's n_ctx comes from the token lines when its file has none" ok_with "$rc" "$out" '^n_ctx: 8'
for arch in mixer-heads mixer-softmax; do # the zoo rows train from scratch and load back as themselves
    out=$("$mm" train --arch $arch --heads 2 --vocab 37 --dim 16 --depth 2 --ctx 8 --tokens "$fx/model_tokens.txt" \
          --steps 3 --batch 2 --lr 1e-2 --pad-id 1 --save "$tmp/$arch.safetensors" 2>&1); rc=$?
    check "train --arch $arch exits 0" ok_with "$rc" "$out" '^step 3/3'
    out=$("$mm" info "$tmp/$arch.safetensors" 2>&1); rc=$?
    check "... and its file loads as $arch" ok_with "$rc" "$out" "^arch: $arch\$"
done
check "train --arch mixer-heads --heads 2 makes 2 heads" ok_with 0 "$("$mm" info "$tmp/mixer-heads.safetensors")" '^heads: 2$'
out=$("$mm" train --init "$fx/mixer_soft.safetensors" --arch mixer-softmax --tokens "$fx/model_tokens.txt" --steps 2 \
      --batch 3 --no-shuffle --pad-id 1 --save "$tmp/soft.safetensors" 2>&1); rc=$?
first=$(grep '^step 1/' <<<"$out" | awk '{print "loss " $4}')
check "train --init with --arch picks what an ambiguous file trains as: its first loss is the script's ($first)" \
    close_to "$first" "$(sed -n 's/^mixer_soft //p' "$fx/zoo_losses.txt")"
check "... and the weights it saves are a mixer-softmax's" ok_with 0 "$("$mm" info "$tmp/soft.safetensors")" '^arch: mixer-softmax$'
# --grad-accum: N micro-batches of B rows per step are one batch of N x B rows. The rows hold 5,
# 7 and 6 counted targets (pads at either end), so only a token-weighted sum over the micro-batches
# matches (a mean of the micro-batch means does not). Float rounding aside: within 1e-5 relative
# (of |x|, or 1 below it).
worst() { # worst FILE_A FILE_B: the largest relative difference of two files' numbers, one a line
    paste "$1" "$2" | awk '{ d = $1 - $2; d = d < 0 ? -d : d; m = $1 < 0 ? -$1 : $1; m = m < 1 ? 1 : m;
        if (d / m > w) w = d / m } END { printf "%.2g\n", (NR > 0 ? w + 0 : 1) }'
}
small() { test -n "$1" && awk -v w="$1" 'BEGIN { exit !(w <= 1e-5) }'; }
floats() { od -An -v -f "$1" | tr -s ' ' '\n' | awk 'NF'; }
accum() { "$mm" train --arch "$1" --vocab 37 --dim 16 --depth 2 --ctx 8 --kernel 2 --heads 4 --tokens "$fx/model_tokens.txt" \
          --steps 6 --lr 1e-2 --warmup 1 --pad-id 1 --seed 3 "${@:2}"; }
for arch in mixer llama; do
    accum $arch --batch 2 --save "$tmp/b2-$arch.safetensors" >"$tmp/b2.out" 2>&1
    accum $arch --batch 1 --grad-accum 2 --save "$tmp/a2-$arch.safetensors" >"$tmp/a2.out" 2>&1; rc=$?
    check "$arch: --grad-accum 2 --batch 1 trains" test "$rc" = 0
    grep '^step ' "$tmp/b2.out" | awk '{ print $4 }' >"$tmp/b2.loss"
    grep '^step ' "$tmp/a2.out" | awk '{ print $4 }' >"$tmp/a2.loss"
    w=$(worst "$tmp/b2.loss" "$tmp/a2.loss")
    check "$arch: ... with the step losses of --batch 2 (worst relative difference $w)" small "$w"
    for run in b2 a2; do
        "$mm" forward --model "$tmp/$run-$arch.safetensors" --tokens "$fx/model_tokens.txt" --logits "$tmp/$run.f32" >/dev/null
        floats "$tmp/$run.f32" >"$tmp/$run.logits"
    done
    w=$(worst "$tmp/b2.logits" "$tmp/a2.logits")
    check "$arch: ... and its weights: the same logits (worst relative difference $w)" small "$w"
done
accum mixer --batch 1 --grad-accum 2 --stop-at 3 --save "$tmp/a3.safetensors" >/dev/null 2>&1
out=$("$mm" train --resume "$tmp/a3.state.safetensors" --save "$tmp/a3.safetensors" 2>&1); rc=$?
check "a resumed --grad-accum run keeps its micro-batches" has "$out" "2 micro-batches per step"
check "and ends with the straight run's weights, byte for byte" cmp -s "$tmp/a2-mixer.safetensors" "$tmp/a3.safetensors"
err=$("$mm" train --resume "$tmp/a3.state.safetensors" --grad-accum 4 --save "$tmp/a3.safetensors" 2>&1); rc=$?
check "a resumed run refuses another --grad-accum" fails_with "$rc" "$err" "drop --grad-accum"
# GPT-1 with dropout (masks per step and micro-batch) resumes bit for bit; the transfixer trains
gpt() { "$mm" train --arch gpt1 --vocab 37 --dim 16 --depth 2 --ctx 8 --heads 4 --tokens "$fx/model_tokens.txt" \
        --steps 6 --batch 1 --grad-accum 2 --lr 1e-2 --warmup 1 --pad-id 1 --seed 3 "$@"; }
out=$(gpt --dropout 0.2 --save "$tmp/g.safetensors" 2>&1); rc=$?
check "train --arch gpt1 --dropout 0.2 exits 0 and records it" bash -c "test $rc = 0 && \
    \"$mm\" info '$tmp/g.safetensors' | grep -qx 'dropout: 0.2'"
gpt --dropout 0.2 --stop-at 3 --save "$tmp/g3.safetensors" >/dev/null 2>&1
out=$("$mm" train --resume "$tmp/g3.state.safetensors" --tokens "$fx/model_tokens.txt" --save "$tmp/g6.safetensors" 2>&1); rc=$?
check "a GPT-1 run with dropout resumed at step 3 gives the same weights, byte for byte" \
    bash -c "test $rc = 0 && cmp -s '$tmp/g.safetensors' '$tmp/g6.safetensors'"
gpt --dropout 0 --save "$tmp/g0.safetensors" >/dev/null 2>&1
check "dropout changes the trained weights (0.2 against 0)" bash -c "! cmp -s '$tmp/g.safetensors' '$tmp/g0.safetensors'"
out=$("$mm" train --arch transfixer --vocab 37 --dim 16 --depth 2 --ctx 8 --heads 4 --tokens "$fx/model_tokens.txt" \
      --steps 3 --batch 2 --lr 1e-2 --warmup 1 --pad-id 1 --save "$tmp/tf.safetensors" 2>&1); rc=$?
check "train --arch transfixer exits 0" ok_with "$rc" "$out" '^step 3/3'
out=$("$mm" forward --model "$tmp/tf.safetensors" --tokens "$fx/model_tokens.txt" 2>&1); rc=$?
check "our transfixer file loads in forward (heads from metadata)" ok_with "$rc" "$out" '^loss '

# --gemm: the built-in GEMM gives the reference loss too; a BLAS a build lacks is one line
out=$("$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$fx/model_tokens.txt" --pad-id 1 --gemm builtin 2>&1); rc=$?
check "--gemm builtin gives the reference loss: got '$out'" close_to "$out" "$(expect mixer_k1)"
err=$("$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$fx/model_tokens.txt" --gemm fast 2>&1); rc=$?
check "a bad --gemm" fails_with "$rc" "$err" "--gemm is builtin, blas or auto"
out=$("$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$fx/model_tokens.txt" --pad-id 1 --gemm auto 2>&1); rc=$?
check "--gemm auto gives the reference loss: got '$out'" close_to "$out" "$(expect mixer_k1)"
out=$(MMIX_GEMM=builtin "$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$fx/model_tokens.txt" --pad-id 1 2>&1); rc=$?
check "MMIX_GEMM=builtin gives the reference loss: got '$out'" close_to "$out" "$(expect mixer_k1)"
check "MMIX_GEMM=builtin shows in --version" bash -c "MMIX_GEMM=builtin '$mm' --version | grep -q 'now builtin'"
err=$(MMIX_GEMM=fast "$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$fx/model_tokens.txt" 2>&1); rc=$?
check "a bad MMIX_GEMM" fails_with "$rc" "$err" "MMIX_GEMM=fast: it is builtin, blas or auto"
if "$mm" --version | grep -q 'GEMM: cblas'; then
    out=$("$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$fx/model_tokens.txt" --pad-id 1 --gemm blas 2>&1); rc=$?
    check "--gemm blas gives the reference loss: got '$out'" close_to "$out" "$(expect mixer_k1)"
    # Debian's OpenBLAS 0.3.21 on a CPU newer than it knows runs "Prescott" kernels: said once, with the fix
    out=$(OPENBLAS_CORETYPE=Prescott "$mm" --version 2>&1)
    if echo "$out" | grep -q 'BLAS core: Prescott' && [ -n "$(grep -m1 -o 'avx' /proc/cpuinfo 2>/dev/null)" ]; then
        check "--version names the generic BLAS kernels and the setting that fixes them" \
            ok_with 0 "$out" 'note: the BLAS runs generic kernels on this CPU (OpenBLAS core Prescott): OPENBLAS_CORETYPE='
    fi
else
    err=$("$mm" forward --model "$fx/mixer_k1.safetensors" --tokens "$fx/model_tokens.txt" --gemm blas 2>&1); rc=$?
    check "--gemm blas without a BLAS in the build" fails_with "$rc" "$err" "no BLAS"
fi
finish
