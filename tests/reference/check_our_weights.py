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
from make_fixtures import RefHeadsMixer, RefLlama, RefMixer, RefSoftmaxMixer, clm_loss  # noqa: E402


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
    V, D = (sd["wte.weight"] if "wte.weight" in sd else sd["model.embed_tokens.weight"]).shape
    if "wte.weight" in sd and meta.get("mmix_arch") == "mixer-heads":
        depth = len([k for k in sd if k.endswith(".seq_layernorm.weight")])
        H = len([k for k in sd if k.startswith("mixerblocks.0.conv.proj_head.") and k.endswith(".weight")])
        model = RefHeadsMixer(V, D, depth, sd["mixerblocks.0.conv.convs.0.weight"].shape[0], H)
    elif "wte.weight" in sd:
        depth = len([k for k in sd if k.endswith(".conv.weight")])
        L, _, k = sd["mixerblocks.0.conv.weight"].shape
        model = (RefSoftmaxMixer if meta.get("mmix_arch") == "mixer-softmax" else RefMixer)(V, D, depth, L, k)
    else:
        depth = len([k for k in sd if k.endswith("q_proj.weight")])
        model = RefLlama(V, D, depth, int(meta.get("num_attention_heads", sys.argv[4] if len(sys.argv) > 4 else 0)))
    model.load_state_dict(sd, strict=True)
    tokens = torch.tensor([[int(t) for t in line.split()] for line in open(tokens_path) if line.strip()])
    with torch.no_grad():
        print("loss %.9g" % clm_loss(model(tokens), tokens, pad).item())


if __name__ == "__main__":
    main()
