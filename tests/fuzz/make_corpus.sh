#!/usr/bin/env bash
# Regenerates the seed corpora of tests/fuzz/corpus/: valid small files made by mm and by the
# python below (tokenizer.json, which no tool of ours writes), then hand-made malformed ones,
# one per class of defect the readers reject. Run from the repository root after `make mm`;
# the output is committed (well under 1 MB), so CI does not run this.
set -euo pipefail
cd "$(dirname "$0")/../.."
c=tests/fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
rm -rf "$c"/{bpe,hf_tokenizer,safetensors,dataset_cache,token_ids,jsonl,embeddings}
mkdir -p "$c"/{json,bpe,hf_tokenizer,safetensors,dataset_cache,token_ids,jsonl,embeddings}

# --- a tiny model trained on JSONL text: weights, state, tokenizer, dataset cache, index ---
cp tests/data/sample.jsonl "$work/docs.jsonl"
(cd "$work" && "$OLDPWD/mm" train --arch mixer --dim 8 --depth 1 --ctx 8 --vocab 270 --data docs.jsonl \
    --format jsonl --steps 1 --batch 1 --save m.safetensors >/dev/null 2>&1)
(cd "$work" && "$OLDPWD/mm" index --model m.safetensors --docs docs.jsonl --out docs.index >/dev/null 2>&1)
cp "$work/m.safetensors" "$c/safetensors/mixer_tiny.safetensors"
cp "$work/m.state.safetensors" "$c/safetensors/mixer_tiny.state.safetensors"
cp tests/reference/fixtures/mixer_k1_bf16.safetensors "$c/safetensors/mixer_k1_bf16.safetensors"
cp "$work/m.tokenizer.txt" "$c/bpe/sample_jsonl.tok"
cp "$work/docs.jsonl.cache" "$c/dataset_cache/sample_jsonl.cache"
cp "$work/docs.index" "$c/embeddings/sample.index"
./mm tokenizer train --data tests/data/sample.txt --vocab 300 --out "$c/bpe/sample_txt.tok" >/dev/null 2>&1
(cd "$work" && cp "$OLDPWD/tests/data/sample_eot.txt" eot.txt && "$OLDPWD/mm" train --arch mixer --dim 4 --depth 1 \
    --ctx 4 --vocab 262 --data eot.txt --format eot --rows padded --steps 1 --batch 1 --save e.safetensors >/dev/null 2>&1)
cp "$work/eot.txt.cache" "$c/dataset_cache/sample_eot_padded.cache"
(cd "$work" && "$OLDPWD/mm" embed --model m.safetensors --input docs.jsonl --out docs.emb >/dev/null 2>&1)
cp "$work/docs.emb" "$c/embeddings/sample.emb"

# --- token ids ---
cp tests/reference/fixtures/model_tokens.txt "$c/token_ids/model_tokens.txt"
cp tests/reference/fixtures/generate_tokens.txt "$c/token_ids/generate_tokens.txt"
printf '1 2 3\n4 5 6\n' > "$c/token_ids/two_lines.txt"
printf '1 2 3\r\n4 5\n' > "$c/token_ids/ragged.txt"
printf '1 99999999999999999999\n' > "$c/token_ids/huge_id.txt"
printf '1 -2\n' > "$c/token_ids/negative.txt"

# --- text and JSONL ---
cp tests/data/sample.jsonl "$c/jsonl/sample.jsonl"
cp tests/data/sample_eot.txt "$c/jsonl/sample_eot.txt"
head -c 2000 tests/data/sample.txt > "$c/jsonl/sample_head.txt"
printf '{"text": "a", "text": "b"}\n' > "$c/jsonl/repeated_field.jsonl"
printf '{"text": "\\ud800"}\n' > "$c/jsonl/lone_surrogate.jsonl"
printf '\xef\xbb\xbf{"text": 5}\n' > "$c/jsonl/bom_number.jsonl"
printf 'caf\xc3\n\nover\xc0\xaflong\n' > "$c/jsonl/bad_utf8.txt"
printf '!\r\r' > "$c/jsonl/cr_in_document.txt"

# --- our tokenizer file, malformed ---
printf 'mmix-bpe 1\nsplit gpt2-ascii\nvocab 1073741824\nmerges 1073741000\nend\n' > "$c/bpe/huge_counts.tok"
printf 'mmix-bpe 1\nsplit gpt2-ascii\nvocab 258\nmerges 1\nmerge 256 300 97\nspecial 257 eot <|endoftext|>\nend\n' \
    > "$c/bpe/forward_reference.tok"
head -c 300 "$c/bpe/sample_txt.tok" > "$c/bpe/truncated.tok"

