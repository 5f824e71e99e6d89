#!/usr/bin/python3
"""Compares two fixture folders written by make_fixtures.py: the committed one and a fresh
regeneration (make check-fixtures). PyTorch's float results change in the last bits from
one CPU to another (other SIMD kernels, other summation orders), so a regeneration on
another machine is not byte-identical. What must hold is what the tests rely on:

- the same files, tensor names, dtypes, shapes, settings text, metadata and integers,
  exactly (token ids, greedy generations, the safetensors headers);
- every float tensor within the tolerance the tests hold our results to for it (the
  TOLERANCES table below, from tests/test_fixtures.c and tests/test_models.c);
  half-precision safetensors data within one unit in the last place of its format (a
  last-bit change of the float32 value can flip the rounding);
- every number in a text file within 1e-5 relative (tests/test_cli_models.sh).

Prints each file's worst difference, as a fraction of its tolerance and as the difference
itself, and the worst overall; exits 1 on any difference beyond
these. Needs only the Python standard library.

    /usr/bin/python3 tests/reference/compare_fixtures.py COMMITTED_DIR FRESH_DIR
"""
import json
import os
import re
import struct
import sys

FLOAT_TOLERANCE = 1e-5
# (name pattern, "abs" or "rel", tolerance): the first pattern that matches a tensor's name
# applies. "rel" is relative to the tensor's largest magnitude, the tests' rule for outputs
# and gradients; "abs" is the tests' rule for parameters after optimizer steps.
TOLERANCES = [
    (r"/after/", "abs", 1e-5),                        # test_models.c: weights after 3 AdamW steps
    (r"^masked_\w+/step\d+/(W|bias)$", "abs", 1e-5),  # test_fixtures.c: masked_training_case
    (r"^masked_\w+/step\d+/norm$", "rel", 1e-5),      # test_fixtures.c: its clip norms
    (r"/step\d+/param/", "abs", 1e-5),                 # test_fixtures.c: adamw_case parameters
    (r"/step\d+/norm$", "rel", 1e-6),                  # test_fixtures.c: adamw_case gradient norms
    (r"/step\d+/lr$", "abs", 1e-9),                    # test_fixtures.c: scheduled learning rates
    # test_models.c parity_with: gradients that cancel by structure (reference-notes Sec. 13, 14),
    # rounding noise of the flow through them: 1e-5 of a case's gradient scale (about 0.1)
    (r"^mixer_(ae|par)/grad/encoderblocks\.\d+\.conv\.bias$", "abs", 1e-6),
    (r"^llama_ae_h4/grad/decoder\..*\.[qk]_proj\.weight$", "abs", 1e-6),
    (r"^\w+_ret/grad/", "rel", 1e-4),                  # test_retrieval.c: InfoNCE gradients (cos / 0.02)
    # test_retrieval_model.c parity: the head's bias and the last block's patch_ff.2.bias shift every
    # score alike (reference-notes Sec. 19), rounding noise: 1e-5 of the case's gradient scale (about 1)
    (r"^retrieval/grad/(retrieval_head|mixerblocks\.1\.patch_ff\.2)\.bias$", "abs", 1e-5),
    (r"", "rel", FLOAT_TOLERANCE),                     # every op output, gradient, logit and loss
]
HALF_TOLERANCE = {"F32": FLOAT_TOLERANCE, "BF16": 2.0 ** -7, "F16": 2.0 ** -10}


class Mismatch(Exception):
    pass


def abs_err(ours, ref):
    """Largest |ours - ref| (NaN propagates)."""
    if len(ours) != len(ref):
        raise Mismatch("%d values vs %d" % (len(ours), len(ref)))
    worst = 0.0
    for a, b in zip(ours, ref):
        e = abs(a - b)
        if not e <= worst:
            worst = e
    return worst


def rel_err(ours, ref):
    """Largest |ours - ref| over the largest |ref| (1 when all are zero): the tests' rule."""
    return abs_err(ours, ref) / (max((abs(x) for x in ref), default=0.0) or 1.0)


def tensor_error(name, ours, ref):
    """(difference, kind, tolerance) under the first TOLERANCES rule matching name."""
    for pattern, kind, tolerance in TOLERANCES:
        if re.search(pattern, name):
            return (abs_err if kind == "abs" else rel_err)(ours, ref), kind, tolerance
    raise AssertionError("the last rule matches every name")


def read_mmixfix(path):
    blob = open(path, "rb").read()
    pos = 0

    def take(n):
        nonlocal pos
        if n > len(blob) - pos:
            raise Mismatch("truncated")
        chunk = blob[pos:pos + n]
        pos += n
        return chunk

    if take(8) != b"MMIXFIX\0":
        raise Mismatch("bad magic")
    (version,) = struct.unpack("<I", take(4))
    (n,) = struct.unpack("<I", take(4))
    settings = take(n).decode("utf-8")
    (count,) = struct.unpack("<I", take(4))
    tensors = []
    for _ in range(count):
        (n,) = struct.unpack("<I", take(4))
        name = take(n).decode("utf-8")
        dtype, ndim = struct.unpack("<II", take(8))
        dims = struct.unpack("<%dq" % ndim, take(8 * ndim))
        size = 1
        for d in dims:
            size *= d
        values = struct.unpack("<%d%s" % (size, "i" if dtype == 1 else "f"), take(4 * size))
        tensors.append((name, dtype, dims, values))
    if pos != len(blob):
        raise Mismatch("%d trailing bytes" % (len(blob) - pos))
    return version, settings, tensors


