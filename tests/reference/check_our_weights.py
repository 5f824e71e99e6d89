#!/usr/bin/python3
"""Loads weights files written by `mm train` into the reference PyTorch models with a strict
load_state_dict and prints the causal-LM loss PyTorch computes on a token file, to compare
with `mm forward` on the same file (run by `make check-torch-load`; needs python3-torch).

    /usr/bin/python3 tests/reference/check_our_weights.py W.safetensors TOKENS.txt PAD [HEADS]
"""
import json
import struct
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from make_fixtures import RefGPT1, RefLlama, RefMixer, RefTransfixer, clm_loss  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        data = blob[8 + n + b:8 + n + end]
        tensors[name] = torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(e["shape"])
    return tensors, meta


def main():
    path, tokens_path, pad = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sd, meta = read_safetensors(path)
    heads = int(meta.get("num_attention_heads", sys.argv[4] if len(sys.argv) > 4 else 0))
    if "transformer.tokens_embed.weight" in sd:                  # GPT-1: the tied head is not in the file,
        V, D = sd["transformer.tokens_embed.weight"].shape       # HF's tie_weights restores it
        depth = len([k for k in sd if k.endswith("attn.c_attn.weight")])
        model = RefGPT1(V, D, depth, heads, sd["transformer.positions_embed.weight"].shape[0]).eval()
        sd["lm_head.weight"] = sd["transformer.tokens_embed.weight"]
    elif "model.layers.0.mixer_layer.conv.weight" in sd:
        V, D = sd["model.embed_tokens.weight"].shape
        depth = len([k for k in sd if k.endswith("q_proj.weight")])
        model = RefTransfixer(V, D, depth, heads, sd["model.layers.0.mixer_layer.conv.weight"].shape[0])
    elif "wte.weight" in sd:
        V, D = sd["wte.weight"].shape
        depth = len([k for k in sd if k.endswith(".conv.weight")])
        L, _, k = sd["mixerblocks.0.conv.weight"].shape
        model = RefMixer(V, D, depth, L, k)
    else:
        V, D = sd["model.embed_tokens.weight"].shape
        depth = len([k for k in sd if k.endswith("q_proj.weight")])
        model = RefLlama(V, D, depth, heads)
    model.load_state_dict(sd, strict=True)
    tokens = torch.tensor([[int(t) for t in line.split()] for line in open(tokens_path) if line.strip()])
    with torch.no_grad():
        print("loss %.9g" % clm_loss(model(tokens), tokens, pad).item())


if __name__ == "__main__":
    main()
