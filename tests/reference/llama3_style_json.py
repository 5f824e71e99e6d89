#!/usr/bin/env python3
"""Turns a GPT-2 tokenizer.json (from gpt2_tokenizer_json.py) into a Llama-3-style one, the
layout of the paper's FineWeb tokenizer (SPEC 10.2): Llama-3's pre-tokenizer (a Split with
its regex, then ByteLevel without one), ignore_merges, and special tokens at the lowest ids
(<|begin_of_text|> 0, <|end_of_text|> 1, two reserved ones), the vocabulary's ids moved up.

  python3 tests/reference/llama3_style_json.py GPT2_JSON OUT_JSON"""
import json
import sys

src, out = sys.argv[1:]
with open(src, encoding="utf-8") as f:
    tok = json.load(f)
specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>"]
vocab = {k: v + len(specials) for k, v in tok["model"]["vocab"].items() if k != "<|endoftext|>"}
llama3 = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
          "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
tok["added_tokens"] = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                        "normalized": False, "special": True} for i, c in enumerate(specials)]
tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": llama3}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
tok["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
tok["model"]["vocab"] = vocab
tok["model"]["ignore_merges"] = True
with open(out, "w", encoding="utf-8") as f:
    json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))
print("%s: %d vocabulary entries, %d added tokens" % (out, len(vocab), len(specials)))