def compare_mmixfix(ref_path, new_path):
    """Returns (worst relative difference, where)."""
    rv, rs, rt = read_mmixfix(ref_path)
    nv, ns, nt = read_mmixfix(new_path)
    if rv != nv:
        raise Mismatch("version %d vs %d" % (rv, nv))
    if rs != ns:
        raise Mismatch("settings text differs:\n%s\nvs\n%s" % (rs, ns))
    if [(n, d, s) for n, d, s, _ in rt] != [(n, d, s) for n, d, s, _ in nt]:
        raise Mismatch("tensor names, dtypes or shapes differ")
    worst, where = 0.0, ""
    for (name, dtype, _, ref), (_, _, _, new) in zip(rt, nt):
        if dtype == 1:
            if ref != new:
                raise Mismatch("%s: integers differ" % name)
            continue
        e, kind, tolerance = tensor_error(name, new, ref)
        if e > tolerance or e != e:
            raise Mismatch("%s: %s difference %.3g > %g" % (name, kind, e, tolerance))
        if e / tolerance > worst:
            worst, where = e / tolerance, "%s: %s difference %.3g" % (name, kind, e)
    return worst, where


def bf16_to_float(raw):
    return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in struct.unpack("<%dH" % (len(raw) // 2), raw)]


def read_safetensors(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    values = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        raw = data[lo:hi]
        if info["dtype"] == "F32":
            values[name] = struct.unpack("<%df" % (len(raw) // 4), raw)
        elif info["dtype"] == "BF16":
            values[name] = bf16_to_float(raw)
        elif info["dtype"] == "F16":
            values[name] = struct.unpack("<%de" % (len(raw) // 2), raw)
        else:
            raise Mismatch("%s: dtype %s is not compared here" % (name, info["dtype"]))
    return header, values


def compare_safetensors(ref_path, new_path):
    rh, rv = read_safetensors(ref_path)
    nh, nv = read_safetensors(new_path)
    if rh != nh:
        raise Mismatch("headers differ (names, dtypes, shapes, offsets or metadata)")
    worst, where = 0.0, ""
    for name, ref in rv.items():
        tolerance = HALF_TOLERANCE[rh[name]["dtype"]]
        e = rel_err(nv[name], ref)
        if e > tolerance or e != e:
            raise Mismatch("%s: relative difference %.3g > %g" % (name, e, tolerance))
        if e / tolerance > worst:
            worst, where = e / tolerance, "%s: rel difference %.3g" % (name, e)
    return worst, where


def number(word):
    try:
        return int(word)
    except ValueError:
        pass
    try:
        return float(word)
    except ValueError:
        return None


def compare_text(ref_path, new_path):
    ref_lines = open(ref_path, encoding="utf-8").read().splitlines()
    new_lines = open(new_path, encoding="utf-8").read().splitlines()
    if len(ref_lines) != len(new_lines):
        raise Mismatch("%d lines vs %d" % (len(ref_lines), len(new_lines)))
    worst, where = 0.0, ""
    for line_no, (a, b) in enumerate(zip(ref_lines, new_lines), 1):
        wa, wb = a.split(), b.split()
        if a.startswith("#") or len(wa) != len(wb):
            if a != b:
                raise Mismatch("line %d differs" % line_no)
            continue
        for x, y in zip(wa, wb):
            nx, ny = number(x), number(y)
            if isinstance(nx, float) and isinstance(ny, float):
                e = abs(nx - ny) / (abs(nx) or 1.0)
                if e > FLOAT_TOLERANCE or e != e:
                    raise Mismatch("line %d: %s vs %s, relative difference %.3g" % (line_no, x, y, e))
                if e / FLOAT_TOLERANCE > worst:
                    worst, where = e / FLOAT_TOLERANCE, "line %d, %s: rel difference %.3g" % (line_no, wa[0], e)
            elif x != y:
                raise Mismatch("line %d: %s vs %s" % (line_no, x, y))
    return worst, where


def main(ref_dir, new_dir):
    ref_files, new_files = sorted(os.listdir(ref_dir)), sorted(os.listdir(new_dir))
    failed = 0
    if ref_files != new_files:
        print("the file lists differ: %s vs %s" % (ref_files, new_files))
        failed += 1
    overall, overall_where = 0.0, ""
    for name in sorted(set(ref_files) & set(new_files)):
        ref_path, new_path = os.path.join(ref_dir, name), os.path.join(new_dir, name)
        identical = open(ref_path, "rb").read() == open(new_path, "rb").read()
        try:
            if name.endswith(".bin"):
                worst, where = compare_mmixfix(ref_path, new_path)
            elif name.endswith(".safetensors"):
                worst, where = compare_safetensors(ref_path, new_path)
            else:
                worst, where = compare_text(ref_path, new_path)
        except (Mismatch, ValueError, KeyError, struct.error) as e:
            print("%-28s DIFFERS: %s" % (name, e))
            failed += 1
            continue
        print("%-28s %s" % (name, "byte-identical" if identical else
                            "within tolerance; worst %.3g of its tolerance (%s)" % (worst, where)))
        if worst > overall:
            overall, overall_where = worst, "%s: %s" % (name, where)
    if failed:
        print("%d fixture file(s) differ beyond the tests' tolerances" % failed)
        return 1
    print("fixtures reproduce within the tests' tolerances; the worst difference is %.3g of its tolerance%s"
          % (overall, " (%s)" % overall_where if overall_where else ""))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: compare_fixtures.py COMMITTED_DIR FRESH_DIR")
    sys.exit(main(sys.argv[1], sys.argv[2]))
