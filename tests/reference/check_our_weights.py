#!/usr/bin/python3
"""Loads weights files written by `mm train` into the reference PyTorch models with a strict
load_state_dict and prints the loss of the model's objective PyTorch computes on a token file,
to compare with `mm forward` on the same file (run by `make check-torch-load`; needs
python3-torch). The transformer encoder-decoders load with strict=False: our files leave out
the reference's six unused inner tensors (reference-notes Sec. 13), and only those may be
missing.

    /usr/bin/python3 tests/reference/check_our_weights.py W.safetensors TOKENS.txt PAD [HEADS]
"""
import json
import struct
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from make_fixtures import (RefGPT1, RefHeadsMixer, RefLlama, RefLlamaEncoderDecoder, RefMixer, RefMixerEncoderDecoder,  # noqa: E402
                           RefSoftmaxMixer, RefTransfixer, clm_loss, reconstruct_objective, repeat_last, second_half_objective,
                           zero_second_half)

# the encoder-decoders: mmix_arch -> (the middle step, the objective)
ENCODER_DECODERS = {
    "mixer-ae": (repeat_last, reconstruct_objective), "llama-ae": (repeat_last, reconstruct_objective),
    "mixer-parallel": (zero_second_half, second_half_objective),
    "llama-parallel": (zero_second_half, second_half_objective),
}
UNUSED = {"%s.%s" % (s, n) for s in ("encoder", "decoder")
          for n in ("model.model.embed_tokens.weight", "model.model.norm.weight", "model.lm_head.weight")}


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
    tokens = torch.tensor([[int(t) for t in line.split()] for line in open(tokens_path) if line.strip()])
    arch = meta.get("mmix_arch", "")
    if arch in ENCODER_DECODERS:
        middle, objective = ENCODER_DECODERS[arch]
        V, D = sd["wte.weight"].shape
        if arch.startswith("mixer"):
            depth = len([k for k in sd if k.startswith("encoderblocks.") and k.endswith(".conv.weight")])
            L, _, k = sd["encoderblocks.0.conv.weight"].shape
            model = RefMixerEncoderDecoder(V, D, depth, L, middle, k)
            model.load_state_dict(sd, strict=True)
        else:
            depth = len([k for k in sd if k.startswith("encoder.") and k.endswith("q_proj.weight")])
            model = RefLlamaEncoderDecoder(V, D, depth, heads, middle, V)
            missing, unexpected = model.load_state_dict(sd, strict=False)
            assert set(missing) == UNUSED and not unexpected, (missing, unexpected)
        with torch.no_grad():
            print("loss %.9g" % objective(model, tokens, pad)[0].item())
        return
    if "transformer.tokens_embed.weight" in sd:                  # GPT-1: the tied head is not in the file,
        V, D = sd["transformer.tokens_embed.weight"].shape       # HF's tie_weights restores it
        depth = len([k for k in sd if k.endswith("attn.c_attn.weight")])
        model = RefGPT1(V, D, depth, heads, sd["transformer.positions_embed.weight"].shape[0]).eval()
        sd["lm_head.weight"] = sd["transformer.tokens_embed.weight"]
    elif "model.layers.0.mixer_layer.conv.weight" in sd:
        V, D = sd["model.embed_tokens.weight"].shape
        depth = len([k for k in sd if k.endswith("q_proj.weight")])
        model = RefTransfixer(V, D, depth, heads, sd["model.layers.0.mixer_layer.conv.weight"].shape[0])
    elif "wte.weight" in sd and arch == "mixer-heads":
        V, D = sd["wte.weight"].shape
        depth = len([k for k in sd if k.endswith(".seq_layernorm.weight")])
        H = len([k for k in sd if k.startswith("mixerblocks.0.conv.proj_head.") and k.endswith(".weight")])
        model = RefHeadsMixer(V, D, depth, sd["mixerblocks.0.conv.convs.0.weight"].shape[0], H)
    elif "wte.weight" in sd:
        V, D = sd["wte.weight"].shape
        depth = len([k for k in sd if k.endswith(".conv.weight")])
        L, _, k = sd["mixerblocks.0.conv.weight"].shape
        model = (RefSoftmaxMixer if meta.get("mmix_arch") == "mixer-softmax" else RefMixer)(V, D, depth, L, k)
    else:
        V, D = sd["model.embed_tokens.weight"].shape
        depth = len([k for k in sd if k.endswith("q_proj.weight")])
        model = RefLlama(V, D, depth, heads)
    model.load_state_dict(sd, strict=True)
    with torch.no_grad():
        print("loss %.9g" % clm_loss(model(tokens), tokens, pad).item())


if __name__ == "__main__":
    main()