# --- Hugging Face tokenizer.json: our tokenizer's merges in GPT-2's byte-to-unicode spelling ---
/usr/bin/python3 - "$c/bpe/sample_txt.tok" "$c/hf_tokenizer/sample.json" <<'PY'
import json, sys
def bytes_to_unicode():   # GPT-2's table: printable bytes as themselves, the rest from U+0100
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}
u = bytes_to_unicode()
tok = {i: bytes([i]) for i in range(256)}
merges, added = [], []
for line in open(sys.argv[1], encoding="utf-8"):
    f = line.split("#")[0].split()
    if f and f[0] == "merge":
        i, a, b = map(int, f[1:4]); tok[i] = tok[a] + tok[b]
        merges.append("".join(u[x] for x in tok[a]) + " " + "".join(u[x] for x in tok[b]))
    elif f and f[0] == "special":
        added.append({"id": int(f[1]), "content": f[3], "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True})
vocab = {"".join(u[x] for x in t): i for i, t in tok.items()}
doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
       "post_processor": None, "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False, "byte_fallback": False,
                 "vocab": vocab, "merges": merges}}
json.dump(doc, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
printf '{"added_tokens": [{"id": 9, "content": "<|endoftext|>", "special": true}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["\\u0120 t", "h e", "\xc4\xa0t he", ["\xc4\x8a", "\xc4\x8a"]]}}' \
    > "$c/hf_tokenizer/hand.json"
printf '{"model": {"type": "BPE", "merges": ["a b", "a b"]}}' > "$c/hf_tokenizer/duplicate.json"
printf '{"model": {"type": "BPE", "merges": ["ab c"]}}' > "$c/hf_tokenizer/unknown_token.json"
printf '{"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]}' > "$c/hf_tokenizer/deep.json"

# --- safetensors, malformed ---
st() { /usr/bin/python3 -c 'import struct,sys; h=sys.argv[2].encode(); d=bytes.fromhex(sys.argv[3]); open(sys.argv[1],"wb").write(struct.pack("<Q",len(h))+h+d)' "$@"; }
st "$c/safetensors/overlap.safetensors" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' 0000803f0000803f
st "$c/safetensors/past_end.safetensors" '{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}' 0000
st "$c/safetensors/zero_dims.safetensors" '{"__metadata__":{"mmix_arch":"mixer"},"wte.weight":{"dtype":"F32","shape":[1000000000,0],"data_offsets":[0,0]},"lm_head.weight":{"dtype":"F32","shape":[1000000000,0],"data_offsets":[0,0]}}' ''
printf '\xff\xff\xff\xff\xff\xff\xff\x7f{}' > "$c/safetensors/huge_header_length.safetensors"
# a tiny transformer, and its metadata numbers made ones no integer or float can hold
(cd "$work" && "$OLDPWD/mm" train --arch llama --vocab 37 --dim 4 --depth 1 --ctx 8 --heads 1 \
    --tokens "$OLDPWD/tests/reference/fixtures/model_tokens.txt" --steps 1 --batch 1 --save l.safetensors >/dev/null 2>&1)
cp "$work/l.safetensors" "$c/safetensors/llama_tiny.safetensors"
/usr/bin/python3 - "$work/l.safetensors" "$c/safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
for name, key, value in [("meta_nctx_1e300", "n_ctx", "1e300"), ("meta_heads_nan", "num_attention_heads", "nan"),
                         ("meta_pad_1e12", "pad_token_id", "1e12")]:
    h = json.loads(b[8:8 + n])
    h["__metadata__"][key] = value
    t = json.dumps(h, separators=(",", ":")).encode()
    t += b" " * (-len(t) % 8)
    open("%s/%s.safetensors" % (sys.argv[2], name), "wb").write(struct.pack("<Q", len(t)) + t + b[8 + n:])
PY

# --- dataset cache, malformed: the valid one cut short, and with a flipped id ---
head -c 200 "$c/dataset_cache/sample_jsonl.cache" > "$c/dataset_cache/truncated.cache"

# --- embeddings, malformed ---
head -c 100 "$c/embeddings/sample.index" > "$c/embeddings/truncated.index"
/usr/bin/python3 -c "import sys; b = bytearray(open(sys.argv[1], 'rb').read()); b[71] = 16; open(sys.argv[2], 'wb').write(b)" \
    "$c/embeddings/sample.index" "$c/embeddings/reserved_not_zero.index"

# --- JSON ---
printf '{"a":[1,2.5e-3,-0,true,false,null],"b":{"c":"\\u00e9\\ud83d\\ude00\\n"}}' > "$c/json/object.json"
printf '"caf\xc3\xa9 \\"q\\" \\\\ \\/ \\b\\f\\r\\t"' > "$c/json/string.json"
printf '18446744073709551615' > "$c/json/uint_max.json"
printf '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' > "$c/json/deep.json"
printf '{"a":1,}' > "$c/json/trailing_comma.json"
printf '"\\ud800"' > "$c/json/lone_surrogate.json"
printf '"\xc0\xaf"' > "$c/json/overlong.json"
printf '012' > "$c/json/leading_zero.json"
du -sh "$c"
