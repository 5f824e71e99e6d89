#!/usr/bin/env python3
"""tests/weights_diff.py A.safetensors B.safetensors: the largest difference between two weights
files of the same tensors, relative to the largest magnitude, as one number on stdout; exits 2
when the names, dtypes or shapes differ. Standard library only (CI has no numpy)."""
import json
import struct
import sys


def tensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        if t["dtype"] != "F32":
            sys.exit("%s: %s is %s, not F32" % (path, name, t["dtype"]))
        out[name] = (tuple(t["shape"]), struct.unpack("<%df" % ((b - a) // 4), data[base + a:base + b]))
    return out


a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
if sorted(a) != sorted(b) or any(a[k][0] != b[k][0] for k in a):
    print("the files hold different tensors", file=sys.stderr)
    sys.exit(2)
worst = max(abs(x - y) for k in a for x, y in zip(a[k][1], b[k][1]))
scale = max(abs(x) for k in a for x in a[k][1]) or 1.0
print("%.3g" % (worst / scale))
